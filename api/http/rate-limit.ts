/**
 * Fixed-window rate limits (one-minute windows aligned to the clock), keyed
 * by client address (register, login) or principal (everything else), that
 * hold across API replicas.
 *
 * Each process counts in memory — the request path never waits for the
 * database — and every FLUSH_MS adds what it counted to PostgreSQL
 * (`rate_limit_windows`, one upsert for all keys of the current window),
 * learning each key's total over every replica in return. A hit is refused when that total plus what
 * this process counted since is over the limit. So N replicas together allow
 * a key about its limit, overshooting by at most what the others counted in
 * one flush interval; without a store (or while PostgreSQL is away) each
 * process enforces the limit on its own. Keys are stored hashed: no address
 * or principal id sits in the table. The brute-force defences — the
 * per-account login lock-out and the MFA lock-out — are exact, and live in
 * PostgreSQL on their own (domains/users/throttle.ts, domains/mfa).
 */
import { createHash } from 'node:crypto';
import { AppError } from '../../lib/errors';
import type { Clock } from '../../lib/clock';
import type { Logger } from '../../lib/logger';

export const WINDOW_MS = 60_000;
/** How often counts go to the shared store. */
export const FLUSH_MS = 1_000;

export interface RateLimiter {
  /** Counts one hit; throws 429 rate_limited with Retry-After when over the limit. */
  hit(key: string, limitPerMinute: number): void;
}

export interface SharedCount {
  key: string;
  windowStart: Date;
  count: number;
}

/** Where replicas add up their counts (createPostgresRateLimitStore). */
export interface RateLimitStore {
  /** Adds each delta to its key's window; returns the totals after the additions. */
  add(deltas: readonly SharedCount[]): Promise<SharedCount[]>;
  /** Forgets windows that ended before `before`. */
  sweep(before: Date): Promise<void>;
}

export interface SharedRateLimiter extends RateLimiter {
  /** Sends what was counted since the last flush and learns the shared totals (the timer calls it; tests too). */
  flush(): Promise<void>;
  close(): void;
}

interface Window {
  start: number;
  /** The shared total when last flushed (this process's flushed hits included). */
  shared: number;
  /** Counted here since then. */
  pending: number;
}

/** The stored key: a digest, so the table holds no client address or principal id. */
export const storedKey = (key: string) => createHash('sha256').update(key).digest('base64url').slice(0, 32);

export function createRateLimiter(clock: Clock, options: { store?: RateLimitStore; logger?: Pick<Logger, 'warn' | 'info'>; flushMs?: number } = {}): SharedRateLimiter {
  const windows = new Map<string, Window>();
  const currentStart = () => Math.floor(clock.now().getTime() / WINDOW_MS) * WINDOW_MS;
  let lastSweep = 0;
  let lastStoreSweep = 0;
  let storeDown = false;
  let flushing: Promise<void> | undefined;

  function sweepLocal(start: number) {
    if (start === lastSweep) return;
    for (const [key, window] of windows) if (window.start < start) windows.delete(key);
    lastSweep = start;
  }

  async function flushOnce(): Promise<void> {
    const store = options.store;
    if (!store) return;
    const start = currentStart();
    // Every key of this window, counted here since or not: the others' hits are learned either way.
    const batch: Array<[string, Window]> = [...windows].filter(([, w]) => w.start === start);
    if (batch.length === 0) return;
    // Taken out before the round trip: hits during it count toward the next flush.
    const stored = batch.map(([key]) => storedKey(key));
    const deltas = batch.map(([, w], i) => {
      const delta = { key: stored[i]!, windowStart: new Date(w.start), count: w.pending };
      w.shared += w.pending;
      w.pending = 0;
      return delta;
    });
    try {
      const totals = new Map((await store.add(deltas)).map((row) => [`${row.key}@${row.windowStart.getTime()}`, row.count]));
      for (const [i, [, w]] of batch.entries()) {
        const total = totals.get(`${stored[i]}@${w.start}`);
        if (total !== undefined && total > w.shared) w.shared = total;
      }
      if (storeDown) options.logger?.info({}, 'rate limits are shared across replicas again');
      storeDown = false;
      if (start !== lastStoreSweep) {
        lastStoreSweep = start;
        await store.sweep(new Date(start));
      }
    } catch (err) {
      // Not shared: they go with the next flush.
      batch.forEach(([, w], i) => {
        w.shared -= deltas[i]!.count;
        w.pending += deltas[i]!.count;
      });
      if (!storeDown) options.logger?.warn({ err: err instanceof Error ? err.name : 'error' }, 'rate limits cannot be shared (PostgreSQL unavailable): each replica counts on its own');
      storeDown = true;
    }
  }

  const flush = () => {
    flushing ??= flushOnce().finally(() => {
      flushing = undefined;
    });
    return flushing;
  };
  const timer = options.store ? setInterval(() => void flush(), options.flushMs ?? FLUSH_MS) : undefined;
  timer?.unref();

  return {
    hit(key, limit) {
      const start = currentStart();
      sweepLocal(start);
      let window = windows.get(key);
      if (!window || window.start !== start) {
        window = { start, shared: 0, pending: 0 };
        windows.set(key, window);
      }
      window.pending += 1;
      if (window.shared + window.pending > limit) {
        const retryAfter = Math.max(1, Math.ceil((start + WINDOW_MS - clock.now().getTime()) / 1000));
        throw new AppError('rate_limited', 'too many requests, slow down', { headers: { 'Retry-After': String(retryAfter) } });
      }
    },
    flush,
    close() {
      if (timer) clearInterval(timer);
    },
  };
}
