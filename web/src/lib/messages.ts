import { ApiError } from './api';

/**
 * What a person should read for each API error (docs/http-contract.md codes). Server
 * messages are not shown verbatim for the codes we know: ours say what to do.
 */
export function errorMessage(error: unknown): string {
  if (!(error instanceof ApiError)) return 'Something went wrong. Please try again.';
  switch (error.code) {
    case 'mfa_invalid':
      return 'Wrong code. Check your authenticator app and enter the current 6-digit code.';
    case 'mfa_code_used':
      return 'That code has already been used. Wait for the next code (a new one appears every 30 seconds) and try again.';
    case 'mfa_locked':
      return `Too many wrong codes: actions that need a code are locked${retryText(error.retryAfter)}.`;
    case 'mfa_not_enrolled':
      return 'Set up two-factor authentication first (Security page).';
    case 'password_invalid':
      return 'Wrong password.';
    case 'invalid_credentials':
      return 'Wrong username or password (or too many attempts from here: wait a minute and try again).';
    case 'username_taken':
      return 'That username is taken. Choose another one.';
    case 'unauthenticated':
      return 'Your session has ended. Please log in again.';
    case 'wrong_principal':
      return 'This action is not available to this kind of account.';
    case 'not_found':
      return 'Not found — it may have been removed or does not belong to you.';
    case 'invalid_state':
      return invalidStateMessage(error.reason);
    case 'rate_limited':
      return `Too many requests${retryText(error.retryAfter)}.`;
    case 'unavailable':
      return `Countersign is temporarily unavailable${retryText(error.retryAfter)}.`;
    case 'invalid_request':
      return `Please check the form: ${detailsText(error.details) || 'some fields are invalid'}.`;
    case 'network':
      return error.message;
    default:
      return `The request failed (${error.status || 'network'}).`;
  }
}

export function invalidStateMessage(reason: string | undefined): string {
  switch (reason) {
    case 'expired':
      return 'This request has expired and can no longer be approved. Ask the agent to prepare it again.';
    case 'already_decided':
      return 'This request was already approved, rejected or cancelled.';
    case 'stale_digest':
      return 'This request changed after you opened it. Review it again before approving.';
    case 'not_approved':
      return 'This request has not been approved.';
    case 'signing_started':
      return 'Signing has already started; it can no longer be changed.';
    case 'execution_window_passed':
      return 'The execution window has passed.';
    default:
      return 'This request is no longer in a state that allows this action.';
  }
}

function retryText(seconds: number | undefined): string {
  if (seconds === undefined) return '; try again later';
  if (seconds < 90) return `; try again in ${seconds} seconds`;
  return `; try again in about ${Math.ceil(seconds / 60)} minutes`;
}

function detailsText(details: unknown): string {
  if (!Array.isArray(details)) return '';
  const fields = details
    .map((d) => (d && typeof d === 'object' && 'path' in d ? String((d as { path: unknown }).path) : ''))
    .filter((s) => /^[A-Za-z0-9_.,[\] ]{1,60}$/.test(s));
  return fields.length ? `look at ${fields.slice(0, 5).join(', ')}` : '';
}

/** A per-transaction error in a batch result, which may be an object or a bare code. */
export function resultErrorMessage(error: unknown): string {
  if (!error) return '';
  if (typeof error === 'string') return error === 'invalid_state' ? invalidStateMessage(undefined) : knownCode(error);
  if (typeof error === 'object') {
    const { code, reason } = error as { code?: unknown; reason?: unknown };
    if (code === 'invalid_state') return invalidStateMessage(typeof reason === 'string' ? reason : undefined);
    if (typeof code === 'string') return knownCode(code);
  }
  return 'Not approved.';
}

function knownCode(code: string): string {
  const known = errorMessage(new ApiError(-1, code, ''));
  if (!known.startsWith('The request failed')) return known;
  return /^[a-z_]{1,40}$/.test(code) ? `Not approved (${code}).` : 'Not approved.';
}
