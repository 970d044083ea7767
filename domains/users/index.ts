export { createUserService, type UserService } from './service';
export { createAuthenticator, type AuthenticatorDeps } from './authenticator';
export { createTokenService, JWT_ALGORITHM, type TokenService, type IssuedToken, type VerifiedToken } from './tokens';
export { createPasswordHasher, createSemaphore, ARGON2_POLICY, type PasswordHasher } from './password';
export { USERNAME_PATTERN, PASSWORD_MIN, PASSWORD_MAX, normalizeUsername, passwordProblem, codePointLength } from './policy';
export { USER_AUDIT } from './types';
export { createSessionService, type SessionService, type SessionView, type OtherSessionsRevoker, type RevokeReason } from './sessions';
export { throttleSource } from './throttle';
export type { MfaGate } from './service';
