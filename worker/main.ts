/**
 * The worker process: runs workflows and activities. It is the custody
 * boundary — its Vault credential can decrypt wallet keys — so keep it off the
 * internet; it only serves /healthz, /readyz and /metrics (ours and the
 * Temporal SDK's, Prometheus text) on WORKER_HEALTH_PORT. Its database role
 * cannot write approvals, TOTP uses, users or agents (lib/db-roles.ts). It does
 * not migrate: it refuses a schema that is behind or ahead of it, and a
 * database role that may do more (or less) than the worker should.
 */
import 'dotenv/config';
import http from 'node:http';
import { NativeConnection, Worker } from '@temporalio/worker';
import { loadConfig, ConfigError } from '../config/env';
import { createLogger } from '../lib/logger';
import { assertSchemaCurrent, createDb } from '../lib/db';
import { assertPrivileges } from '../lib/db-roles';
import { connectTemporal, assertSearchAttributes, temporalTls } from '../lib/temporal';
import { chainCheck, postgresCheck, temporalCheck, vaultCheck } from '../lib/readiness';
import { runReadiness } from '../lib/readiness';
import { createActivities } from '../activities';
import { createKeyStore, instrumentKeyStore } from '../domains/keystore';
import { createChainClients } from '../domains/chain';
import { assertKnownChains } from '../domains/chain';
import { createChainAdapter } from '../domains/transactions';
import { createAuditLog } from '../domains/audit';
import { systemClock } from '../lib/clock';
import { initMetrics, registry } from '../lib/metrics';
import { installTemporalRuntime } from '../lib/temporal-runtime';
import { NO_TRACING_SINKS, startTracing } from '../lib/tracing';
import { WORKFLOW_INTERCEPTOR_MODULES } from '../lib/workflow-bundle';
import { COMPILED, WORKFLOW_BUNDLE, WORKFLOWS_SOURCE } from '../lib/app-paths';
import { createHistoryKeyring, historyDataConverter } from '../domains/history';
import { observeActivities } from './interceptors';
import { ensureReconcilerSchedule } from './reconciler';

async function main() {
  const config = loadConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'worker' });
  // Before any Temporal connection: the SDK logs through pino, its metrics join ours.
  const runtime = installTemporalRuntime(logger);
  initMetrics('worker');
  const tracing = startTracing({ endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: 'countersign-worker' });
  const db = createDb({ url: config.DATABASE_URL, poolMax: config.DATABASE_POOL_MAX, applicationName: 'countersign-worker' });
  await assertSchemaCurrent(db);
  await assertPrivileges(db, 'worker');

  // The worker's credential may decrypt wallet keys and webhook secrets, and unwrap the payload
  // codec's data keys (which open no wallet key), nothing else. It only reads the data keys: the
  // API creates the first one before it starts any workflow (lib/db-roles.ts, history_keys).
  const keystore = instrumentKeyStore(await createKeyStore(config, { logger }));
  const historyKeys = createHistoryKeyring({ db, keystore });
  const dataConverter = historyDataConverter(historyKeys);
  const tls = temporalTls(config);
  const client = await connectTemporal({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE, tls, dataConverter });
  await assertSearchAttributes(client.connection, config.TEMPORAL_NAMESPACE);
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS, ...(tls ? { tls } : {}) });
  const chains = createChainClients(config.chains);
  await assertKnownChains(db, chains);

  const code = workflowCode(config.WORKFLOW_BUNDLE_PATH);
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    // If this worker dies, its cached workflows move to another worker after 3 s rather than 10 s,
    // inside the API's Update deadline.
    stickyQueueScheduleToStartTimeout: '3 seconds',
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
    ...code,
    dataConverter,
    interceptors: {
      // The workflow interceptors run in the sandbox: a prebuilt bundle has them already (lib/workflow-bundle.ts).
      ...('workflowsPath' in code ? { workflowModules: WORKFLOW_INTERCEPTOR_MODULES } : {}),
      activity: [observeActivities, ...(tracing?.activityInterceptors ?? [])],
    },
    sinks: tracing?.sinks ?? NO_TRACING_SINKS,
    activities: createActivities({
      db,
      logger,
      clock: systemClock,
      keystore,
      chain: createChainAdapter(chains),
      audit: createAuditLog({ db, hmacKey: config.AUDIT_HMAC_KEY! }),
      config,
    }),
  });

  // Requests the API committed but never started (it died in between) are started by this schedule.
  await ensureReconcilerSchedule(client.client, config.TEMPORAL_TASK_QUEUE, logger);

  const checks = {
    postgres: postgresCheck(db),
    temporal: temporalCheck(client.connection),
    vault: vaultCheck(config),
    chain: chainCheck(config),
  };
  const health = http.createServer((req, res) => {
    void (async () => {
      if (req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok' }));
        return;
      }
      if (req.url === '/metrics') {
        const text = (await registry.metrics()) + runtime.renderMetrics();
        res.writeHead(200, { 'content-type': registry.contentType }).end(text);
        return;
      }
      if (req.url === '/readyz') {
        const { ready, checks: results } = await runReadiness({ ...checks, worker: async () => assertRunning(worker) });
        res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ready ? 'ready' : 'not_ready', checks: results }));
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'not_found', message: 'no such route' } }));
    })();
  });
  health.on('error', (err: NodeJS.ErrnoException) => {
    logger.fatal({ code: err.code }, err.code === 'EADDRINUSE' ? `worker health port ${config.WORKER_HEALTH_PORT} is already in use` : 'cannot listen');
    process.exit(1);
  });
  health.listen(config.WORKER_HEALTH_PORT, config.HOST, () => logger.info({ port: config.WORKER_HEALTH_PORT, taskQueue: config.TEMPORAL_TASK_QUEUE }, 'worker running'));

  const shutdown = (signal: string) => {
    logger.info({ signal }, 'worker stopping');
    worker.shutdown();
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));

  await worker.run();
  health.close();
  runtime.stop();
  await tracing?.flush();
  historyKeys.close();
  chains.destroy();
  await keystore.close?.();
  await connection.close();
  await client.connection.close();
  await db.destroy();
  logger.info('worker stopped');
}

/** A prebuilt bundle (the test harness's, or the build's), else the sources (bundled now, as in development). */
function workflowCode(prebuilt: string | undefined): { workflowBundle: { codePath: string } } | { workflowsPath: string } {
  if (prebuilt) return { workflowBundle: { codePath: prebuilt } };
  if (COMPILED) return { workflowBundle: { codePath: WORKFLOW_BUNDLE } };
  return { workflowsPath: WORKFLOWS_SOURCE };
}

function assertRunning(worker: Worker) {
  if (worker.getState() !== 'RUNNING') throw Object.assign(new Error('not running'), { code: 'NOT_RUNNING' });
}

main().catch((err: unknown) => {
  const message = err instanceof ConfigError ? err.message : `failed to start: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
  process.stderr.write(`countersign worker: ${message}\n`);
  process.exit(1);
});
