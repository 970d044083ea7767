/**
 * TOTP (RFC 6238) through otplib 13: SHA-1, 6 digits, 30-second steps — what
 * every authenticator app speaks. otplib takes `epoch` and `epochTolerance`
 * in SECONDS; `[30, 0]` means the current step and the one before, never a
 * future one.
 */
import { generate, generateSecret, generateURI, verify } from 'otplib';

export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** 20 bytes = 160 bits (RFC 4226's recommended secret length). */
export const TOTP_SECRET_BYTES = 20;
export const TOTP_ISSUER = 'Countersign';
/** Current step and the previous one: a code typed just before the step turned still works. */
export const TOTP_TOLERANCE: [number, number] = [TOTP_PERIOD_SECONDS, 0];
export const MFA_CODE_PATTERN = /^[0-9]{6}$/;

export const newTotpSecret = () => generateSecret({ length: TOTP_SECRET_BYTES });

export const totpUri = (username: string, secret: string) =>
  generateURI({ issuer: TOTP_ISSUER, label: username, secret, period: TOTP_PERIOD_SECONDS, digits: TOTP_DIGITS });

export const stepAt = (epochSeconds: number) => Math.floor(epochSeconds / TOTP_PERIOD_SECONDS);

/** The code for the step containing `epochSeconds` (tests and the CLI). */
export const totpCode = (secret: string, epochSeconds: number) => generate({ secret, epoch: epochSeconds, period: TOTP_PERIOD_SECONDS, digits: TOTP_DIGITS });

/**
 * The time step `code` belongs to (current or previous only), skipping steps
 * at or below `afterStep`; undefined when it matches none.
 */
export async function matchStep(secret: string, code: string, epochSeconds: number, afterStep?: number): Promise<number | undefined> {
  if (!MFA_CODE_PATTERN.test(code)) return undefined;
  const current = stepAt(epochSeconds);
  // otplib refuses an afterTimeStep beyond the window; then every candidate is used anyway.
  if (afterStep !== undefined && afterStep >= current) return undefined;
  const result = await verify({
    secret,
    token: code,
    epoch: epochSeconds,
    epochTolerance: TOTP_TOLERANCE,
    period: TOTP_PERIOD_SECONDS,
    digits: TOTP_DIGITS,
    ...(afterStep !== undefined && afterStep >= 0 ? { afterTimeStep: afterStep } : {}),
  });
  return result.valid && 'timeStep' in result ? result.timeStep : undefined;
}
