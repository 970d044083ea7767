/**
 * Every error the API can answer with, each with its HTTP status and machine
 * code (CONTRACT.md, "Errors"). Mapped to a response in one middleware
 * (api/http/errors.ts). Messages are part of the API: tests pin them.
 */
export type ErrorCode =
  | 'invalid_request'
  | 'invalid_json'
  | 'unauthenticated'
  | 'invalid_credentials'
  | 'wrong_principal'
  | 'mfa_not_enrolled'
  | 'mfa_invalid'
  | 'mfa_code_used'
  | 'password_invalid'
  | 'policy_denied'
  | 'not_found'
  | 'method_not_allowed'
  | 'invalid_state'
  | 'username_taken'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'idempotency_key_reused'
  | 'rate_limited'
  | 'mfa_locked'
  | 'unavailable'
  | 'internal';

export type InvalidStateReason =
  | 'not_approved'
  | 'already_decided'
  | 'expired'
  | 'stale_digest'
  | 'signing_started'
  | 'execution_window_passed';

const STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  invalid_json: 400,
  unauthenticated: 401,
  invalid_credentials: 401,
  wrong_principal: 403,
  mfa_not_enrolled: 403,
  mfa_invalid: 403,
  mfa_code_used: 403,
  password_invalid: 403,
  policy_denied: 403,
  not_found: 404,
  method_not_allowed: 405,
  invalid_state: 409,
  username_taken: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_key_reused: 422,
  rate_limited: 429,
  mfa_locked: 429,
  unavailable: 503,
  internal: 500,
};

export interface AppErrorOptions {
  /** Extra fields for the body, e.g. `details` for 400 or `reason` for 409. */
  extra?: Record<string, unknown>;
  /** Response headers, e.g. Retry-After or Allow. */
  headers?: Record<string, string>;
  cause?: unknown;
}

export class AppError extends Error {
  override name = 'AppError';
  readonly status: number;
  readonly extra: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: AppErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = STATUS[code];
    this.extra = options.extra;
    this.headers = options.headers;
  }
}

export const notFound = (what = 'resource') => new AppError('not_found', `${what} not found`);

export const invalidState = (reason: InvalidStateReason, message: string) =>
  new AppError('invalid_state', message, { extra: { reason } });

export const invalidRequest = (message: string, details?: unknown) =>
  new AppError('invalid_request', message, details === undefined ? {} : { extra: { details } });

export const unavailable = (message = 'a dependency is unavailable, try again shortly', retryAfterSeconds = 5) =>
  new AppError('unavailable', message, { headers: { 'Retry-After': String(retryAfterSeconds) } });
