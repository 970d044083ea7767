/**
 * The in-process app for the wallet and custody integration tests: a
 * PostgreSQL database of its own (migrated by the schema owner; the services
 * on the API's role, the worker on the worker's), the harness's OpenBao (or a dev
 * server started here), the harness's anvil (or one started here), real
 * accounts, MFA, agents, audit and wallet services, an injected test clock,
 * and a logger whose every line is captured. Every HTTP answer is recorded
 * too, so a test can search all of it for a secret.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { generate } from 'otplib';
import { JsonRpcProvider, Wallet } from 'ethers';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { loadConfig, type Config } from '../../config/env';
import { createDb, migrateLatest, type Db } from '../../lib/db';
import { DEFAULT_ROLE_NAMES } from '../../lib/db-roles';
import { createOwnedDatabase, dropDatabase, roleUrl } from '../support/db';
import { createTestClock, systemClock, unixSeconds, type TestClock } from '../../lib/clock';
import type { Logger } from '../../lib/logger';
import { createApp } from '../../api/app';
import { accountRoutes } from '../../api/routes/accounts';
import { agentRoutes } from '../../api/routes/agents';
import { walletRoutes } from '../../api/routes/wallets';
import { composeApi } from '../../api/compose';
import type { AnyRoute } from '../../api/http/route';
import type { Authenticator } from '../../api/http/principal';
import { createActivities } from '../../activities';
import { createChainAdapter } from '../../domains/transactions/chain-adapter';
import { createAuditLog } from '../../domains/audit';
import type { AuditLog } from '../../domains/audit/types';
import { createKeyStore, createVaultKeyStore, type ClosableKeyStore, type KeyPurpose, type VaultKeyStore } from '../../domains/keystore';
import { createUserService, createAuthenticator, createSessionService } from '../../domains/users';
import { createMfaService } from '../../domains/mfa';
import { createAgentService } from '../../domains/agents';
import { createWalletService, createWalletChain } from '../../domains/wallets';
import { createChainClients, type ChainClients } from '../../domains/chain';
import { AGREED_KEYS, provisionIsolated, provisionTransit, useTestVault, type TestVault } from '../support/keystore-openbao';
import { devChain, receiptOf, type DevChain } from '../support/contracts';
import { workflowBundle } from '../support/app';
import type { PayloadCodec } from '@temporalio/common';
import { createHistoryCodec, createHistoryKeyring, historyDataConverter } from '../../domains/history';
import { NO_TRACING_SINKS } from '../../lib/tracing';

/** anvil's well-known dev account 0 (public test mnemonic; never holds real funds). */
export const ANVIL_ACCOUNT_0 = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';

