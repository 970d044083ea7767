/**
 * OpenBao provisioning over its HTTP API, shared by the dev/test launcher
 * (scripts/infra/openbao.ts) and the production set-up (scripts/openbao-setup.ts): one
 * definition of the transit keys, the policies and the tokens, so the compose stack gets
 * exactly what the tests prove.
 *
 * Idempotent: transit at transit/, four derived aes256-gcm96 keys (not exportable, no
 * plaintext backup, not deletable), policies countersign-api (encrypt only for wallets),
 * countersign-worker (decrypt only for wallets) — both encrypt and decrypt the Temporal
 * history data keys (countersign-history) — countersign-operator (rotate, config,
 * rewrap, read) and countersign-backup (a raft snapshot, nothing else: docs/operations.md
 * "Backup and restore"), AppRole roles for api and worker, periodic tokens for api, worker,
 * operator and backup.
 */
import { readJsonFile, writePrivateFile } from './secrets';

export const TRANSIT_MOUNT = 'transit';
export const TRANSIT_KEYS = ['countersign-wallets', 'countersign-mfa', 'countersign-webhooks', 'countersign-history'] as const;

/**
 * The security split: the API can seal new wallet keys but never open one; only the
 * worker can, and only when it is about to sign an approved transaction.
 */
export const POLICIES: Record<'countersign-api' | 'countersign-worker' | 'countersign-operator' | 'countersign-backup', string> = {
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
  // `npm run backup`: reads the raft snapshot (sys/storage/raft/snapshot needs `read`, and is
  // sudo-free). The snapshot holds the transit keys sealed by the barrier, so it opens nothing
  // without the unseal keys; restoring (snapshot-force) is done with a fresh server's root token.
  'countersign-backup': rule('sys/storage/raft/snapshot', ['read']),
};

function rule(pathPattern: string, capabilities: string[]): string {
  return `path "${pathPattern}" {\n  capabilities = [${capabilities.map((c) => `"${c}"`).join(', ')}]\n}`;
}

const APPROLES = ['countersign-api', 'countersign-worker'] as const;
/**
 * Periodic tokens never expire while renewed within the period: the API and the worker renew
 * their own (domains/keystore/vault.ts), the dev launcher renews all three on every start.
 */
const TOKEN_PERIOD = '720h';

export interface VaultCredentials {
  apiToken: string;
  workerToken: string;
  operatorToken: string;
  /** countersign-backup: raft snapshots only. */
  backupToken: string;
  apiRoleId: string;
  apiSecretId: string;
  workerRoleId: string;
  workerSecretId: string;
}

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

/**
 * Idempotent: safe on every start, with a fresh or an already provisioned server. Tokens of
 * `credentialsFile` are reused while valid; new ones carry `issuedBy` in their metadata.
 */
export async function provision(root: BaoApi, credentialsFile?: string, issuedBy = 'countersign-local-stack'): Promise<VaultCredentials> {
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
    apiToken: await reuseOrCreateToken(root, previous?.apiToken, 'countersign-api', issuedBy),
    workerToken: await reuseOrCreateToken(root, previous?.workerToken, 'countersign-worker', issuedBy),
    operatorToken: await reuseOrCreateToken(root, previous?.operatorToken, 'countersign-operator', issuedBy),
    backupToken: await reuseOrCreateToken(root, previous?.backupToken, 'countersign-backup', issuedBy),
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

async function reuseOrCreateToken(root: BaoApi, existing: string | undefined, policy: string, issuedBy: string): Promise<string> {
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
    meta: { issued_by: issuedBy },
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
