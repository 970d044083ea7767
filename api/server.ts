/**
 * The API process: configuration, connections, then listen — the public API
 * on HOST:PORT, the operations listener (metrics, codec server) on
 * OPS_HOST:OPS_PORT. Its Vault credential can encrypt wallet keys but never
 * decrypt them; its database role cannot write nonces or signed transactions
 * (lib/db-roles.ts). It does not migrate: it refuses a schema that is behind
 * or ahead of it, and a database role that may do more (or less) than the API
 * should.
 */
import 'dotenv/config';
import { codecOrigins, loadConfig, ConfigError } from '../config/env';
import { createLogger } from '../lib/logger';
import { assertSchemaCurrent, createDb } from '../lib/db';
import { assertPrivileges } from '../lib/db-roles';
import { systemClock } from '../lib/clock';
import { connectTemporal, assertSearchAttributes, temporalTls } from '../lib/temporal';
import { chainCheck, postgresCheck, temporalCheck, vaultCheck } from '../lib/readiness';
import { createApp } from './app';
import { createHttpServer, httpLimits } from './http/http-server';
import { composeApi } from './compose';
import { createKeyStore, instrumentKeyStore } from '../domains/keystore';
import { createHistoryCodec, createHistoryKeyring, historyDataConverter } from '../domains/history';
import { initMetrics } from '../lib/metrics';
import { startTracing } from '../lib/tracing';
import { createOpsApp, listenOps } from './ops';
import { createPostgresRateLimitStore } from './http/rate-limit-store';

async function main() {
  const config = loadConfig();
  const logger = createLogger({ level: config.LOG_LEVEL, name: 'api' });
  initMetrics('api');
  const tracing = startTracing({ endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: 'countersign-api' });
  const db = createDb({ url: config.DATABASE_URL, poolMax: config.DATABASE_POOL_MAX, applicationName: 'countersign-api' });
  await assertSchemaCurrent(db);
  await assertPrivileges(db, 'api');
  // The API's credential: encrypt wallet keys, encrypt/decrypt MFA secrets, encrypt webhook secrets,
  // encrypt/decrypt the payload codec's data keys.
  const keystore = instrumentKeyStore(await createKeyStore(config, { logger }));
  // The API starts every workflow, so it creates the first data key (the worker only reads them).
  const historyKeys = createHistoryKeyring({ db, keystore });
  await historyKeys.ensure();
  const { connection, client } = await connectTemporal({
    address: config.TEMPORAL_ADDRESS,
    namespace: config.TEMPORAL_NAMESPACE,
    tls: temporalTls(config),
    dataConverter: historyDataConverter(historyKeys),
    ...(tracing ? { interceptors: tracing.clientInterceptors } : {}),
  });
  await assertSearchAttributes(connection, config.TEMPORAL_NAMESPACE);
  const { routes, authenticator, close } = composeApi({ config, db, logger, clock: systemClock, temporal: client, keystore });
  const app = createApp({
    logger,
    clock: systemClock,
    authenticator,
    routes,
    version: process.env.npm_package_version ?? '0.1.0',
    trustProxy: config.TRUST_PROXY,
    publicUrl: config.PUBLIC_URL,
    ...(tracing ? { tracer: tracing.tracer } : {}),
    limits: { perMinute: config.RATE_LIMIT_PER_MINUTE, agentPerMinute: config.AGENT_RATE_LIMIT_PER_MINUTE },
    // Shared by every API replica through PostgreSQL (api/http/rate-limit.ts).
    rateLimitStore: createPostgresRateLimitStore(db),
    readiness: {
      postgres: postgresCheck(db),
      temporal: temporalCheck(connection),
      vault: vaultCheck(config),
      chain: chainCheck(config),
    },
  });

  // Header, request and keep-alive timeouts and the per-address connection cap (api/http/http-server.ts).
  const server = createHttpServer(app.callback(), httpLimits(config));
  server.listen(config.PORT, config.HOST);
  server.on('error', (err: NodeJS.ErrnoException) => {
    logger.fatal({ code: err.code }, err.code === 'EADDRINUSE' ? `port ${config.PORT} is already in use` : 'cannot listen');
    process.exit(1);
  });
  server.on('listening', () => logger.info({ url: `http://${config.HOST}:${config.PORT}` }, 'api listening'));
  const ops = await listenOps(
    createOpsApp({ logger, codec: createHistoryCodec(historyKeys), operatorToken: config.CODEC_OPERATOR_TOKEN, corsOrigins: codecOrigins(config.CODEC_CORS_ORIGINS) }),
    config.OPS_PORT,
    config.OPS_HOST,
  ).catch((err: NodeJS.ErrnoException) => {
    logger.fatal({ code: err.code }, err.code === 'EADDRINUSE' ? `operations port ${config.OPS_PORT} is already in use` : 'cannot listen on the operations port');
    process.exit(1);
  });
  logger.info({ url: `http://${config.OPS_HOST}:${config.OPS_PORT}`, codecServer: Boolean(config.CODEC_OPERATOR_TOKEN) }, 'operations listener (/metrics, /codec/*)');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'api stopping');
    server.close();
    server.closeAllConnections();
    ops.close();
    ops.closeAllConnections();
    await close();
    await tracing?.flush();
    historyKeys.close();
    await keystore.close();
    await connection.close();
    await db.destroy();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`countersign api: ${err.message}\n`);
  } else {
    process.stderr.write(`countersign api failed to start: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`);
  }
  process.exit(1);
});
