/**
 * Webhook signatures (docs/http-contract.md): `X-Countersign-Signature: t=<unix>,v1=<hex
 * HMAC-SHA256(secret, t + "." + raw body)>`. The HMAC key is the secret
 * exactly as shown at creation (its UTF-8 bytes, `whsec_` prefix included).
 * The timestamp lets a receiver refuse replays older than its tolerance.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Countersign-Signature';
export const DELIVERY_HEADER = 'X-Countersign-Delivery';
export const EVENT_HEADER = 'X-Countersign-Event';
export const SECRET_PREFIX = 'whsec_';
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** 32 random bytes, base64url, with a recognisable prefix (secret scanners, humans). Shown once. */
export function generateWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
}

const keyOf = (secret: string | Buffer) => (typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret);

export function computeSignature(secret: string | Buffer, timestamp: number, rawBody: string | Buffer): string {
  return createHmac('sha256', keyOf(secret)).update(`${timestamp}.`).update(rawBody).digest('hex');
}

export function signatureHeader(secret: string | Buffer, timestamp: number, rawBody: string | Buffer): string {
  return `t=${timestamp},v1=${computeSignature(secret, timestamp, rawBody)}`;
}

/**
 * For receivers and tests: true when `header` carries a `v1` HMAC of
 * `t + "." + rawBody` under `secret` and `t` is within `toleranceSeconds` of
 * now. Compares in constant time; several `v1` values are allowed (any match).
 * Pass the body exactly as received — re-serialised JSON will not match.
 */
export function verifyWebhookSignature(
  secret: string | Buffer,
  header: string | undefined | null,
  rawBody: string | Buffer,
  toleranceSeconds: number = DEFAULT_TOLERANCE_SECONDS,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): boolean {
  if (!header || header.length > 1024) return false;
  let timestamp: number | undefined;
  const candidates: Buffer[] = [];
  for (const part of header.split(',')) {
    const [key, value, ...rest] = part.trim().split('=');
    if (rest.length > 0 || key === undefined || value === undefined) return false;
    if (key === 't') {
      if (timestamp !== undefined || !/^[0-9]{1,12}$/.test(value)) return false;
      timestamp = Number(value);
    } else if (key === 'v1' && /^[0-9a-f]{64}$/.test(value)) {
      candidates.push(Buffer.from(value, 'hex'));
    }
  }
  if (timestamp === undefined || candidates.length === 0) return false;
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(computeSignature(secret, timestamp, rawBody), 'hex');
  let match = false;
  for (const candidate of candidates) match = timingSafeEqual(candidate, expected) || match;
  return match;
}
