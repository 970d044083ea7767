/**
 * The Vault key store against a real OpenBao: the harness's (VAULT_ADDR,
 * VAULT_ROOT_TOKEN, VAULT_API_TOKEN, VAULT_WORKER_TOKEN, VAULT_OPERATOR_TOKEN)
 * or, without a harness, a `bao server -dev` started here and provisioned with
 * the agreed layout. Tests that rotate keys use keys of their own.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { createKeyStore, createVaultKeyStore, KeyStoreError, type KeyPurpose, type VaultKeyStore } from '../../domains/keystore';
import {
  AGREED_KEYS,
  provisionAppRole,
  provisionIsolated,
  provisionTransit,
  startDevBao,
  useTestVault,
  vaultApi,
  type Provisioned,
  type TestVault,
} from '../support/keystore-openbao';

const TIMEOUT_MS = 2000;
const PRIVATE_KEY = Buffer.from('4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318', 'hex');
const PLAINTEXT_FORMS = [PRIVATE_KEY.toString('hex'), PRIVATE_KEY.toString('base64')];

let vault: TestVault;
/** The layout the services use: the harness's tokens, or our own provisioning of the agreed names. */
let layout: Pick<Provisioned, 'mount' | 'keys' | 'apiToken' | 'workerToken'> & { operatorToken?: string };
const opened: VaultKeyStore[] = [];
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

function store(token: string, keys = layout.keys, extra: Partial<Parameters<typeof createVaultKeyStore>[0]> = {}): VaultKeyStore {
  const s = createVaultKeyStore({ addr: vault.addr, token, mount: layout.mount, keys, timeoutMs: TIMEOUT_MS, ...extra });
  opened.push(s);
  return s;
}

async function rejectsWith(promise: Promise<unknown>, code: KeyStoreError['code'], check?: (error: KeyStoreError) => void): Promise<KeyStoreError> {
  let caught: KeyStoreError | undefined;
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof KeyStoreError, `expected a KeyStoreError, got ${inspect(error)}`);
    assert.equal(error.code, code, error.message);
    check?.(error);
    caught = error;
    return true;
  });
  return caught!;
}

/** Everything a log line, an HTTP 5xx body or a Temporal failure could show of an error. */
function assertCarriesNoSecret(error: KeyStoreError, secrets: string[]) {
  assert.equal(error.cause, undefined, 'a key store error never carries its cause');
  const shown = [error.message, error.stack ?? '', JSON.stringify(error), inspect(error, { showHidden: true, depth: 20 }), String(error)].join('\n');
  for (const secret of secrets) assert.ok(!shown.includes(secret), `error shows a secret (${secret.slice(0, 6)}…)`);
}

before(async () => {
  process.on('unhandledRejection', onUnhandled);
  vault = await useTestVault();
  const env = process.env;
  if (vault.shared && env.VAULT_API_TOKEN && env.VAULT_WORKER_TOKEN) {
    layout = {
      mount: env.VAULT_TRANSIT_MOUNT ?? 'transit',
      keys: { wallet: env.VAULT_WALLET_KEY ?? AGREED_KEYS.wallet, mfa: env.VAULT_MFA_KEY ?? AGREED_KEYS.mfa, webhook: env.VAULT_WEBHOOK_KEY ?? AGREED_KEYS.webhook, history: env.VAULT_HISTORY_KEY ?? AGREED_KEYS.history },
      apiToken: env.VAULT_API_TOKEN,
      workerToken: env.VAULT_WORKER_TOKEN,
      ...(env.VAULT_OPERATOR_TOKEN ? { operatorToken: env.VAULT_OPERATOR_TOKEN } : {}),
    };
  } else {
    layout = vault.shared ? await provisionIsolated(vault.addr, vault.rootToken) : await provisionTransit(vault.addr, vault.rootToken);
  }
});

after(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await vault.stop();
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(unhandled, [], 'no raw node-vault rejection may go unhandled');
});

