/**
 * The whole Countersign backend in-process, against the run's real services:
 * a fresh PostgreSQL database (the API on the API's role, the worker on the
 * worker's, as in production), the Temporal dev server (a task queue of its
 * own), OpenBao (the API's encrypt-only token, the worker's decrypt-only one)
 * and anvil. The API runs with an injected test clock for TOTP; the worker
 * uses real time, as Temporal does.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Writable } from 'node:stream';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { PayloadCodec } from '@temporalio/common';
import { loadConfig, type Config } from '../../config/env';
import { createTestClock, systemClock, type TestClock } from '../../lib/clock';
import { createLogger, type Logger } from '../../lib/logger';
import { bundleWorkflows } from '../../lib/workflow-bundle';
import { NO_TRACING_SINKS, startTracing, type Tracing } from '../../lib/tracing';
import { observeActivities } from '../../worker/interceptors';
import { createHistoryCodec, createHistoryKeyring, historyDataConverter, type HistoryKeyring } from '../../domains/history';
import { createApp } from '../../api/app';
import { composeApi, type ApiDeps } from '../../api/compose';
import { createHttpServer, httpLimits } from '../../api/http/http-server';
import { createActivities } from '../../activities';
import { createAuditLog } from '../../domains/audit';
import { createChainClients } from '../../domains/chain';
import { createKeyStore } from '../../domains/keystore';
import { createChainAdapter } from '../../domains/transactions/chain-adapter';
import { freshDatabase, requireEnv, type TestDatabase } from './db';

export interface TestApp {
  url: string;
  config: Config;
  database: TestDatabase;
  clock: TestClock;
  temporal: Client;
  taskQueue: string;
  /** Every log line the API and worker wrote, for secret scans. */
  logs: string[];
  /** The worker's activities (the same object the worker runs), to call one directly. */
  activities: ReturnType<typeof createActivities>;
  /** The payload codec both sides use (the API's keyring), to decode a raw history. */
  codec: PayloadCodec;
  historyKeys: HistoryKeyring;
  /** Set when OTEL_EXPORTER_OTLP_ENDPOINT was given. */
  tracing?: Tracing;
  /** The API's long-poll waiters (how many requests are held now). */
  waiters: { size(): number };
  stopWorker(): Promise<void>;
  startWorker(): Promise<void>;
  stop(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  /** Run no worker in-process (crash tests run it as a child process). */
  worker?: boolean;
  /** Wraps the API's transaction workflows client (see ApiDeps.wrapWorkflows). */
  wrapWorkflows?: ApiDeps['wrapWorkflows'];
}

let bundlePromise: Promise<{ code: string }> | undefined;
/** One workflow bundle per test process: prebuilt by the harness, or built here once. */
export function workflowBundle(): Promise<{ code: string }> | { codePath: string } {
  const prebuilt = process.env.WORKFLOW_BUNDLE_PATH;
  if (prebuilt) return { codePath: prebuilt };
  bundlePromise ??= bundleWorkflows({ logger: silentWebpackLogger });
  return bundlePromise;
}
const silentWebpackLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} } as never;

export function testConfig(databaseUrl: string, extra: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: requireEnv('TEMPORAL_ADDRESS'),
    TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE ?? 'default',
    TEMPORAL_TASK_QUEUE: `test-${randomBytes(6).toString('hex')}`,
    KEYSTORE: 'vault',
    VAULT_ADDR: requireEnv('VAULT_ADDR'),
    VAULT_TOKEN: requireEnv('VAULT_API_TOKEN'),
    WEB3_PROVIDER_URI: requireEnv('WEB3_PROVIDER_URI'),
    JWT_SECRET_KEY: requireEnv('JWT_SECRET_KEY'),
    AUDIT_HMAC_KEY: requireEnv('AUDIT_HMAC_KEY'),
    API_KEY_HMAC_KEY: requireEnv('API_KEY_HMAC_KEY'),
    ALLOW_TEST_CLOCK: 'true',
    WEBHOOK_ALLOW_LOOPBACK: 'true',
    RATE_LIMIT_PER_MINUTE: '100000',
    AGENT_RATE_LIMIT_PER_MINUTE: '100000',
    ...extra,
  });
}

