/**
 * Wires the domain services into route lists for the API process. Each domain
 * names what it needs; this is the only place that knows them all.
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../config/env';
import type { Db } from '../lib/db';
import type { Logger } from '../lib/logger';
import type { Clock } from '../lib/clock';
import type { AnyRoute } from './http/route';
import type { Authenticator } from './http/principal';
import { diagnosticsRoutes } from './routes/diagnostics';

export interface ApiDeps {
  config: Config;
  db: Db;
  logger: Logger;
  clock: Clock;
  temporal: Client;
}

export async function buildApiRoutes(deps: ApiDeps): Promise<{ routes: AnyRoute[]; authenticator: Authenticator; close: () => Promise<void> }> {
  // Until the accounts domain is wired, nobody authenticates.
  const authenticator: Authenticator = {
    verifyUserToken: async () => undefined,
    verifyApiKey: async () => undefined,
  };
  const routes: AnyRoute[] = [...diagnosticsRoutes({ temporal: deps.temporal, taskQueue: deps.config.TEMPORAL_TASK_QUEUE })];
  return { routes, authenticator, close: async () => {} };
}