describe('Vault key store: separation of duties', () => {
  test('round trips: wallet and webhook (API encrypts, worker decrypts), MFA (API both)', async () => {
    const api = store(layout.apiToken);
    const worker = store(layout.workerToken);
    assert.deepEqual(api.describe(), { kind: 'vault' });
    await api.ping();
    const walletId = randomUUID();
    const wallet = await api.encrypt('wallet', walletId, PRIVATE_KEY);
    assert.match(wallet, /^vault:v\d+:/);
    assert.deepEqual(await worker.decrypt('wallet', walletId, wallet), PRIVATE_KEY);

    const hookId = randomUUID();
    const hook = await api.encrypt('webhook', hookId, Buffer.from('whsec_abc'));
    assert.equal((await worker.decrypt('webhook', hookId, hook)).toString(), 'whsec_abc');

    const userId = randomUUID();
    const mfa = await api.encrypt('mfa', userId, Buffer.from('JBSWY3DPEHPK3PXP'));
    assert.equal((await api.decrypt('mfa', userId, mfa)).toString(), 'JBSWY3DPEHPK3PXP');
  });

  test('the API credential cannot decrypt a wallet key: 403 from Vault → forbidden, with nothing secret in the error', async () => {
    const api = store(layout.apiToken);
    const walletId = randomUUID();
    const ciphertext = await api.encrypt('wallet', walletId, PRIVATE_KEY);
    const error = await rejectsWith(api.decrypt('wallet', walletId, ciphertext), 'forbidden', (e) => {
      assert.equal(e.status, 403);
      assert.equal(e.message, 'key store credential may not decrypt wallet keys');
      assert.equal(e.retryable, false);
    });
    assertCarriesNoSecret(error, [layout.apiToken, ...PLAINTEXT_FORMS, ciphertext]);
    assert.deepEqual(JSON.parse(JSON.stringify(error)), { name: 'KeyStoreError', code: 'forbidden', message: 'key store credential may not decrypt wallet keys', status: 403, retryable: false });
    await rejectsWith(api.decrypt('webhook', walletId, ciphertext), 'forbidden');
  });

  test('the worker credential cannot encrypt anything, nor touch MFA secrets', async () => {
    const worker = store(layout.workerToken);
    const api = store(layout.apiToken);
    for (const purpose of ['wallet', 'mfa', 'webhook'] as KeyPurpose[]) {
      const error = await rejectsWith(worker.encrypt(purpose, randomUUID(), PRIVATE_KEY), 'forbidden', (e) => assert.equal(e.status, 403));
      assertCarriesNoSecret(error, [layout.workerToken, ...PLAINTEXT_FORMS]);
    }
    const userId = randomUUID();
    const mfa = await api.encrypt('mfa', userId, Buffer.from('JBSWY3DPEHPK3PXP'));
    await rejectsWith(worker.decrypt('mfa', userId, mfa), 'forbidden');
  });

  test('a ciphertext moved to another subject (or purpose) does not decrypt', async () => {
    const api = store(layout.apiToken);
    const worker = store(layout.workerToken);
    const a = randomUUID();
    const b = randomUUID();
    const ciphertext = await api.encrypt('wallet', a, PRIVATE_KEY);
    const error = await rejectsWith(worker.decrypt('wallet', b, ciphertext), 'decrypt_failed', (e) => assert.equal(e.status, 400));
    assertCarriesNoSecret(error, [layout.workerToken, ...PLAINTEXT_FORMS]);
    await rejectsWith(worker.decrypt('webhook', a, ciphertext), 'decrypt_failed');
    const userA = randomUUID();
    const mfa = await api.encrypt('mfa', userA, Buffer.from('JBSWY3DPEHPK3PXP'));
    await rejectsWith(api.decrypt('mfa', randomUUID(), mfa), 'decrypt_failed');
    await rejectsWith(worker.decrypt('wallet', a, 'vault:v1:not-base64!'), 'decrypt_failed', (e) => assert.equal(e.status, undefined));
    assert.deepEqual(await worker.decrypt('wallet', a, ciphertext), PRIVATE_KEY);
  });

  test('createKeyStore(config) builds the Vault store from configuration', async () => {
    const fromConfig = await createKeyStore({
      KEYSTORE: 'vault',
      VAULT_ADDR: vault.addr,
      VAULT_TOKEN: layout.workerToken,
      VAULT_ROLE_ID: undefined,
      VAULT_SECRET_ID: undefined,
      VAULT_TRANSIT_MOUNT: layout.mount,
      VAULT_WALLET_KEY: layout.keys.wallet,
      VAULT_MFA_KEY: layout.keys.mfa,
      VAULT_WEBHOOK_KEY: layout.keys.webhook,
      VAULT_HISTORY_KEY: layout.keys.history,
      VAULT_TIMEOUT_MS: TIMEOUT_MS,
      KEYSTORE_PASSPHRASE: undefined,
      KEYSTORE_KEY_FILE: undefined,
      KEYSTORE_DIR: '.data/keystore-unused',
    });
    try {
      assert.deepEqual(fromConfig.describe(), { kind: 'vault' });
      const walletId = randomUUID();
      const ciphertext = await store(layout.apiToken).encrypt('wallet', walletId, PRIVATE_KEY);
      assert.deepEqual(await fromConfig.decrypt('wallet', walletId, ciphertext), PRIVATE_KEY);
    } finally {
      await fromConfig.close();
    }
  });
});

