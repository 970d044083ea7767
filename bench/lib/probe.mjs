/**
 * Preloaded into the API and the worker by the bench (`node --import ./bench/lib/pg-counter.mjs`;
 * plain JavaScript because worker threads inherit the flag without the TypeScript loader):
 * counts PostgreSQL round trips (every pg Client#query call, BEGIN and COMMIT included) and
 * the time until each answered, and writes the running totals to BENCH_PG_COUNTER_FILE twice
 * a second. The bench reads the file at the edges of its measured window to give round trips
 * per flow per process. Application code is untouched.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const file = process.env.BENCH_PG_COUNTER_FILE;
if (file && isMainThread) {
  const { default: pg } = await import('pg');
  const totals = { queries: 0, ms: 0 };
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function countedQuery(...args) {
    const started = performance.now();
    const done = () => {
      totals.queries += 1;
      totals.ms += performance.now() - started;
    };
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === 'function') {
      args[last] = function (...results) {
        done();
        return callback.apply(this, results);
      };
      return original.apply(this, args);
    }
    const result = original.apply(this, args);
    if (result && typeof result.then === 'function') result.then(done, done);
    return result;
  };
  const write = () => {
    try {
      fs.writeFileSync(file, JSON.stringify(totals));
    } catch {
      /* the bench's directory is gone: it has finished */
    }
  };
  setInterval(write, 500).unref();
  process.once('exit', write);
}
