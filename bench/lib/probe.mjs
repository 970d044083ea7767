/**
 * Preloaded into the API and the worker by the bench (`node --import ./bench/lib/probe.mjs`;
 * plain JavaScript because worker threads inherit the flag without the TypeScript loader).
 * Application code is untouched. It writes, twice a second, to BENCH_PROBE_FILE:
 *  - PostgreSQL round trips: every pg Client#query call (BEGIN and COMMIT included) and the
 *    time until each answered, as running totals — the bench reads them at the edges of its
 *    measured window to give round trips per flow per process;
 *  - memory of the main thread (process.memoryUsage) and the highest values seen, so resident
 *    memory can be split into the JavaScript heap and everything else (other threads' heaps,
 *    native allocations, code).
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const file = process.env.BENCH_PROBE_FILE;
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
  const MiB = 2 ** 20;
  const peak = { rss: 0, heapTotal: 0, heapUsed: 0, external: 0 };
  let memory = {};
  const write = () => {
    const m = process.memoryUsage();
    memory = { rss: m.rss / MiB, heapTotal: m.heapTotal / MiB, heapUsed: m.heapUsed / MiB, external: m.external / MiB, arrayBuffers: m.arrayBuffers / MiB };
    for (const key of Object.keys(peak)) peak[key] = Math.max(peak[key], memory[key]);
    try {
      fs.writeFileSync(file, JSON.stringify({ ...totals, memory, peakMemory: peak }));
    } catch {
      /* the bench's directory is gone: it has finished */
    }
  };
  setInterval(write, 500).unref();
  process.once('exit', write);
}
