/**
 * The OpenAPI document as `GET /openapi.json` serves it under the default
 * configuration (one chain, 31337; default windows), built from the same
 * route declarations as the API, with nothing behind them: no request reaches
 * PostgreSQL, Temporal, Vault or a chain node. The SDK's generated types come
 * from it (scripts/sdk-types.ts), and a test compares the committed file with it.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { pino } from 'pino';
import { loadConfig } from '../config/env';
import { createDb } from '../lib/db';
import { createTestClock } from '../lib/clock';
import { composeApi } from '../api/compose';
import { createApp } from '../api/app';
import type { ClosableKeyStore } from '../domains/keystore';

export async function servedOpenApiDocument(): Promise<Record<string, unknown>> {
  const config = loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: 'postgres://nobody:nothing@127.0.0.1:1/unused',
    KEYSTORE: 'local',
    KEYSTORE_PASSPHRASE: 'document-only-passphrase-not-a-secret',
    JWT_SECRET_KEY: 'document-only-jwt-secret-0123456789abcdef',
    AUDIT_HMAC_KEY: 'document-only-audit-key-0123456789abcdef',
    API_KEY_HMAC_KEY: 'document-only-api-key-key-0123456789abcdef',
  });
  const db = createDb({ url: config.DATABASE_URL });
  const logger = pino({ level: 'silent' });
  const clock = createTestClock();
  const composed = composeApi({ config, db, logger, clock, temporal: {} as never, keystore: { close: async () => {} } as unknown as ClosableKeyStore });
  const app = createApp({
    logger,
    clock,
    authenticator: composed.authenticator,
    routes: composed.routes,
    version: 'document',
    trustProxy: false,
    limits: { perMinute: 100_000, agentPerMinute: 100_000 },
    readiness: {},
    webDist: '/nonexistent',
  });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  try {
    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/openapi.json`);
    if (!response.ok) throw new Error(`GET /openapi.json answered ${response.status}`);
    return (await response.json()) as Record<string, unknown>;
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await composed.close();
    await db.destroy();
  }
}
