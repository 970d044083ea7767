/**
 * The local key store against a real directory. Most tests use a key file
 * (instant); the passphrase tests pay for real scrypt (N=2^17, ~0.3–1 s per
 * derivation), so they share one installation and derive only four times.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { createKeyStore, createLocalKeyStore, generateKeyFile, KeyStoreError, LOCAL_SCRYPT, type LocalKeyStore } from '../../domains/keystore';

const WALLET = '2f6c7c52-9a53-4f43-8f1f-0b5b4d3c2a11';
const OTHER_WALLET = '9b0b2f6e-0d1f-4d9e-b6a0-6f3a3e5d7c22';
const PRIVATE_KEY = Buffer.from('4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318', 'hex');

let root: string;
before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'keystore-local-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function freshDir(name: string) {
  return path.join(root, `${name}-${randomBytes(4).toString('hex')}`);
}

async function keyFileStore(name: string): Promise<{ dir: string; keyFile: string; store: LocalKeyStore }> {
  const dir = await freshDir(name);
  const keyFile = path.join(dir, 'master.key');
  await generateKeyFile(keyFile);
  return { dir, keyFile, store: await createLocalKeyStore({ dir, keyFile }) };
}

async function rejectsWith(promise: Promise<unknown>, code: KeyStoreError['code'], message?: RegExp) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof KeyStoreError, `expected a KeyStoreError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (message) assert.match(error.message, message);
    return true;
  });
}

function flipByte(ciphertext: string, index: number): string {
  const [kind, version, body] = ciphertext.split(':') as [string, string, string];
  const bytes = Buffer.from(body, 'base64');
  bytes[index] = bytes[index]! ^ 0x01;
  return `${kind}:${version}:${bytes.toString('base64')}`;
}

describe('local key store with a key file', () => {
  test('round trip for every purpose; format local:v1:<iv|tag|ct>; fresh IV each time', async () => {
    const { store } = await keyFileStore('roundtrip');
    assert.deepEqual(store.describe(), { kind: 'local' });
    await store.ping();
    for (const purpose of ['wallet', 'mfa', 'webhook'] as const) {
      const ciphertext = await store.encrypt(purpose, WALLET, PRIVATE_KEY);
      assert.match(ciphertext, /^local:v1:[A-Za-z0-9+/]+={0,2}$/);
      const body = Buffer.from(ciphertext.split(':')[2]!, 'base64');
      assert.equal(body.length, 12 + 16 + PRIVATE_KEY.length);
      assert.ok(!body.includes(PRIVATE_KEY), 'ciphertext must not contain the plaintext');
      assert.deepEqual(await store.decrypt(purpose, WALLET, ciphertext), PRIVATE_KEY);

      const again = await store.encrypt(purpose, WALLET, PRIVATE_KEY);
      assert.notEqual(again, ciphertext);
      assert.notDeepEqual(Buffer.from(again.split(':')[2]!, 'base64').subarray(0, 12), body.subarray(0, 12));
    }
    await store.close();
  });

  test('any flipped bit (IV, tag or body) fails to decrypt', async () => {
    const { store } = await keyFileStore('tamper');
    const ciphertext = await store.encrypt('wallet', WALLET, PRIVATE_KEY);
    for (const index of [0, 11, 12, 27, 28, 28 + PRIVATE_KEY.length - 1]) {
      await rejectsWith(store.decrypt('wallet', WALLET, flipByte(ciphertext, index)), 'decrypt_failed', /does not decrypt/);
    }
    await rejectsWith(store.decrypt('wallet', WALLET, ciphertext.slice(0, 20)), 'decrypt_failed');
    await rejectsWith(store.decrypt('wallet', WALLET, 'vault:v1:abcd'), 'decrypt_failed', /not a local key store ciphertext/);
    await store.close();
  });

  test('AAD binds subject and purpose: a ciphertext moved to another wallet or purpose fails', async () => {
    const { store } = await keyFileStore('aad');
    const ciphertext = await store.encrypt('wallet', WALLET, PRIVATE_KEY);
    await rejectsWith(store.decrypt('wallet', OTHER_WALLET, ciphertext), 'decrypt_failed');
    await rejectsWith(store.decrypt('webhook', WALLET, ciphertext), 'decrypt_failed');
    await rejectsWith(store.decrypt('mfa', WALLET, ciphertext), 'decrypt_failed');
    assert.deepEqual(await store.decrypt('wallet', WALLET, ciphertext), PRIVATE_KEY);
    await store.close();
  });

  test('files: key file 0600 from generateKeyFile, metadata 0600, directory 0700', async () => {
    const { dir, keyFile, store } = await keyFileStore('modes');
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
    assert.equal((await stat(path.join(dir, 'keystore.json'))).mode & 0o777, 0o600);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    const meta = JSON.parse(await readFile(path.join(dir, 'keystore.json'), 'utf8'));
    assert.equal(meta.source, 'key_file');
    assert.equal(meta.kdf, undefined);
    assert.match(meta.check, /^[A-Za-z0-9+/]{43}=$/);
    await store.close();
  });

  test('a key file readable by group or others is refused', async () => {
    const { dir, keyFile, store } = await keyFileStore('loose');
    await store.close();
    await chmod(keyFile, 0o644);
    await rejectsWith(createLocalKeyStore({ dir, keyFile }), 'forbidden', /mode 644.*chmod 600/);
    await chmod(keyFile, 0o640);
    await rejectsWith(createLocalKeyStore({ dir, keyFile }), 'forbidden');
    await chmod(keyFile, 0o600);
    await (await createLocalKeyStore({ dir, keyFile })).close();
  });

  test('key file formats: raw 32 bytes, 64 hex, base64; anything else is refused', async () => {
    const dir = await freshDir('formats');
    const key = randomBytes(32);
    const raw = path.join(root, `raw-${randomBytes(3).toString('hex')}`);
    const hex = path.join(root, `hex-${randomBytes(3).toString('hex')}`);
    const b64 = path.join(root, `b64-${randomBytes(3).toString('hex')}`);
    const bad = path.join(root, `bad-${randomBytes(3).toString('hex')}`);
    await writeFile(raw, key, { mode: 0o600 });
    await writeFile(hex, `${key.toString('hex')}\n`, { mode: 0o600 });
    await writeFile(b64, `${key.toString('base64')}\n`, { mode: 0o600 });
    await writeFile(bad, randomBytes(31), { mode: 0o600 });
    const first = await createLocalKeyStore({ dir, keyFile: raw });
    const ciphertext = await first.encrypt('wallet', WALLET, PRIVATE_KEY);
    await first.close();
    for (const keyFile of [hex, b64]) {
      const store = await createLocalKeyStore({ dir, keyFile });
      assert.deepEqual(await store.decrypt('wallet', WALLET, ciphertext), PRIVATE_KEY);
      await store.close();
    }
    await rejectsWith(createLocalKeyStore({ dir, keyFile: bad }), 'wrong_passphrase', /exactly 32 bytes/);
    await rejectsWith(createLocalKeyStore({ dir, keyFile: path.join(root, 'missing.key') }), 'unavailable', /cannot be read/);
  });

  test('another key file on the same installation is a clear wrong-key error', async () => {
    const { dir, store } = await keyFileStore('wrongkey');
    await store.close();
    const otherKey = path.join(root, `other-${randomBytes(3).toString('hex')}.key`);
    await generateKeyFile(otherKey);
    await rejectsWith(createLocalKeyStore({ dir, keyFile: otherKey }), 'wrong_passphrase', /does not match this installation/);
  });

  test('rotation: old ciphertexts decrypt, rewrap moves to v2, a raised minimum refuses v1 — in every process', async () => {
    const { dir, keyFile, store } = await keyFileStore('rotate');
    const other = await createLocalKeyStore({ dir, keyFile }); // e.g. the worker, opened before the rotation
    const v1 = await store.encrypt('wallet', WALLET, PRIVATE_KEY);
    const mfaV1 = await store.encrypt('mfa', WALLET, PRIVATE_KEY);
    assert.match(v1, /^local:v1:/);

    const rotated = await store.rotateKey('wallet');
    assert.deepEqual(rotated, { purpose: 'wallet', latestVersion: 2, minDecryptionVersion: 1 });
    assert.deepEqual(await store.readKeyInfo('mfa'), { purpose: 'mfa', latestVersion: 1, minDecryptionVersion: 1 });
    assert.deepEqual(await other.decrypt('wallet', WALLET, v1), PRIVATE_KEY);
    assert.match(await other.encrypt('wallet', WALLET, PRIVATE_KEY), /^local:v2:/, 'the other process picks up the new version');
    assert.match(await store.encrypt('mfa', WALLET, PRIVATE_KEY), /^local:v1:/, 'versions are per purpose');

    const v2 = await store.rewrap('wallet', WALLET, v1);
    assert.match(v2, /^local:v2:/);
    assert.deepEqual(await other.decrypt('wallet', WALLET, v2), PRIVATE_KEY);
    await rejectsWith(store.rewrap('wallet', OTHER_WALLET, v1), 'decrypt_failed');
    // A version header changed by hand does not help: each version has its own key and AAD.
    await rejectsWith(store.decrypt('wallet', WALLET, v1.replace(/^local:v1:/, 'local:v2:')), 'decrypt_failed');
    await rejectsWith(store.decrypt('wallet', WALLET, v1.replace(/^local:v1:/, 'local:v3:')), 'decrypt_failed', /unknown key version/);

    await assert.rejects(store.setMinDecryptionVersion('wallet', 3), TypeError);
    assert.deepEqual(await store.setMinDecryptionVersion('wallet', 2), { purpose: 'wallet', latestVersion: 2, minDecryptionVersion: 2 });
    await rejectsWith(store.decrypt('wallet', WALLET, v1), 'decrypt_failed', /below the minimum decryption version/);
    await rejectsWith(other.decrypt('wallet', WALLET, v1), 'decrypt_failed', /below the minimum decryption version/);
    await rejectsWith(other.rewrap('wallet', WALLET, v1), 'decrypt_failed');
    assert.deepEqual(await other.decrypt('wallet', WALLET, v2), PRIVATE_KEY);
    assert.deepEqual(await other.decrypt('mfa', WALLET, mfaV1), PRIVATE_KEY, 'other purposes are unaffected');

    // The versions survive a restart.
    await store.close();
    await other.close();
    const reopened = await createLocalKeyStore({ dir, keyFile });
    assert.deepEqual(await reopened.readKeyInfo('wallet'), { purpose: 'wallet', latestVersion: 2, minDecryptionVersion: 2 });
    assert.deepEqual(await reopened.decrypt('wallet', WALLET, v2), PRIVATE_KEY);
    await reopened.close();
  });

  test('concurrent first starts (API and worker) end up on one installation', async () => {
    const dir = await freshDir('race');
    const keyFile = path.join(root, `race-${randomBytes(3).toString('hex')}.key`);
    await generateKeyFile(keyFile);
    const stores = await Promise.all([1, 2, 3, 4].map(() => createLocalKeyStore({ dir, keyFile })));
    const ciphertext = await stores[0]!.encrypt('wallet', WALLET, PRIVATE_KEY);
    for (const store of stores) assert.deepEqual(await store.decrypt('wallet', WALLET, ciphertext), PRIVATE_KEY);
    await Promise.all(stores.map((s) => s.close()));
  });

  test('a closed store refuses work; exactly one master secret must be given', async () => {
    const { dir, keyFile, store } = await keyFileStore('closed');
    await store.close();
    await rejectsWith(store.encrypt('wallet', WALLET, PRIVATE_KEY), 'unavailable', /closed/);
    await assert.rejects(createLocalKeyStore({ dir, keyFile, passphrase: 'correct horse battery staple' }), TypeError);
    await assert.rejects(createLocalKeyStore({ dir }), TypeError);
  });
});

describe('local key store with a passphrase (real scrypt N=2^17)', () => {
  const PASSPHRASE = 'correct horse battery staple 42';
  let dir: string;
  let ciphertext: string;

  before(async () => {
    dir = await freshDir('passphrase');
    // Through createKeyStore, as the service opens it.
    const store = await createKeyStore({
      KEYSTORE: 'local',
      KEYSTORE_DIR: dir,
      KEYSTORE_PASSPHRASE: PASSPHRASE,
      KEYSTORE_KEY_FILE: undefined,
      VAULT_ADDR: undefined,
      VAULT_TOKEN: undefined,
      VAULT_ROLE_ID: undefined,
      VAULT_SECRET_ID: undefined,
      VAULT_TRANSIT_MOUNT: 'transit',
      VAULT_WALLET_KEY: 'countersign-wallets',
      VAULT_MFA_KEY: 'countersign-mfa',
      VAULT_WEBHOOK_KEY: 'countersign-webhooks',
      VAULT_HISTORY_KEY: 'countersign-history',
      VAULT_TIMEOUT_MS: 5000,
    });
    assert.deepEqual(store.describe(), { kind: 'local' });
    ciphertext = await store.encrypt('wallet', WALLET, PRIVATE_KEY);
    await store.close();
  });

  test('records scrypt N=2^17, r=8, p=1 and a 32-byte salt', async () => {
    const meta = JSON.parse(await readFile(path.join(dir, 'keystore.json'), 'utf8'));
    assert.deepEqual(meta.kdf, { name: 'scrypt', N: 2 ** 17, r: 8, p: 1 });
    assert.equal(LOCAL_SCRYPT.N, 131072);
    assert.ok(LOCAL_SCRYPT.maxmem >= 256 * 1024 * 1024);
    assert.equal(Buffer.from(meta.salt, 'base64').length, 32);
    assert.equal(meta.source, 'passphrase');
  });

  test('the right passphrase reopens the installation and decrypts', async () => {
    const store = await createLocalKeyStore({ dir, passphrase: PASSPHRASE });
    assert.deepEqual(await store.decrypt('wallet', WALLET, ciphertext), PRIVATE_KEY);
    await store.close();
  });

  test('a wrong passphrase is a clear wrong_passphrase error, not garbage', async () => {
    const started = Date.now();
    await assert.rejects(createLocalKeyStore({ dir, passphrase: 'Correct horse battery staple 42' }), (error: unknown) => {
      assert.ok(error instanceof KeyStoreError);
      assert.equal(error.code, 'wrong_passphrase');
      assert.equal(error.message, 'wrong key store passphrase: KEYSTORE_PASSPHRASE does not match this installation (key-check value differs)');
      const shown = `${error.message}\n${JSON.stringify(error)}\n${inspect(error)}`;
      assert.ok(!shown.includes('orse battery'), 'the passphrase is never echoed');
      return true;
    });
    assert.ok(Date.now() - started > 50, 'the passphrase was really stretched before being judged');
  });

  test('a key file where a passphrase installation exists is refused clearly (no derivation needed)', async () => {
    const keyFile = path.join(root, `pp-${randomBytes(3).toString('hex')}.key`);
    await generateKeyFile(keyFile);
    await rejectsWith(createLocalKeyStore({ dir, keyFile }), 'wrong_passphrase', /created with a passphrase/);
  });
});