describe('Vault key store: failures are quick, safe and classified', () => {
  test('unreachable Vault → unavailable at once', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: p } = server.address() as net.AddressInfo;
        server.close(() => resolve(p));
      });
    });
    const token = `s.${randomBytes(16).toString('hex')}`;
    const dead = createVaultKeyStore({ addr: `http://127.0.0.1:${port}`, token, mount: 'transit', keys: AGREED_KEYS, timeoutMs: TIMEOUT_MS });
    const started = Date.now();
    const error = await rejectsWith(dead.encrypt('wallet', randomUUID(), PRIVATE_KEY), 'unavailable', (e) => {
      assert.equal(e.message, 'key store is unreachable (encrypt)');
      assert.equal(e.retryable, true);
    });
    assert.ok(Date.now() - started < 1000, 'a refused connection fails fast');
    assertCarriesNoSecret(error, [token, ...PLAINTEXT_FORMS]);
    await rejectsWith(dead.ping(), 'unavailable');
    await dead.close();
  });

  test('a Vault that accepts but never answers → unavailable after VAULT_TIMEOUT_MS, not a hang', async () => {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket); // read the request, never answer
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const { port } = server.address() as net.AddressInfo;
    const token = `s.${randomBytes(16).toString('hex')}`;
    const silent = createVaultKeyStore({ addr: `http://127.0.0.1:${port}`, token, mount: 'transit', keys: AGREED_KEYS, timeoutMs: 300 });
    try {
      for (const attempt of [() => silent.encrypt('wallet', randomUUID(), PRIVATE_KEY), () => silent.ping()]) {
        const started = Date.now();
        const error = await rejectsWith(attempt(), 'unavailable', (e) => assert.match(e.message, /did not answer within 300 ms/));
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 250 && elapsed < 1500, `gave up after ${elapsed} ms`);
        assertCarriesNoSecret(error, [token, ...PLAINTEXT_FORMS]);
      }
    } finally {
      await silent.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test('a sealed Vault → sealed (own dev server, so nobody else is disturbed)', async () => {
    const bao = await startDevBao();
    try {
      const own = await provisionTransit(bao.addr, bao.rootToken);
      const api = createVaultKeyStore({ addr: bao.addr, token: own.apiToken, mount: own.mount, keys: own.keys, timeoutMs: TIMEOUT_MS });
      await api.ping();
      await vaultApi(bao.addr, bao.rootToken, 'PUT', 'sys/seal');
      await rejectsWith(api.ping(), 'sealed', (e) => assert.equal(e.message, 'key store is sealed'));
      const error = await rejectsWith(api.encrypt('wallet', randomUUID(), PRIVATE_KEY), 'sealed', (e) => assert.equal(e.retryable, true));
      assertCarriesNoSecret(error, [own.apiToken, ...PLAINTEXT_FORMS]);
      await api.close();
    } finally {
      await bao.stop();
    }
  });

  test("node-vault's debug output (DEBUG=*) never prints the plaintext or the token", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'keystore-debug-'));
    try {
      const script = path.join(dir, 'child.mts');
      const storeModule = path.resolve('domains/keystore/vault.ts');
      await writeFile(
        script,
        `import { createVaultKeyStore } from ${JSON.stringify(storeModule)};
const s = createVaultKeyStore({ addr: process.env.T_ADDR, token: process.env.T_TOKEN, mount: process.env.T_MOUNT, keys: JSON.parse(process.env.T_KEYS), timeoutMs: 5000 });
const c = await s.encrypt('wallet', 'w-debug', Buffer.from(process.env.T_PLAIN, 'hex'));
console.log(c.startsWith('vault:') ? 'ENCRYPTED' : 'FAILED');
await s.close();
`,
      );
      const output = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
        execFile(
          process.execPath,
          ['--import', 'tsx', script],
          {
            env: { ...process.env, DEBUG: '*', T_ADDR: vault.addr, T_TOKEN: layout.apiToken, T_MOUNT: layout.mount, T_KEYS: JSON.stringify(layout.keys), T_PLAIN: PRIVATE_KEY.toString('hex') },
            timeout: 30_000,
          },
          (error, stdout, stderr) => (error ? reject(Object.assign(error, { stderr })) : resolve({ stdout, stderr })),
        );
      });
      assert.match(output.stdout, /ENCRYPTED/);
      for (const secret of [layout.apiToken, ...PLAINTEXT_FORMS]) {
        assert.ok(!output.stdout.includes(secret) && !output.stderr.includes(secret), 'debug output shows a secret');
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Vault key store: AppRole', () => {
  let own: Provisioned;
  before(async () => {
    own = await provisionIsolated(vault.addr, vault.rootToken);
  });

  test('logs in, and logs in again when its token is revoked or expires', async () => {
    const { roleId, secretId } = await provisionAppRole(vault.addr, vault.rootToken, own.policies.worker, { tokenTtl: '2s', tokenMaxTtl: '2s' });
    const api = store(own.apiToken, own.keys);
    const worker = createVaultKeyStore({ addr: vault.addr, roleId, secretId, mount: own.mount, keys: own.keys, timeoutMs: TIMEOUT_MS });
    opened.push(worker);
    await worker.ping();
    const walletId = randomUUID();
    const ciphertext = await api.encrypt('wallet', walletId, PRIVATE_KEY);
    assert.deepEqual(await worker.decrypt('wallet', walletId, ciphertext), PRIVATE_KEY);

    // Revoke every token the AppRole issued: the next call meets a 403, logs in again, succeeds.
    await vaultApi(vault.addr, vault.rootToken, 'PUT', 'sys/leases/revoke-prefix/auth/approle/login');
    assert.deepEqual(await worker.decrypt('wallet', walletId, ciphertext), PRIVATE_KEY);

    // Let the token reach its max TTL (renewal cannot extend it).
    await new Promise((resolve) => setTimeout(resolve, 2600));
    assert.deepEqual(await worker.decrypt('wallet', walletId, ciphertext), PRIVATE_KEY);

    // Its policy still rules: the worker role cannot encrypt, even after a fresh login.
    await rejectsWith(worker.encrypt('wallet', walletId, PRIVATE_KEY), 'forbidden');
  });

  test('a wrong secret id is forbidden, and the secret id never shows', async () => {
    const { roleId } = await provisionAppRole(vault.addr, vault.rootToken, own.policies.worker, { tokenTtl: '1m', tokenMaxTtl: '1m' });
    const wrongSecret = randomUUID();
    const worker = createVaultKeyStore({ addr: vault.addr, roleId, secretId: wrongSecret, mount: own.mount, keys: own.keys, timeoutMs: TIMEOUT_MS });
    opened.push(worker);
    const error = await rejectsWith(worker.ping(), 'forbidden', (e) => assert.match(e.message, /AppRole login/));
    assertCarriesNoSecret(error, [wrongSecret, roleId]);
    await rejectsWith(worker.decrypt('wallet', randomUUID(), 'vault:v1:AAAA'), 'forbidden');
  });
});

