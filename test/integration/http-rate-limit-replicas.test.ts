/**
 * Rate limits across API replicas (api/http/rate-limit.ts) on the real
 * PostgreSQL, as the API's own role: two limiters — two replicas — share one
 * count per key, and the table holds no key in the clear.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestClock } from '../../lib/clock';
import { AppError } from '../../lib/errors';
import { createRateLimiter, storedKey } from '../../api/http/rate-limit';
import { createPostgresRateLimitStore } from '../../api/http/rate-limit-store';
import { freshDatabase, type TestDatabase } from '../support/db';

let t: TestDatabase;
before(async () => {
  t = await freshDatabase('ratelimit');
});
after(async () => t?.drop());

const limited = (fn: () => void) => assert.throws(fn, (err: unknown) => err instanceof AppError && err.code === 'rate_limited');

test('two replicas hold one limit per key between them; the table stores digests', async () => {
  const clock = createTestClock(new Date('2026-12-04T10:00:20Z'));
  const store = createPostgresRateLimitStore(t.api.db);
  const a = createRateLimiter(clock, { store, flushMs: 3_600_000 });
  const b = createRateLimiter(clock, { store, flushMs: 3_600_000 });
  try {
    for (let i = 0; i < 7; i++) a.hit('login:203.0.113.9', 10);
    for (let i = 0; i < 3; i++) b.hit('login:203.0.113.9', 10);
    await a.flush();
    await b.flush();
    await a.flush(); // nothing new from A: it learns B's hits
    limited(() => a.hit('login:203.0.113.9', 10));
    limited(() => b.hit('login:203.0.113.9', 10));
    b.hit('login:198.51.100.1', 10);

    const rows = await t.db('rate_limit_windows').select('key', 'count');
    assert.deepEqual(rows, [{ key: storedKey('login:203.0.113.9'), count: 10 }]);
    assert.ok(!JSON.stringify(rows).includes('203.0.113.9'));

    // The next minute starts from nothing, and the past one is swept.
    clock.advance(60_000);
    a.hit('login:203.0.113.9', 10);
    await a.flush();
    const after = await t.db('rate_limit_windows').select('window_start', 'count');
    assert.deepEqual(after.map((r) => [r.window_start.toISOString(), r.count]), [['2026-12-04T10:01:00.000Z', 1]]);
  } finally {
    a.close();
    b.close();
  }
});
