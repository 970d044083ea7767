/**
 * The rate limiter's logic (api/http/rate-limit.ts) with an in-memory stand-in
 * for the shared store; test/integration/http-rate-limit-replicas.test.ts runs
 * the same against PostgreSQL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestClock } from '../../lib/clock';
import { AppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { createRateLimiter, storedKey, type RateLimitStore, type SharedCount } from '../../api/http/rate-limit';

function memoryStore(): RateLimitStore & { rows: Map<string, number>; down: boolean } {
  const rows = new Map<string, number>();
  const store = {
    rows,
    down: false,
    async add(deltas: readonly SharedCount[]) {
      if (store.down) throw new Error('connection refused');
      return deltas.map((d) => {
        const id = `${d.key}@${d.windowStart.toISOString()}`;
        rows.set(id, (rows.get(id) ?? 0) + d.count);
        return { ...d, count: rows.get(id)! };
      });
    },
    async sweep(before: Date) {
      for (const id of rows.keys()) if (new Date(id.split('@')[1]!).getTime() < before.getTime()) rows.delete(id);
    },
  };
  return store;
}

const limited = (fn: () => void) => assert.throws(fn, (err: unknown) => err instanceof AppError && err.code === 'rate_limited');
// Mid-window, so a test never straddles a minute boundary.
const start = () => createTestClock(new Date('2026-12-04T10:00:20Z'));

test('alone, a key gets its limit per window, then 429 with Retry-After until the window ends', () => {
  const clock = start();
  const limiter = createRateLimiter(clock);
  for (let i = 0; i < 5; i++) limiter.hit('k', 5);
  assert.throws(
    () => limiter.hit('k', 5),
    (err: unknown) => err instanceof AppError && err.headers?.['Retry-After'] === '40',
  );
  limiter.hit('other', 5);
  clock.advance(40_000);
  limiter.hit('k', 5);
});

test('two replicas sharing a store hold one limit between them once they have flushed', async () => {
  const clock = start();
  const store = memoryStore();
  const a = createRateLimiter(clock, { store, flushMs: 3_600_000 });
  const b = createRateLimiter(clock, { store, flushMs: 3_600_000 });
  try {
    for (let i = 0; i < 6; i++) a.hit('agent:1', 10);
    await a.flush();
    for (let i = 0; i < 4; i++) b.hit('agent:1', 10);
    await b.flush();
    limited(() => b.hit('agent:1', 10));
    await a.flush();
    limited(() => a.hit('agent:1', 10));
    // Another key, another count.
    a.hit('agent:2', 10);
    // The store holds digests of the keys, never the keys.
    assert.ok([...store.rows.keys()].every((id) => !id.includes('agent:')));
    assert.ok(store.rows.has(`${storedKey('agent:1')}@2026-12-04T10:00:00.000Z`));
  } finally {
    a.close();
    b.close();
  }
});

test('a store that is down leaves each replica counting on its own; it shares again once the store is back', async () => {
  const clock = start();
  const store = memoryStore();
  const warnings: string[] = [];
  const logger = {
    warn: (_: object, message?: string) => {
      warnings.push(message ?? '');
    },
    info: () => {},
  } as unknown as Pick<Logger, 'warn' | 'info'>;
  const a = createRateLimiter(clock, { store, logger, flushMs: 3_600_000 });
  const b = createRateLimiter(clock, { store, logger, flushMs: 3_600_000 });
  try {
    store.down = true;
    for (let i = 0; i < 3; i++) a.hit('k', 4);
    await a.flush();
    assert.equal(warnings.length, 1);
    await a.flush();
    assert.equal(warnings.length, 1, 'said once');
    store.down = false;
    a.hit('k', 4);
    await a.flush();
    // What A counted while the store was down reaches it with the next flush.
    await b.flush();
    b.hit('k', 4);
    await b.flush();
    limited(() => b.hit('k', 4));
  } finally {
    a.close();
    b.close();
  }
});

test('windows of past minutes are swept from the store', async () => {
  const clock = start();
  const store = memoryStore();
  const a = createRateLimiter(clock, { store, flushMs: 3_600_000 });
  try {
    a.hit('k', 10);
    await a.flush();
    clock.advance(120_000);
    a.hit('k', 10);
    await a.flush();
    assert.deepEqual([...store.rows.keys()].map((id) => id.split('@')[1]), ['2026-12-04T10:02:00.000Z']);
  } finally {
    a.close();
  }
});