describe('Vault key store: rotation with the operator credential', () => {
  let own: Provisioned;
  before(async () => {
    own = await provisionIsolated(vault.addr, vault.rootToken);
  });

  test('keys are derived aes256-gcm96, not exportable, no plaintext backup, not deletable', async () => {
    const operator = store(own.operatorToken, own.keys);
    for (const purpose of ['wallet', 'mfa', 'webhook'] as KeyPurpose[]) {
      const info = await operator.readKeyInfo(purpose);
      assert.deepEqual(
        { type: info.type, derived: info.derived, exportable: info.exportable, allowPlaintextBackup: info.allowPlaintextBackup, deletionAllowed: info.deletionAllowed },
        { type: 'aes256-gcm96', derived: true, exportable: false, allowPlaintextBackup: false, deletionAllowed: false },
      );
    }
    if (layout.operatorToken) {
      // The layout the services really use (the harness's, when there is one).
      const shared = store(layout.operatorToken);
      const info = await shared.readKeyInfo('wallet');
      assert.equal(info.derived, true);
      assert.equal(info.exportable, false);
    }
  });

  test('old ciphertexts decrypt after rotation; rewrap yields v2; after min_decryption_version=2 a v1 ciphertext fails', async () => {
    const api = store(own.apiToken, own.keys);
    const worker = store(own.workerToken, own.keys);
    const operator = store(own.operatorToken, own.keys);
    const walletId = randomUUID();
    const v1 = await api.encrypt('wallet', walletId, PRIVATE_KEY);
    assert.match(v1, /^vault:v1:/);

    const rotated = await operator.rotateKey('wallet');
    assert.equal(rotated.latestVersion, 2);
    assert.equal(rotated.minDecryptionVersion, 1);
    assert.deepEqual(await worker.decrypt('wallet', walletId, v1), PRIVATE_KEY, 'v1 still decrypts');
    assert.match(await api.encrypt('wallet', randomUUID(), PRIVATE_KEY), /^vault:v2:/, 'new encryptions use v2');

    const v2 = await operator.rewrap('wallet', walletId, v1);
    assert.match(v2, /^vault:v2:/);
    assert.deepEqual(await worker.decrypt('wallet', walletId, v2), PRIVATE_KEY);
    await rejectsWith(operator.rewrap('wallet', randomUUID(), v1), 'decrypt_failed');

    // The operator rotates and rewraps but can never read a key; others cannot rotate.
    const denied = await rejectsWith(operator.decrypt('wallet', walletId, v2), 'forbidden');
    assertCarriesNoSecret(denied, [own.operatorToken, ...PLAINTEXT_FORMS]);
    await rejectsWith(operator.encrypt('wallet', walletId, PRIVATE_KEY), 'forbidden');
    await rejectsWith(api.rotateKey('wallet'), 'forbidden');
    await rejectsWith(worker.rewrap('wallet', walletId, v1), 'forbidden');
    await rejectsWith(api.setMinDecryptionVersion('wallet', 2), 'forbidden');

    const raised = await operator.setMinDecryptionVersion('wallet', 2);
    assert.equal(raised.minDecryptionVersion, 2);
    await rejectsWith(worker.decrypt('wallet', walletId, v1), 'decrypt_failed', (e) => assert.match(e.message, /below the minimum decryption version/));
    await rejectsWith(operator.rewrap('wallet', walletId, v1), 'decrypt_failed');
    assert.deepEqual(await worker.decrypt('wallet', walletId, v2), PRIVATE_KEY);

    // Other purposes have their own keys and versions.
    assert.equal((await operator.readKeyInfo('webhook')).latestVersion, 1);
  });
});
