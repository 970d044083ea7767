/**
 * Login throttling by account *and* source address, as pure functions.
 *
 * Why not a per-account lock: anyone who knows a username could keep it
 * closed forever, so the owner could not log in to reject a request or revoke
 * a rogue agent (issue 19, §3). Here failures are counted per (account,
 * source) pair:
 *
 * * A pair's first LOGIN_FREE_FAILURES failures cost nothing; each further
 *   one doubles the wait before that pair's next attempt is checked (1 s,
 *   2 s, 4 s … LOGIN_BACKOFF_MAX). An attempt during the wait is refused
 *   without looking at the password (and not counted: it tested nothing).
 * * The account as a whole slows down but is never shut: once its pairs hold
 *   LOGIN_ACCOUNT_SLOWDOWN failures within LOGIN_FAILURE_WINDOW, every pair's
 *   free allowance drops to one — each source still gets its first attempt
 *   checked at once, so the owner at another address always can log in.
 * * A pair forgets its failures after LOGIN_FAILURE_WINDOW without one; a
 *   correct password clears that pair only.
 *
 * The attempt is *reserved* (counted as a failure, its wait set) under the
 * pair's row lock before the password is checked, so concurrent guesses from
 * one source cannot outrun the counter.
 */
import { isIP } from 'node:net';

export interface ThrottlePolicy {
  /** Failures of one (account, source) pair before its back-off starts. */
  freeFailures: number;
  /** The longest wait of one pair. */
  maxBackoffSeconds: number;
  /** A pair quiet this long starts afresh; also the span of the account-wide count. */
  windowSeconds: number;
  /** Account-wide failures (all pairs, within the window) after which every pair has one free failure only. */
  accountSlowdownAfter: number;
}

export interface PairState {
  failures: number;
  nextAttemptAt: Date | null;
  lastFailureAt: Date;
}

export type AttemptDecision =
  | { allowed: true; next: PairState; failures: number; accountSlowed: boolean; /** This failure starts the pair's back-off. */ startsBackoff: boolean }
  | { allowed: false; waitUntil: Date };

/** Seconds a pair waits after its `failures`-th failure. */
export function backoffSeconds(failures: number, freeFailures: number, maxSeconds: number): number {
  if (failures < freeFailures) return 0;
  return Math.min(maxSeconds, 2 ** Math.min(failures - freeFailures, 30));
}

const plusSeconds = (at: Date, seconds: number) => new Date(at.getTime() + seconds * 1000);

/** Is this pair's memory still live (a failure within the window)? */
export const isRecent = (state: PairState, now: Date, policy: Pick<ThrottlePolicy, 'windowSeconds'>) =>
  now.getTime() - state.lastFailureAt.getTime() < policy.windowSeconds * 1000;

/**
 * The decision for one attempt of one pair. `accountFailures` counts the
 * account's recent failures over all pairs (this one included).
 */
export function reserveAttempt(state: PairState | undefined, accountFailures: number, now: Date, policy: ThrottlePolicy): AttemptDecision {
  const live = state && isRecent(state, now, policy) ? state : undefined;
  if (live?.nextAttemptAt && live.nextAttemptAt.getTime() > now.getTime()) return { allowed: false, waitUntil: live.nextAttemptAt };
  const accountSlowed = accountFailures >= policy.accountSlowdownAfter;
  const free = accountSlowed ? Math.min(1, policy.freeFailures) : policy.freeFailures;
  const failures = (live?.failures ?? 0) + 1;
  const wait = backoffSeconds(failures, free, policy.maxBackoffSeconds);
  const startsBackoff = wait > 0 && backoffSeconds(failures - 1, free, policy.maxBackoffSeconds) === 0;
  return { allowed: true, failures, accountSlowed, startsBackoff, next: { failures, nextAttemptAt: wait > 0 ? plusSeconds(now, wait) : null, lastFailureAt: now } };
}

/**
 * The source a failure is charged to: the client address, IPv4-mapped IPv6
 * as plain IPv4, other IPv6 by its /64 (one subscriber usually holds a whole
 * /64, so counting single addresses would give them 2^64 fresh starts).
 */
export function throttleSource(ip: string | undefined): string {
  if (!ip) return 'unknown';
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (isIP(ip) !== 6) return ip.slice(0, 64);
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
