/**
 * Fixed-window rate limits kept in process memory, keyed by client address
 * (register, login) or principal (everything else). With several API replicas
 * each enforces its own window — the per-account login lock-out and the MFA
 * lock-out, which matter for brute force, live in PostgreSQL instead.
 */
import { AppError } from '../../lib/errors';
import type { Clock } from '../../lib/clock';

export interface RateLimiter {
  /** Counts one hit; throws 429 rate_limited with Retry-After when over the limit. */
  hit(key: string, limitPerMinute: number): void;
}

export function createRateLimiter(clock: Clock): RateLimiter {
  const windows = new Map<string, { start: number; count: number }>();
  const WINDOW_MS = 60_000;
  let lastSweep = 0;
  return {
    hit(key, limit) {
      const now = clock.now().getTime();
      if (now - lastSweep > WINDOW_MS) {
        for (const [k, w] of windows) if (now - w.start >= WINDOW_MS) windows.delete(k);
        lastSweep = now;
      }
      let window = windows.get(key);
      if (!window || now - window.start >= WINDOW_MS) {
        window = { start: now, count: 0 };
        windows.set(key, window);
      }
      window.count += 1;
      if (window.count > limit) {
        const retryAfter = Math.max(1, Math.ceil((window.start + WINDOW_MS - now) / 1000));
        throw new AppError('rate_limited', 'too many requests, slow down', { headers: { 'Retry-After': String(retryAfter) } });
      }
    },
  };
}
