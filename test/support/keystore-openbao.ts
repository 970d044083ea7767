/**
 * OpenBao for the key-store tests: starts `bao server -dev` on free loopback
 * ports when the harness has not provided one, and provisions transit keys,
 * policies and tokens with the agreed layout (see docs/architecture.md, "Key
 * separation"): three derived aes256-gcm96 keys, not exportable, no plaintext
 * backup, no deletion; api = encrypt wallets/webhooks + encrypt/decrypt MFA;
 * worker = decrypt wallets/webhooks; operator = rotate/config/read/rewrap.
 *
 * Tests that change keys (rotation, minimum decryption version) provision
 * their own uniquely named keys so a shared server's keys are never touched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { baoBinary } from '../../scripts/infra/paths';
import type { KeyPurpose } from '../../domains/keystore/types';

export interface DevBao {
  addr: string;
  rootToken: string;
  stop(): Promise<void>;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A free port whose successor is free too (OpenBao binds port + 1 for its cluster listener). */
export async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port: p } = server.address() as net.AddressInfo;
        server.close(() => resolve(p));
      });
    });
    if (port < 65000 && (await portFree(port + 1))) return port;
  }
  throw new Error('no free port pair on 127.0.0.1');
}

export async function startDevBao(): Promise<DevBao> {
  const port = await freePortPair();
  const rootToken = `root-${randomBytes(12).toString('hex')}`;
  const home = mkdtempSync(path.join(os.tmpdir(), 'keystore-bao-'));
  // The root token goes through the environment, not argv, so it never shows in `ps`.
  const child: ChildProcess = spawn(baoBinary(), ['server', '-dev', `-dev-listen-address=127.0.0.1:${port}`, '-dev-no-store-token'], {
    env: { PATH: process.env.PATH, HOME: home, BAO_DEV_ROOT_TOKEN_ID: rootToken },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const addr = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`bao server -dev exited (${child.exitCode}): ${stderr}`);
    try {
      const response = await fetch(`${addr}/v1/sys/health`, { signal: AbortSignal.timeout(1000) });
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`bao server -dev did not become healthy: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    addr,
    rootToken,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** A raw call to Vault's HTTP API (test provisioning only). */
export async function vaultApi(addr: string, token: string, method: string, apiPath: string, body?: unknown): Promise<any> { // eslint-disable-line @typescript-eslint/no-explicit-any -- Vault answers vary by endpoint; callers read the fields they need
  const response = await fetch(`${addr}/v1/${apiPath}`, {
    method,
    headers: { 'X-Vault-Token': token, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`vault ${method} ${apiPath}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

export const AGREED_KEYS: Record<KeyPurpose, string> = { wallet: 'countersign-wallets', mfa: 'countersign-mfa', webhook: 'countersign-webhooks', history: 'countersign-history' };

export interface Provisioned {
  mount: string;
  keys: Record<KeyPurpose, string>;
  policies: { api: string; worker: string; operator: string };
  apiToken: string;
  workerToken: string;
  operatorToken: string;
}

function policyText(mount: string, keys: Record<KeyPurpose, string>) {
  const update = (p: string) => `path "${mount}/${p}" {\n  capabilities = ["update"]\n}\n`;
  return {
    api: [update(`encrypt/${keys.wallet}`), update(`encrypt/${keys.mfa}`), update(`decrypt/${keys.mfa}`), update(`encrypt/${keys.webhook}`), update(`encrypt/${keys.history}`), update(`decrypt/${keys.history}`)].join(''),
    worker: [update(`decrypt/${keys.wallet}`), update(`decrypt/${keys.webhook}`), update(`encrypt/${keys.history}`), update(`decrypt/${keys.history}`)].join(''),
    operator: Object.values(keys)
      .map((k) => [update(`keys/${k}/rotate`), update(`keys/${k}/config`), update(`rewrap/${k}`), `path "${mount}/keys/${k}" {\n  capabilities = ["read"]\n}\n`].join(''))
      .join(''),
  };
}

export async function createToken(addr: string, rootToken: string, policy: string, ttl = '1h'): Promise<string> {
  const result = await vaultApi(addr, rootToken, 'POST', 'auth/token/create', { policies: [policy], ttl, renewable: true, no_parent: true });
  return result.auth.client_token as string;
}

/** Idempotent: enables the mount if needed, creates the keys, writes policies, issues fresh tokens. */
export async function provisionTransit(addr: string, rootToken: string, options: { mount?: string; keys?: Record<KeyPurpose, string>; policyPrefix?: string } = {}): Promise<Provisioned> {
  const mount = options.mount ?? 'transit';
  const keys = options.keys ?? AGREED_KEYS;
  const prefix = options.policyPrefix ?? 'countersign';
  const mounts = await vaultApi(addr, rootToken, 'GET', 'sys/mounts');
  if (!mounts.data?.[`${mount}/`] && !mounts[`${mount}/`]) await vaultApi(addr, rootToken, 'POST', `sys/mounts/${mount}`, { type: 'transit' });
  for (const name of Object.values(keys)) {
    await vaultApi(addr, rootToken, 'POST', `${mount}/keys/${name}`, { type: 'aes256-gcm96', derived: true, exportable: false, allow_plaintext_backup: false });
    await vaultApi(addr, rootToken, 'POST', `${mount}/keys/${name}/config`, { deletion_allowed: false });
  }
  const texts = policyText(mount, keys);
  const policies = { api: `${prefix}-api`, worker: `${prefix}-worker`, operator: `${prefix}-operator` };
  for (const role of ['api', 'worker', 'operator'] as const) {
    await vaultApi(addr, rootToken, 'PUT', `sys/policies/acl/${policies[role]}`, { policy: texts[role] });
  }
  return {
    mount,
    keys,
    policies,
    apiToken: await createToken(addr, rootToken, policies.api),
    workerToken: await createToken(addr, rootToken, policies.worker),
    operatorToken: await createToken(addr, rootToken, policies.operator),
  };
}

/** Keys and policies unique to one test, so rotating them cannot disturb anyone else. */
export async function provisionIsolated(addr: string, rootToken: string): Promise<Provisioned> {
  const suffix = randomBytes(4).toString('hex');
  return provisionTransit(addr, rootToken, {
    keys: { wallet: `countersign-wallets-t${suffix}`, mfa: `countersign-mfa-t${suffix}`, webhook: `countersign-webhooks-t${suffix}`, history: `countersign-history-t${suffix}` },
    policyPrefix: `countersign-t${suffix}`,
  });
}

export interface TestVault {
  addr: string;
  rootToken: string;
  /** True when the harness provided the server (VAULT_ADDR + VAULT_ROOT_TOKEN). */
  shared: boolean;
  stop(): Promise<void>;
}

/** The harness's OpenBao if it gave one, else a dev server of our own. */
export async function useTestVault(): Promise<TestVault> {
  const addr = process.env.VAULT_ADDR;
  const rootToken = process.env.VAULT_ROOT_TOKEN;
  if (addr && rootToken) return { addr, rootToken, shared: true, stop: async () => {} };
  const bao = await startDevBao();
  return { addr: bao.addr, rootToken: bao.rootToken, shared: false, stop: () => bao.stop() };
}

/** AppRole login for a policy: returns role and secret ids (secret id reusable, so the store can log in again). */
export async function provisionAppRole(addr: string, rootToken: string, policy: string, options: { tokenTtl: string; tokenMaxTtl: string }): Promise<{ roleId: string; secretId: string }> {
  const auths = await vaultApi(addr, rootToken, 'GET', 'sys/auth');
  if (!auths.data?.['approle/'] && !auths['approle/']) await vaultApi(addr, rootToken, 'POST', 'sys/auth/approle', { type: 'approle' });
  const role = `ks-${randomBytes(4).toString('hex')}`;
  await vaultApi(addr, rootToken, 'POST', `auth/approle/role/${role}`, { token_policies: [policy], token_ttl: options.tokenTtl, token_max_ttl: options.tokenMaxTtl, secret_id_num_uses: 0 });
  const roleId = (await vaultApi(addr, rootToken, 'GET', `auth/approle/role/${role}/role-id`)).data.role_id as string;
  const secretId = (await vaultApi(addr, rootToken, 'POST', `auth/approle/role/${role}/secret-id`, {})).data.secret_id as string;
  return { roleId, secretId };
}
