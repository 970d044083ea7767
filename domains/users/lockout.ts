/**
 * Per-account login throttling, as pure functions over (failed_logins,
 * locked_until).
 *
 * An attempt is *reserved* — counted as a failure and, if it is the last one
 * allowed, the lock set — before the password is checked, under the user's
 * row lock; a correct password then resets the count. So concurrent guesses
 * cannot outrun the counter: at most LOGIN_MAX_FAILURES guesses are ever
 * checked before the account locks.
 *
 * * Failures 1..BACKOFF_FREE_FAILURES: no delay.
 * * Beyond that: a back-off of 1, 2, 4 … (≤ 60) seconds before the next
 *   attempt is checked; attempts during a back-off are refused *and counted*.
 * * At LOGIN_MAX_FAILURES: locked for LOGIN_LOCK_DURATION; attempts during the
 *   lock are refused and not counted (the lock cannot be stretched forever);
 *   once it ends the count starts again from zero.
 */
export interface LoginState {
  failedLogins: number;
  lockedUntil: Date | null;
}

export interface LockPolicy {
  maxFailures: number;
  lockSeconds: number;
}

export const BACKOFF_FREE_FAILURES = 4;
export const BACKOFF_MAX_SECONDS = 60;

export function backoffSeconds(failures: number): number {
  if (failures <= BACKOFF_FREE_FAILURES) return 0;
  return Math.min(BACKOFF_MAX_SECONDS, 2 ** (failures - BACKOFF_FREE_FAILURES - 1));
}

export interface AttemptDecision {
  /** Check the password? (false: refuse without looking at it) */
  allowed: boolean;
  /** The state to write before checking. */
  next: LoginState;
  /** This attempt locks the account unless its password turns out right. */
  locksOnFailure: boolean;
}

const plusSeconds = (at: Date, seconds: number) => new Date(at.getTime() + seconds * 1000);

export function reserveAttempt(state: LoginState, now: Date, policy: LockPolicy): AttemptDecision {
  const locked = state.lockedUntil !== null && state.lockedUntil.getTime() > now.getTime();
  if (locked) {
    if (state.failedLogins >= policy.maxFailures) return { allowed: false, next: state, locksOnFailure: false };
    const failedLogins = state.failedLogins + 1;
    if (failedLogins >= policy.maxFailures) {
      return { allowed: false, next: { failedLogins, lockedUntil: plusSeconds(now, policy.lockSeconds) }, locksOnFailure: true };
    }
    return { allowed: false, next: { failedLogins, lockedUntil: state.lockedUntil }, locksOnFailure: false };
  }
  const previous = state.failedLogins >= policy.maxFailures ? 0 : state.failedLogins; // a served lock starts afresh
  const failedLogins = previous + 1;
  if (failedLogins >= policy.maxFailures) {
    return { allowed: true, next: { failedLogins, lockedUntil: plusSeconds(now, policy.lockSeconds) }, locksOnFailure: true };
  }
  const delay = backoffSeconds(failedLogins);
  return { allowed: true, next: { failedLogins, lockedUntil: delay > 0 ? plusSeconds(now, delay) : null }, locksOnFailure: false };
}

/** After a correct password. */
export const clearedState = (): LoginState => ({ failedLogins: 0, lockedUntil: null });