/** The product's logger (redaction, log context), writing into `lines`. */
function capturingLogger(lines: string[], name: string): Logger {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return createLogger({ name, level: 'debug', destination: sink });
}

export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const database = await freshDatabase();
  const config = testConfig(database.api.url, options.env);
  const logs: string[] = [];
  const clock = createTestClock();
  const tracing = startTracing({ endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: 'countersign-test' });
  const apiKeystore = await createKeyStore(config);
  // Each side unwraps the history data keys with its own credential, as in production.
  const historyKeys = createHistoryKeyring({ db: database.api.db, keystore: apiKeystore });
  await historyKeys.ensure();
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  const temporal = new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    dataConverter: historyDataConverter(historyKeys),
    ...(tracing ? { interceptors: tracing.clientInterceptors } : {}),
  });

  const chains = createChainClients(config.chains);
  const composed = composeApi({ config, db: database.api.db, logger: capturingLogger(logs, 'api'), clock, windowClock: systemClock, temporal, keystore: apiKeystore, chains, ...(options.wrapWorkflows ? { wrapWorkflows: options.wrapWorkflows } : {}) });
  const app = createApp({
    logger: capturingLogger(logs, 'api'),
    clock,
    authenticator: composed.authenticator,
    routes: composed.routes,
    version: 'test',
    trustProxy: false,
    ...(tracing ? { tracer: tracing.tracer } : {}),
    limits: { perMinute: config.RATE_LIMIT_PER_MINUTE, agentPerMinute: config.AGENT_RATE_LIMIT_PER_MINUTE },
    readiness: {},
  });
  // The production server with its limits (timeouts, connection cap), as api/server.ts builds it.
  const server: Server = await new Promise((resolve) => {
    const s = createHttpServer(app.callback(), httpLimits(config));
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // The worker holds the decrypt-only credential.
  const workerKeystore = await createKeyStore({ ...config, VAULT_TOKEN: requireEnv('VAULT_WORKER_TOKEN') });
  const workerHistoryKeys = createHistoryKeyring({ db: database.worker.db, keystore: workerKeystore });
  const activities = createActivities({
    db: database.worker.db,
    logger: capturingLogger(logs, 'worker'),
    clock: systemClock,
    keystore: workerKeystore,
    chain: createChainAdapter(chains, { pollMs: 100 }),
    audit: createAuditLog({ db: database.worker.db, hmacKey: config.AUDIT_HMAC_KEY! }),
    config,
  });
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let nativeConnection: NativeConnection | undefined;

  async function startWorker() {
    nativeConnection ??= await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
    const bundle = await workflowBundle();
    worker = await Worker.create({
      connection: nativeConnection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      workflowBundle: 'codePath' in bundle ? bundle : { code: bundle.code },
      activities,
      dataConverter: historyDataConverter(workerHistoryKeys),
      interceptors: { activity: [observeActivities, ...(tracing?.activityInterceptors ?? [])] },
      sinks: tracing?.sinks ?? NO_TRACING_SINKS,
    });
    running = worker.run();
  }

  async function stopWorker() {
    if (!worker) return;
    worker.shutdown();
    await running;
    worker = undefined;
  }

  if (options.worker !== false) await startWorker();

  return {
    url,
    config,
    database,
    clock,
    temporal,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    logs,
    activities,
    codec: createHistoryCodec(historyKeys),
    historyKeys,
    ...(tracing ? { tracing } : {}),
    waiters: composed.waiters,
    startWorker,
    stopWorker,
    async stop() {
      await stopWorker();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await composed.close();
      chains.destroy();
      await apiKeystore.close();
      await workerKeystore.close();
      await nativeConnection?.close();
      historyKeys.close();
      workerHistoryKeys.close();
      await connection.close();
      await database.drop();
    },
  };
}
