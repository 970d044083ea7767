/**
 * Every error the API can answer with, each with its HTTP status and machine
 * code (docs/http-contract.md, "Errors"), and the one-sentence `hint` that tells an
 * agent what to do next. Mapped to a response in one middleware
 * (api/http/errors.ts). Messages and hints are part of the API: tests pin them.
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
  | 'simulation_failed'
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

/** Why prepare_transaction refused a request that cannot succeed (422 simulation_failed). */
export type SimulationFailureReason = 'would_revert' | 'insufficient_funds' | 'not_a_token';

export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = {
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
  simulation_failed: 422,
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
  /**
   * What the error is about — what was not found (`wallet`, `transaction`, `session`), which
   * check a cookie write failed (`csrf_token`, `cross_site`): picks the hint; never in the body,
   * which must not differ (an unknown and a foreign id look the same).
   */
  subject?: string;
  cause?: unknown;
}

export class AppError extends Error {
  override name = 'AppError';
  readonly status: number;
  readonly extra: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;
  readonly subject: string | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: AppErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = ERROR_STATUS[code];
    this.extra = options.extra;
    this.headers = options.headers;
    this.subject = options.subject;
  }

  /** One sentence: what the caller should do next (see errorHint). */
  get hint(): string {
    const reason = typeof this.extra?.reason === 'string' ? this.extra.reason : undefined;
    return errorHint(this.code, { reason, subject: this.subject, retryAfter: this.headers?.['Retry-After'] });
  }
}

export const notFound = (what = 'resource') => new AppError('not_found', `${what} not found`, { subject: what });

export const invalidState = (reason: InvalidStateReason, message: string) =>
  new AppError('invalid_state', message, { extra: { reason } });

export const invalidRequest = (message: string, details?: unknown) =>
  new AppError('invalid_request', message, details === undefined ? {} : { extra: { details } });

export const unavailable = (message = 'a dependency is unavailable, try again shortly', retryAfterSeconds = 5) =>
  new AppError('unavailable', message, { headers: { 'Retry-After': String(retryAfterSeconds) } });

export const simulationFailed = (reason: SimulationFailureReason, message: string, extra: Record<string, unknown> = {}) =>
  new AppError('simulation_failed', message, { extra: { reason, ...extra } });

// ---- hints ----

/**
 * What to do next, for a program (an agent, an LLM) reading the error: one
 * sentence, by code and, where the code alone is ambiguous, by reason or by
 * what was not found. Retry-After, when the answer carries one, is spelled out.
 */
const HINTS: Record<ErrorCode, string> = {
  invalid_request: 'Fix the fields named in details and send the request again.',
  invalid_json: 'Send a well-formed JSON body with Content-Type: application/json.',
  unauthenticated: 'Send your credential in a header: an agent its API key in X-API-Key (or Authorization: Bearer cs_…), a person the token from POST /api/login.',
  invalid_credentials: 'Check the username and password and log in again.',
  wrong_principal: 'Call this route with the other kind of credential: agents use their API key, people use the token from POST /api/login.',
  mfa_not_enrolled: 'Set up an authenticator first with POST /api/setup_mfa and POST /api/confirm_mfa.',
  mfa_invalid: 'Send the current 6-digit code from the authenticator app.',
  mfa_code_used: 'Wait for the next 30-second code and send that one.',
  password_invalid: "Send the account's current password, or, when choosing a new one, a password that is not a common one.",
  policy_denied: "Change the request to fit the owner's rules named in details (GET /api/wallets/{address}/policy lists those that apply to you) or ask the owner to change them; nothing was stored and the owner was not asked.",
  not_found: 'Check the id or address: it does not exist or is not yours, and both look the same.',
  method_not_allowed: 'Use one of the methods listed in the Allow header.',
  invalid_state: 'Read the current status with GET /api/transaction_status and act on that.',
  username_taken: 'Choose another username.',
  payload_too_large: 'Send a smaller request body (at most 64 KiB).',
  unsupported_media_type: 'Send the body as JSON with Content-Type: application/json.',
  idempotency_key_reused: 'Resend the original body unchanged to get the first answer, or use a new idempotency key for a different request.',
  simulation_failed: 'Change the request so that it can succeed, or send allow_simulation_failure: true to put it in front of the owner anyway.',
  rate_limited: 'Slow down and try again after the number of seconds in the Retry-After header.',
  mfa_locked: 'Too many wrong codes: wait for the number of seconds in the Retry-After header before trying again.',
  unavailable: 'Try again after the number of seconds in the Retry-After header; repeat a prepare with the same idempotency key.',
  internal: 'Try again later; if it keeps failing, give the operator the X-Request-Id header of this answer.',
};

const REASON_HINTS: Partial<Record<InvalidStateReason | SimulationFailureReason, string>> = {
  not_approved: 'Wait for the owner to approve it (GET /api/transaction_status?wait=60 answers when the status changes), then execute it.',
  already_decided: 'It was already decided: read its status, and propose a new transaction if you still need one.',
  expired: 'It expired before it was approved or executed: propose it again with POST /api/prepare_transaction.',
  stale_digest: 'Review the request again (GET /api/transactions/{id}) and approve the digest it shows now.',
  signing_started: 'Signing has started and cannot be undone: wait for the final status with GET /api/transaction_status?wait=60.',
  execution_window_passed: 'The execution window has closed: propose the transaction again with POST /api/prepare_transaction.',
  would_revert: 'Change the call so that it does not revert (see revert_reason), or send allow_simulation_failure: true to put it in front of the owner anyway.',
  insufficient_funds: 'Lower the amount, or ask the owner to fund the wallet with the value plus the fee cap, or send allow_simulation_failure: true to queue it anyway.',
  not_a_token: 'Check token_address: it is not an ERC-20 token contract on this chain, so use kind contract_call if it is another contract.',
};

const SUBJECT_HINTS: Partial<Record<ErrorCode, Record<string, string>>> = {
  not_found: {
    wallet: 'Check the address: an agent may use only the wallets its owner granted it, so ask the owner to grant this one.',
    transaction: 'Check the transaction id: an agent sees only the transactions it prepared, a person those of their own wallets.',
    session: 'Check the session id in GET /api/sessions, which lists only your own sessions that are still live.',
  },
  // A cookie-authenticated write (api/http/authenticate.ts checkCsrf): the credential is there, the proof of origin is not.
  unauthenticated: {
    csrf_token: "Send the X-CSRF-Token header with the value of this session's cs_csrf cookie, or log in again to get one.",
    cross_site: 'Send cookie-authenticated writes from the Countersign web app itself; other programs should use a Bearer token.',
  },
};

export function errorHint(code: ErrorCode, context: { reason?: string | undefined; subject?: string | undefined; retryAfter?: string | undefined } = {}): string {
  const byReason = context.reason ? REASON_HINTS[context.reason as keyof typeof REASON_HINTS] : undefined;
  const bySubject = context.subject ? SUBJECT_HINTS[code]?.[context.subject] : undefined;
  const hint = byReason ?? bySubject ?? HINTS[code];
  const seconds = context.retryAfter && /^[0-9]+$/.test(context.retryAfter) ? context.retryAfter : undefined;
  return seconds ? hint.replace('the number of seconds in the Retry-After header', `${seconds} second${seconds === '1' ? '' : 's'} (Retry-After)`) : hint;
}
