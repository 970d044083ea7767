/**
 * The API's refusals as one typed error: the machine `code` (and `reason` where
 * the code has several), the server's one-sentence `hint` on what to do next,
 * and, for a refused proposal, the simulation's `revertReason` or the owner's
 * rules that refused it (`violations`).
 */

/** Every `error.code` the API answers with (docs/http-contract.md, "Errors"). */
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

export const ERROR_CODES: readonly ErrorCode[] = [
  'invalid_request',
  'invalid_json',
  'unauthenticated',
  'invalid_credentials',
  'wrong_principal',
  'mfa_not_enrolled',
  'mfa_invalid',
  'mfa_code_used',
  'password_invalid',
  'policy_denied',
  'not_found',
  'method_not_allowed',
  'invalid_state',
  'username_taken',
  'payload_too_large',
  'unsupported_media_type',
  'idempotency_key_reused',
  'simulation_failed',
  'rate_limited',
  'mfa_locked',
  'unavailable',
  'internal',
];

/** `reason` of a 409 invalid_state or a 422 simulation_failed. */
export type ErrorReason =
  | 'not_approved'
  | 'already_decided'
  | 'expired'
  | 'stale_digest'
  | 'signing_started'
  | 'execution_window_passed'
  | 'would_revert'
  | 'insufficient_funds'
  | 'not_a_token';

export interface ErrorDetail {
  field: string;
  message: string;
  in?: string;
}

/** policy_denied: one rule of the owner's policy that refused the proposal. */
export interface PolicyViolation {
  rule_id: string;
  type: string;
  message: string;
}

export class CountersignError extends Error {
  override name = 'CountersignError';
  /** HTTP status (0 when no answer arrived). */
  readonly status: number;
  readonly code: ErrorCode;
  readonly reason: ErrorReason | undefined;
  /** What to do next, in one sentence. */
  readonly hint: string | undefined;
  /** 400: the fields at fault. */
  readonly details: ErrorDetail[] | undefined;
  /** policy_denied: the owner's rules that refused (their `details`). */
  readonly violations: PolicyViolation[] | undefined;
  /** simulation_failed / would_revert: the decoded revert reason. */
  readonly revertReason: string | undefined;
  /** 429 / 503: seconds the server asked to wait. */
  readonly retryAfterSeconds: number | undefined;

  constructor(init: {
    status: number;
    code: ErrorCode;
    message: string;
    reason?: string | undefined;
    hint?: string | undefined;
    details?: ErrorDetail[] | undefined;
    violations?: PolicyViolation[] | undefined;
    revertReason?: string | undefined;
    retryAfterSeconds?: number | undefined;
    cause?: unknown;
  }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.status = init.status;
    this.code = init.code;
    this.reason = init.reason as ErrorReason | undefined;
    this.hint = init.hint;
    this.details = init.details;
    this.violations = init.violations;
    this.revertReason = init.revertReason;
    this.retryAfterSeconds = init.retryAfterSeconds;
  }

  /** The plain shape a tool result or a log line can carry. */
  toJSON() {
    return {
      status: this.status,
      code: this.code,
      message: this.message,
      ...(this.reason ? { reason: this.reason } : {}),
      ...(this.hint ? { hint: this.hint } : {}),
      ...(this.details ? { details: this.details } : {}),
      ...(this.violations ? { violations: this.violations } : {}),
      ...(this.revertReason ? { revert_reason: this.revertReason } : {}),
      ...(this.retryAfterSeconds !== undefined ? { retry_after_seconds: this.retryAfterSeconds } : {}),
    };
  }
}

export function isCountersignError(error: unknown, code?: ErrorCode): error is CountersignError {
  return error instanceof CountersignError && (code === undefined || error.code === code);
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date); undefined if absent or unreadable. */
export function retryAfterSeconds(header: string | null): number | undefined {
  if (!header) return undefined;
  if (/^[0-9]+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** An error body from the API (`{error:{code,message,hint,…}}`), or a stand-in when the body is not one. */
export function errorFromResponse(status: number, body: unknown, headers: Headers): CountersignError {
  const error = (body as { error?: Record<string, unknown> } | undefined)?.error;
  const code = typeof error?.code === 'string' && (ERROR_CODES as readonly string[]).includes(error.code) ? (error.code as ErrorCode) : status >= 500 ? 'internal' : 'invalid_request';
  return new CountersignError({
    status,
    code,
    message: typeof error?.message === 'string' ? error.message : `the API answered ${status}`,
    reason: typeof error?.reason === 'string' ? error.reason : undefined,
    hint: typeof error?.hint === 'string' ? error.hint : undefined,
    // A policy refusal's details are the rules that refused, not fields.
    details: Array.isArray(error?.details) && code !== 'policy_denied' ? (error.details as ErrorDetail[]) : undefined,
    violations: Array.isArray(error?.details) && code === 'policy_denied' ? (error.details as PolicyViolation[]) : undefined,
    revertReason: typeof error?.revert_reason === 'string' ? error.revert_reason : undefined,
    retryAfterSeconds: retryAfterSeconds(headers.get('retry-after')),
  });
}
