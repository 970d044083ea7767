/**
 * The accounts slice of the API, built in-process against the run's real
 * PostgreSQL (a fresh database per test file) with an injected test clock and
 * the real local key store, served on a loopback port and driven with fetch.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../config/env';
import { createLogger } from '../../lib/logger';
import { createTestClock, unixSeconds, type TestClock } from '../../lib/clock';
import { createApp } from '../../api/app';
import type { AnyRoute } from '../../api/http/route';
import { accountRoutes } from '../../api/routes/accounts';
import { agentRoutes } from '../../api/routes/agents';
import { createLocalKeyStore, generateKeyFile, type LocalKeyStore } from '../../domains/keystore';
import { createAuditLog, type AuditLog } from '../../domains/audit';
import { createAuthenticator, createUserService, type UserService } from '../../domains/users';
import { createMfaService, totpCode, type MfaService } from '../../domains/mfa';
import { createAgentService, type AgentService } from '../../domains/agents';
import { freshDatabase, type TestDatabase } from './db';

export interface AccountsHarness {
  url: string;
  config: Config;
  clock: TestClock;
  database: TestDatabase;
  keystore: LocalKeyStore;
  audit: AuditLog;
  users: UserService;
  mfa: MfaService;
  agents: AgentService;
  /** Test hooks inside the services (e.g. hold MFA checks at a barrier to force a race). */
  hooks: { beforeMfaDecrypt?: (() => Promise<void>) | undefined };
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Environment overrides (e.g. LOGIN_MAX_FAILURES). */
  env?: Record<string, string>;
  /** Extra routes (e.g. a tiny agent-only route). */
  extraRoutes?: AnyRoute[];
  /** Starting instant; defaults to the middle of a TOTP step, so ±10 s never crosses a step. */
  start?: Date;
}

export async function startAccountsApp(options: HarnessOptions = {}): Promise<AccountsHarness> {
  const database = await freshDatabase('acct');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cs-accounts-'));
  const keyFile = path.join(dir, 'master.key');
  await generateKeyFile(keyFile);
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: database.api.url,
    JWT_SECRET_KEY: randomBytes(32).toString('hex'),
    AUDIT_HMAC_KEY: randomBytes(32).toString('hex'),
    API_KEY_HMAC_KEY: randomBytes(32).toString('hex'),
    KEYSTORE: 'local',
    KEYSTORE_KEY_FILE: keyFile,
    KEYSTORE_DIR: path.join(dir, 'keystore'),
    ALLOW_TEST_CLOCK: 'true',
    ...options.env,
  });
  const startAt = options.start ?? midStep(new Date());
  const clock = createTestClock(startAt);
  const keystore = await createLocalKeyStore({ dir: config.KEYSTORE_DIR, keyFile });
  // The services run as the API's role, as in production; database.db (the owner) is for inspection.
  const db = database.api.db;
  const audit = createAuditLog({ db, hmacKey: config.AUDIT_HMAC_KEY!, clock });
  const users = createUserService({ db, clock, config, audit });
  const hooks: AccountsHarness['hooks'] = {};
  const mfaKeystore = {
    encrypt: keystore.encrypt.bind(keystore),
    decrypt: async (...args: Parameters<LocalKeyStore['decrypt']>) => {
      await hooks.beforeMfaDecrypt?.();
      return keystore.decrypt(...args);
    },
  };
  const mfa = createMfaService({ db, keystore: mfaKeystore, clock, config, audit });
  const agents = createAgentService({ db, clock, config, mfa, audit });
  const authenticator = createAuthenticator({ db, clock, config });
  const routes = [...accountRoutes({ users, mfa, config }), ...agentRoutes({ agents }), ...(options.extraRoutes ?? [])];
  const app = createApp({
    logger: createLogger({ level: 'silent', name: 'test' }),
    clock,
    authenticator,
    readiness: {},
    routes,
    version: 'test',
    trustProxy: false,
    limits: { perMinute: 10_000, agentPerMinute: 10_000 },
  });
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    config,
    clock,
    database,
    keystore,
    audit,
    users,
    mfa,
    agents,
    hooks,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await mfa.close();
      await keystore.close();
      await database.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** 15 s into a 30-second TOTP step. */
export function midStep(at: Date): Date {
  const step = Math.floor(at.getTime() / 30_000);
  return new Date(step * 30_000 + 15_000);
}

export interface Answer<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

export async function call<T = Record<string, unknown>>(
  url: string,
  method: string,
  path: string,
  options: { token?: string; apiKey?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.apiKey) headers['x-api-key'] = options.apiKey;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${url}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T, headers: response.headers };
}

/**
 * Resolves once `parties` callers are waiting, or after `timeoutMs` for a
 * caller left alone — so code that serialises its callers still finishes,
 * and code that does not is forced to overlap.
 */
export function barrier(parties: number, timeoutMs: number): () => Promise<void> {
  let waiting: (() => void)[] = [];
  return () =>
    new Promise<void>((resolve) => {
      waiting.push(resolve);
      if (waiting.length >= parties) {
        for (const release of waiting) release();
        waiting = [];
      } else {
        setTimeout(resolve, timeoutMs);
      }
    });
}

let counter = 0;
export const uniqueName = (prefix = 'user') => `${prefix}-${process.pid}-${(counter += 1)}-${randomBytes(3).toString('hex')}`;
export const PASSWORD = 'correct horse battery staple';

/** Registers and logs in a new user; returns its id and an access token. */
export async function newUser(h: AccountsHarness, username = uniqueName()): Promise<{ userId: string; username: string; token: string }> {
  const registered = await call<{ user_id: string }>(h.url, 'POST', '/api/register', { body: { username, password: PASSWORD } });
  if (registered.status !== 201) throw new Error(`register: ${registered.status} ${JSON.stringify(registered.body)}`);
  const login = await call<{ access_token: string }>(h.url, 'POST', '/api/login', { body: { username, password: PASSWORD } });
  if (login.status !== 200) throw new Error(`login: ${login.status} ${JSON.stringify(login.body)}`);
  return { userId: registered.body.user_id, username, token: login.body.access_token };
}

/** The code for the harness clock's current step (`offsetSteps` -1 = the previous step). */
export const codeNow = (h: AccountsHarness, secret: string, offsetSteps = 0) => totpCode(secret, unixSeconds(h.clock.now()) + offsetSteps * 30);

/** Sets up and confirms MFA, then moves the clock to the next step so the caller's first code is fresh. */
export async function enrollMfa(h: AccountsHarness, token: string): Promise<string> {
  const setup = await call<{ secret: string }>(h.url, 'POST', '/api/setup_mfa', { token });
  if (setup.status !== 201) throw new Error(`setup_mfa: ${setup.status} ${JSON.stringify(setup.body)}`);
  const confirm = await call(h.url, 'POST', '/api/confirm_mfa', { token, body: { mfa_code: await codeNow(h, setup.body.secret) } });
  if (confirm.status !== 200) throw new Error(`confirm_mfa: ${confirm.status} ${JSON.stringify(confirm.body)}`);
  h.clock.advance(30_000);
  return setup.body.secret;
}
