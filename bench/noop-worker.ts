/**
 * The orchestration ceiling's worker: the real transaction workflow (same
 * bundle, same Worker defaults) with every activity registered under its real
 * name but doing nothing. Whatever this sustains is what Temporal, the SDK and
 * the workflow's shape allow; the bench divides end-to-end throughput by it.
 *
 * Env: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TASK_QUEUE,
 * WORKFLOW_BUNDLE_PATH, WORKER_HEALTH_PORT (GET /readyz).
 */
import http from 'node:http';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { NO_TRACING_SINKS } from '../lib/tracing';

const env = (key: string) => {
  const value = process.env[key];
  if (!value) throw new Error(`${key} is required`);
  return value;
};

/**
 * Every activity the real worker registers, by name (built once with inert
 * dependencies only to read the names, so a newly added activity is covered
 * too), each replaced by one that does nothing and answers what the workflow
 * expects to continue.
 */
function noopActivities(): Record<string, (...args: unknown[]) => Promise<unknown>> {
  // Anything read from it is inert too; used as a number (a config value), it is 0.
  const inert: unknown = new Proxy(function inert() {}, { get: (_, key) => (key === Symbol.toPrimitive ? () => 0 : inert), apply: () => inert });
  // The bench's agents have no webhooks, so the status-writing activities say so, as the real ones would.
  const answers: Record<string, unknown> = {
    verifyApproval: true,
    verifyCommand: true,
    projectStatus: { notifyWebhooks: false },
    signTransaction: { txHash: `0x${'00'.repeat(32)}`, notifyWebhooks: false },
    broadcastTransaction: { notifyWebhooks: false },
    confirmTransaction: { status: 'confirmed' },
  };
  // Each dependency inert, named one by one: createActivities spreads its deps, and a spread proxy has no keys.
  const deps = { db: inert, logger: inert, clock: inert, keystore: inert, chain: inert, audit: inert, config: inert };
  return Object.fromEntries(Object.keys(createActivities(deps as never)).map((name) => [name, async () => answers[name]]));
}

async function main() {
  const connection = await NativeConnection.connect({ address: env('TEMPORAL_ADDRESS') });
  const worker = await Worker.create({
    connection,
    namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: env('TEMPORAL_TASK_QUEUE'),
    workflowBundle: { codePath: env('WORKFLOW_BUNDLE_PATH') },
    activities: noopActivities(),
    // The bundle carries the OpenTelemetry workflow interceptors; their spans go nowhere here.
    sinks: NO_TRACING_SINKS,
    // As the real worker (config/env.ts WORKER_MAX_CACHED_WORKFLOWS): not the heap-derived default.
    maxCachedWorkflows: 100,
  });
  const health = http.createServer((req, res) => {
    const ready = worker.getState() === 'RUNNING';
    res.writeHead(req.url === '/readyz' && ready ? 200 : 503).end();
  });
  health.listen(Number(env('WORKER_HEALTH_PORT')), '127.0.0.1');
  const stop = () => worker.shutdown();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await worker.run();
  health.close();
  await connection.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`noop worker: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
