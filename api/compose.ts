/**
 * Wires the domain services into the API's routes. Each domain names what it
 * needs (`Pick<>`); this is the one place that knows them all. Tests call it
 * too, with a test clock, so they exercise exactly what production runs.
 *
 * The key store handed in here holds the API's Vault credential: it can
 * encrypt wallet keys but never decrypt them.
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../config/env';
import type { Db } from '../lib/db';
import type { Logger } from '../lib/logger';
import type { Clock } from '../lib/clock';
import type { ClosableKeyStore } from '../domains/keystore';
import { createAuditLog } from '../domains/audit';
import { createAuthenticator, createSessionService, createUserService } from '../domains/users';
import { createMfaService } from '../domains/mfa';
import { createAgentService } from '../domains/agents';
import { createWalletChain, createWalletService } from '../domains/wallets';
import { createChainClients, type ChainClients } from '../domains/chain';
import { createChainAdapter } from '../domains/transactions';
import { createTransactionService } from '../domains/transactions';
import { createTransactionWorkflows, type TransactionWorkflows } from '../domains/transactions';
import { createStatusWait } from '../domains/transactions';
import { createTransactionWaiters, type TransactionWaiters } from '../domains/events';
import { connectionString } from '../lib/db';
import type { AnyRoute } from './http/route';
import type { Authenticator } from './http/principal';
import { accountRoutes } from './routes/accounts';
import { agentRoutes } from './routes/agents';
import { walletRoutes } from './routes/wallets';
import { transactionRoutes } from './routes/transactions';
import { diagnosticsRoutes } from './routes/diagnostics';
import { eventRoutes } from './routes/events';
import { webhookRoutes } from './routes/webhooks';
import { createEventService } from '../domains/events';
import { createAddressBook, createPolicyService } from '../domains/policies';
import { policyRoutes } from './routes/policies';
import { createWebhookService } from '../domains/webhooks';
import { mcpRoutes } from './routes/mcp';

export interface ApiDeps {
  config: Config;
  db: Db;
  logger: Logger;
  clock: Clock;
  temporal: Client;
  /**
   * Time for transaction windows. It must agree with the Temporal server's
   * clock, which runs the windows' timers; defaults to `clock`. Tests move
   * `clock` for TOTP steps and keep this one real.
   */
  windowClock?: Clock;
  keystore: ClosableKeyStore;
  /** Defaults to clients for `config.chains`. */
  chains?: ChainClients;
  /** Wraps the transaction workflows client (a test drops starts, as an API that died after its commit). */
  wrapWorkflows?: (workflows: TransactionWorkflows) => TransactionWorkflows;
}

export interface ComposedApi {
  routes: AnyRoute[];
  authenticator: Authenticator;
  /** The long-poll waiters of this process (tests count them). */
  waiters: Pick<TransactionWaiters, 'size'>;
  close(): Promise<void>;
}

export function composeApi(deps: ApiDeps): ComposedApi {
  const { config, db, logger, clock } = deps;
  const chains = deps.chains ?? createChainClients(config.chains);
  const chainIds = [...config.chains.keys()].sort((a, b) => a - b);
  const audit = createAuditLog({ db, hmacKey: requireSecret(config.AUDIT_HMAC_KEY, 'AUDIT_HMAC_KEY'), clock });

  const sessions = createSessionService({ db, clock, audit });
  const users = createUserService({ db, clock, config, audit, sessions });
  const mfa = createMfaService({ db, keystore: deps.keystore, clock, config, audit, sessions });
  const agents = createAgentService({ db, clock, config, mfa, audit });
  const wallets = createWalletService({
    db,
    clock,
    logger,
    config,
    keystore: deps.keystore,
    chain: createWalletChain(chains),
    passwords: users,
    mfa,
    audit,
  });
  const policies = createPolicyService({
    db,
    clock: deps.windowClock ?? clock,
    logger,
    audit,
    mfa,
    requestLifetimeSeconds: config.APPROVAL_TTL_MAX + config.EXECUTION_WINDOW,
  });
  const addressBook = createAddressBook({ db, clock, mfa, audit });
  const wrapWorkflows = deps.wrapWorkflows ?? ((workflows: TransactionWorkflows) => workflows);
  const transactions = createTransactionService({
    db,
    clock: deps.windowClock ?? clock,
    logger,
    config,
    workflows: wrapWorkflows(createTransactionWorkflows({ client: deps.temporal, taskQueue: config.TEMPORAL_TASK_QUEUE })),
    chain: createChainAdapter(chains),
    mfa,
    passwords: users,
    audit,
    policies,
    explorers: config.explorers,
  });

  // One LISTEN connection per API process wakes every long-poll (opened on the first wait).
  const waiters = createTransactionWaiters({ connectionString: connectionString(db), logger });
  const statusWait = createStatusWait({ read: (caller, id) => transactions.get(caller, id), waiters, clock: deps.windowClock ?? clock });

  const events = createEventService({ db, logger });
  const webhooks = createWebhookService({ db, keystore: deps.keystore, clock, config, audit });

  const routes: AnyRoute[] = [
    ...accountRoutes({ users, mfa, config }),
    ...agentRoutes({ agents }),
    ...walletRoutes({ wallets, chainIds }),
    ...transactionRoutes({ transactions, statusWait, chainIds, approvalTtl: { min: config.APPROVAL_TTL_MIN, max: config.APPROVAL_TTL_MAX } }),
    ...eventRoutes({ events, logger }),
    ...webhookRoutes({ webhooks }),
    ...policyRoutes({ policies, addressBook, transactions, chainIds, approvalTtl: { min: config.APPROVAL_TTL_MIN, max: config.APPROVAL_TTL_MAX } }),
    ...diagnosticsRoutes({ temporal: deps.temporal, taskQueue: config.TEMPORAL_TASK_QUEUE }),
    ...mcpRoutes(),
  ];
  return {
    routes,
    authenticator: createAuthenticator({ db, clock, config }),
    waiters,
    async close() {
      await waiters.close();
      await mfa.close();
      if (!deps.chains) chains.destroy();
    },
  };
}

function requireSecret(value: string | undefined, name: string): string {
  if (!value) throw new Error(`${name} is required`);
  return value;
}