export interface VaultLayout {
  addr: string;
  rootToken: string;
  mount: string;
  keys: Record<KeyPurpose, string>;
  apiToken: string;
  workerToken: string;
  operatorToken?: string | undefined;
  /** Keys provisioned for this test alone (so rotating them disturbs nobody). */
  isolated: boolean;
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export interface TestUser {
  userId: string;
  username: string;
  password: string;
  token: string;
  /** Base32 TOTP secret. */
  secret: string;
  /** A fresh code: moves the clock to the next 30-second step first. */
  nextCode(): Promise<string>;
}

export interface WalletStack {
  /** The schema owner: set-up and inspection only. */
  db: Db;
  /** The owner's URL (migrations, `npm run keys:rotate`). */
  databaseUrl: string;
  /** What the services run on: the API's role, and the worker's. */
  apiDb: Db;
  workerDb: Db;
  config: Config;
  clock: TestClock;
  vault: VaultLayout;
  chain: DevChain;
  chainClients: ChainClients;
  /** The API's store: its credential may encrypt wallet keys, never decrypt them. */
  apiKeystore: ClosableKeyStore;
  /** The worker's credential, for tests that must read a key back. */
  workerKeystore: VaultKeyStore;
  audit: AuditLog;
  /** With `temporal: true`: the client, and the task queue of this stack's own worker. */
  /** `codec` decodes this stack's payloads (other stacks' use other data keys). */
  temporal?: { client: Client; taskQueue: string; codec: PayloadCodec } | undefined;
  /** Every log line the app (and its worker) wrote. */
  logs: string[];
  /** Every HTTP answer (status line, headers and body). */
  answers: string[];
  base: string;
  /** A chain id whose RPC URL points at a closed port. */
  deadChainId: number;
  http(method: string, path: string, options?: { token?: string; apiKey?: string; body?: unknown; headers?: Record<string, string> }): Promise<HttpAnswer>;
  newUser(prefix?: string): Promise<TestUser>;
  createAgent(user: TestUser, wallets?: string[]): Promise<{ agentId: string; apiKey: string }>;
  /** Sends wei from anvil's dev account 0 with ethers and waits for the receipt. */
  fund(address: string, wei: bigint): Promise<void>;
  close(): Promise<void>;
}

async function closedPort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A database of its own on the harness's server, owned by the schema owner; dropped by close(). */
async function ownDatabase(prefix: string): Promise<{ url: string; apiUrl: string; workerUrl: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  await createOwnedDatabase(name);
  return { url: roleUrl('owner', name), apiUrl: roleUrl('api', name), workerUrl: roleUrl('worker', name), drop: () => dropDatabase(name) };
}

async function vaultLayout(vault: TestVault, isolated: boolean): Promise<VaultLayout> {
  const env = process.env;
  if (!isolated && vault.shared && env.VAULT_API_TOKEN && env.VAULT_WORKER_TOKEN) {
    return {
      addr: vault.addr,
      rootToken: vault.rootToken,
      mount: env.VAULT_TRANSIT_MOUNT ?? 'transit',
      keys: { wallet: env.VAULT_WALLET_KEY ?? AGREED_KEYS.wallet, mfa: env.VAULT_MFA_KEY ?? AGREED_KEYS.mfa, webhook: env.VAULT_WEBHOOK_KEY ?? AGREED_KEYS.webhook, history: env.VAULT_HISTORY_KEY ?? AGREED_KEYS.history },
      apiToken: env.VAULT_API_TOKEN,
      workerToken: env.VAULT_WORKER_TOKEN,
      operatorToken: env.VAULT_OPERATOR_TOKEN,
      isolated: false,
    };
  }
  const p = isolated || vault.shared ? await provisionIsolated(vault.addr, vault.rootToken) : await provisionTransit(vault.addr, vault.rootToken);
  return { addr: vault.addr, rootToken: vault.rootToken, mount: p.mount, keys: p.keys, apiToken: p.apiToken, workerToken: p.workerToken, operatorToken: p.operatorToken, isolated: true };
}

const secret = () => randomBytes(32).toString('hex');

export interface WalletStackOptions {
  name: string;
  /** Transit keys and tokens of this stack's own (rotating them disturbs no other test). */
  isolatedKeys?: boolean;
  /**
   * The whole backend: every route as api/compose.ts wires it, plus an
   * in-process worker holding the worker's decrypt-only credential on a task
   * queue of its own (needs TEMPORAL_ADDRESS). Otherwise only the accounts,
   * agents and wallet routes.
   */
  temporal?: boolean;
}

export async function startWalletStack(options: WalletStackOptions): Promise<WalletStack> {
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const fn of closers.reverse()) {
      try {
        await fn();
      } catch {
        // keep closing the rest
      }
    }
  };
  try {
    const database = await ownDatabase(options.name);
    closers.push(() => database.drop());
    const testVault = await useTestVault();
    closers.push(() => testVault.stop());
    const vault = await vaultLayout(testVault, options.isolatedKeys ?? false);
    const chain = await devChain();
    closers.push(() => chain.stop());
    const deadChainId = 31338 === chain.chainId ? 31339 : 31338;
    const deadUrl = `http://127.0.0.1:${await closedPort()}`;

    const env = process.env;
    const temporalAddress = env.TEMPORAL_ADDRESS;
    if (options.temporal && !temporalAddress) throw new Error('TEMPORAL_ADDRESS must point at a Temporal server (the test harness sets it)');
    const taskQueue = `wallets-${randomBytes(6).toString('hex')}`;
    const config = loadConfig({
      ...(options.temporal ? { TEMPORAL_ADDRESS: temporalAddress, TEMPORAL_NAMESPACE: env.TEMPORAL_NAMESPACE ?? 'default', TEMPORAL_TASK_QUEUE: taskQueue } : {}),
      NODE_ENV: 'test',
      LOG_LEVEL: 'trace',
      DATABASE_URL: database.apiUrl,
      KEYSTORE: 'vault',
      VAULT_ADDR: vault.addr,
      VAULT_TOKEN: vault.apiToken,
      VAULT_TRANSIT_MOUNT: vault.mount,
      VAULT_WALLET_KEY: vault.keys.wallet,
      VAULT_MFA_KEY: vault.keys.mfa,
      VAULT_WEBHOOK_KEY: vault.keys.webhook,
      VAULT_HISTORY_KEY: vault.keys.history,
      VAULT_TIMEOUT_MS: '5000',
      JWT_SECRET_KEY: env.JWT_SECRET_KEY ?? secret(),
      AUDIT_HMAC_KEY: env.AUDIT_HMAC_KEY ?? secret(),
      API_KEY_HMAC_KEY: env.API_KEY_HMAC_KEY ?? secret(),
      JWT_ACCESS_TOKEN_EXPIRES: '1d',
      WEB3_PROVIDER_URI: chain.url,
      CHAIN_ID: String(chain.chainId),
      CHAIN_RPC_URLS: JSON.stringify({ [deadChainId]: deadUrl }),
      ALLOW_TEST_CLOCK: 'true',
    });

    const db = createDb({ url: database.url, poolMax: 4, applicationName: `${options.name}-test-owner` });
    closers.push(() => db.destroy());
    await migrateLatest(db, DEFAULT_ROLE_NAMES);
    const apiDb = createDb({ url: database.apiUrl, poolMax: 10, applicationName: `${options.name}-test-api` });
    closers.push(() => apiDb.destroy());
    const workerDb = createDb({ url: database.workerUrl, poolMax: 10, applicationName: `${options.name}-test-worker` });
    closers.push(() => workerDb.destroy());

    // Every line the app logs, at every level, unredacted: whatever code hands the logger is caught here.
    const logs: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logs.push(chunk.toString('utf8'));
        done();
      },
    });
    const logger = pino({ level: 'trace', base: { service: options.name } }, sink) as unknown as Logger;

    const clock = createTestClock(new Date());
    const audit = createAuditLog({ db: apiDb, hmacKey: config.AUDIT_HMAC_KEY!, clock });
    const apiKeystore = await createKeyStore(config, { logger });
    closers.push(() => apiKeystore.close());
    const workerKeystore = createVaultKeyStore({ addr: vault.addr, token: vault.workerToken, mount: vault.mount, keys: vault.keys, timeoutMs: 5000 });
    closers.push(() => workerKeystore.close());
    const chainClients = createChainClients(config.chains, { timeoutMs: 5000 });
    closers.push(async () => chainClients.destroy());

    let routes: AnyRoute[];
    let authenticator: Authenticator;
    let temporal: WalletStack['temporal'];
    const chainIds = [...config.chains.keys()].sort((a, b) => a - b);
    if (options.temporal) {
      const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
      closers.push(() => connection.close());
      // The payload codec, each side with its own credential, as in production.
      const historyKeys = createHistoryKeyring({ db, keystore: apiKeystore });
      await historyKeys.ensure();
      const workerHistoryKeys = createHistoryKeyring({ db, keystore: workerKeystore });
      closers.push(async () => {
        historyKeys.close();
        workerHistoryKeys.close();
      });
      const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter: historyDataConverter(historyKeys) });
      // Exactly what production runs (api/compose.ts); windows on real time, as Temporal's timers are.
      const composed = composeApi({ config, db: apiDb, logger, clock, windowClock: systemClock, temporal: client, keystore: apiKeystore, chains: chainClients });
      closers.push(() => composed.close());
      routes = composed.routes;
      authenticator = composed.authenticator;
      const nativeConnection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
      closers.push(() => nativeConnection.close());
      const bundle = await workflowBundle();
      const worker = await Worker.create({
        connection: nativeConnection,
        namespace: config.TEMPORAL_NAMESPACE,
        taskQueue,
        workflowBundle: 'codePath' in bundle ? bundle : { code: bundle.code },
        activities: createActivities({
          db: workerDb,
          logger,
          clock: systemClock,
          keystore: workerKeystore,
          chain: createChainAdapter(chainClients, { pollMs: 100 }),
          audit: createAuditLog({ db: workerDb, hmacKey: config.AUDIT_HMAC_KEY! }),
          config,
        }),
        dataConverter: historyDataConverter(workerHistoryKeys),
        sinks: NO_TRACING_SINKS,
      });
      const running = worker.run();
      closers.push(async () => {
        worker.shutdown();
        await running;
      });
      temporal = { client, taskQueue, codec: createHistoryCodec(historyKeys) };
    } else {
      const sessions = createSessionService({ db: apiDb, clock, audit });
      const users = createUserService({ db: apiDb, clock, config, audit, sessions });
      const mfa = createMfaService({ db: apiDb, keystore: apiKeystore, clock, config, audit, sessions });
      closers.push(() => mfa.close());
      const agents = createAgentService({ db: apiDb, clock, config, mfa, audit });
      const wallets = createWalletService({ db: apiDb, clock, logger, config, keystore: apiKeystore, chain: createWalletChain(chainClients), passwords: users, mfa, audit });
      routes = [...accountRoutes({ users, mfa, config }), ...agentRoutes({ agents }), ...walletRoutes({ wallets, chainIds })];
      authenticator = createAuthenticator({ db: apiDb, clock, config });
    }
    const app = createApp({
      logger,
      clock,
      authenticator,
      readiness: {},
      routes,
      version: 'test',
      trustProxy: false,
      limits: { perMinute: 100_000, agentPerMinute: 100_000 },
      webDist: '/nonexistent',
    });
    const server: Server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const answers: string[] = [];
    const http: WalletStack['http'] = async (method, path, opts = {}) => {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      if (opts.apiKey) headers['x-api-key'] = opts.apiKey;
      if (opts.body !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(base + path, { method, headers, ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }) });
      const text = await response.text();
      answers.push(`${response.status} ${method} ${path}\n${[...response.headers].map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${text}`);
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      return { status: response.status, headers: response.headers, text, body };
    };

    const expect = (answer: HttpAnswer, status: number, what: string) => {
      if (answer.status !== status) throw new Error(`${what}: expected ${status}, got ${answer.status} ${answer.text.slice(0, 300)}`);
      return answer;
    };

    const newUser: WalletStack['newUser'] = async (prefix = 'u') => {
      const username = `${prefix}-${randomBytes(5).toString('hex')}`;
      const password = `pw-${randomBytes(12).toString('hex')}`;
      const registered = expect(await http('POST', '/api/register', { body: { username, password } }), 201, 'register');
      const login = expect(await http('POST', '/api/login', { body: { username, password } }), 200, 'login');
      const token = login.body.access_token as string;
      const setup = expect(await http('POST', '/api/setup_mfa', { token }), 201, 'setup_mfa');
      const totpSecret = setup.body.secret as string;
      const nextCode = async () => {
        // One accepted code per 30-second step: move to the next step (the clock is the app's clock).
        clock.advance(30_000);
        return generate({ secret: totpSecret, epoch: unixSeconds(clock.now()), period: 30, digits: 6 });
      };
      expect(await http('POST', '/api/confirm_mfa', { token, body: { mfa_code: await nextCode() } }), 200, 'confirm_mfa');
      return { userId: registered.body.user_id as string, username, password, token, secret: totpSecret, nextCode };
    };

    const createAgent: WalletStack['createAgent'] = async (user, walletAddresses) => {
      const created = expect(
        await http('POST', '/api/agents', { token: user.token, body: { name: `agent ${randomBytes(3).toString('hex')}`, mfa_code: await user.nextCode(), ...(walletAddresses ? { wallet_addresses: walletAddresses } : {}) } }),
        201,
        'create agent',
      );
      return { agentId: created.body.agent_id as string, apiKey: created.body.api_key as string };
    };

    const funder = new Wallet(ANVIL_ACCOUNT_0, new JsonRpcProvider(chain.url, chain.chainId, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1 }));
    closers.push(async () => (funder.provider as JsonRpcProvider).destroy());
    const fund: WalletStack['fund'] = async (address, wei) => {
      // Other test files may use account 0 on the shared chain: take the pending nonce, retry if another sender won it.
      for (let attempt = 1; ; attempt += 1) {
        try {
          const nonce = await funder.provider!.getTransactionCount(funder.address, 'pending');
          const sent = await funder.sendTransaction({ to: address, value: wei, nonce });
          const receipt = await receiptOf(funder.provider as JsonRpcProvider, sent.hash);
          if (receipt.status !== 1) throw new Error('funding transaction reverted');
          return;
        } catch (error) {
          if (attempt >= 5 || !/nonce|already known|replacement/i.test(String((error as Error).message))) throw error;
        }
      }
    };

    return {
      db,
      databaseUrl: database.url,
      apiDb,
      workerDb,
      config,
      clock,
      vault,
      chain,
      chainClients,
      apiKeystore,
      workerKeystore,
      audit,
      temporal,
      logs,
      answers,
      base,
      deadChainId,
      http,
      newUser,
      createAgent,
      fund,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Audit rows, oldest first. */
export async function auditRows(db: Db, where: Record<string, unknown> = {}): Promise<Array<{ action: string; actor_type: string; actor_id: string | null; subject_type: string | null; subject_id: string | null; data: Record<string, unknown> }>> {
  return db('audit_events').where(where).orderBy('id', 'asc');
}
