export { createMfaService, type MfaService, type PasswordCheck } from './service';
export { totpCode, stepAt, matchStep, MFA_CODE_PATTERN, TOTP_PERIOD_SECONDS, TOTP_ISSUER } from './totp';
export type { MfaEnrollment, MfaServiceDeps, MfaUse, VerifyAndConsumeInput } from './types';
export { MFA_AUDIT } from './types';
