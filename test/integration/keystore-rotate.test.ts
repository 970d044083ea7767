/**
 * Key rotation end to end: real PostgreSQL (a database of its own, migrated),
 * real OpenBao (keys of its own), and the local store. Covers the rotation
 * service, its safety while the service writes concurrently, and the
 * `npm run keys:rotate` script itself.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createDb, migrateLatest, type Db } from '../../lib/db';
import { DEFAULT_ROLE_NAMES } from '../../lib/db-roles';
import { createOwnedDatabase, dropDatabase, roleUrl } from '../support/db';
import { createLocalKeyStore, createVaultKeyStore, generateKeyFile, KeyStoreError, type AdminKeyStore, type KeyPurpose } from '../../domains/keystore';
import { RotationError, rotateKeys, type KeyRotationAuditEvent } from '../../domains/keystore/rotation';
import { provisionIsolated, useTestVault, type Provisioned, type TestVault } from '../support/keystore-openbao';

const TIMEOUT_MS = 3000;
let vault: TestVault;
let databaseName: string;
let databaseUrl: string;
let db: Db;
let tmp: string;
const closers: Array<() => Promise<void>> = [];

// Rotation rewrites ciphertext columns neither app may write: it runs as the schema owner.
before(async () => {
  databaseName = `keystore_rotate_${randomBytes(4).toString('hex')}`;
  await createOwnedDatabase(databaseName);
  databaseUrl = roleUrl('owner', databaseName);
  db = createDb({ url: databaseUrl, poolMax: 5, applicationName: 'keystore-rotate-test' });
  await migrateLatest(db, DEFAULT_ROLE_NAMES);
  vault = await useTestVault();
  tmp = await mkdtemp(path.join(os.tmpdir(), 'keystore-rotate-'));
});

after(async () => {
  for (const close of closers) await close();
  await db?.destroy();
  if (databaseName) await dropDatabase(databaseName);
  await vault?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

beforeEach(async () => {
  // Each test brings its own keys; rows of another test's keys would not rewrap.
  await db('webhooks').del();
  await db('mfa_factors').del();
  await db('wallets').del();
  await db('agents').del();
  await db('users').del();
});

interface Planted {
  wallets: Array<{ id: string; key: Buffer; v1: string }>;
  users: Array<{ id: string; secret: Buffer; v1: string }>;
  hooks: Array<{ id: string; secret: Buffer; v1: string }>;
}

/** Users, an agent, wallets, MFA factors and webhooks whose secrets the given store encrypted. */
async function plant(encrypt: (purpose: KeyPurpose, id: string, plaintext: Buffer) => Promise<string>, counts = { wallets: 7, users: 3, hooks: 2 }): Promise<Planted> {
  const planted: Planted = { wallets: [], users: [], hooks: [] };
  for (let i = 0; i < counts.users; i += 1) {
    const id = randomUUID();
    const secret = randomBytes(20);
    const v1 = await encrypt('mfa', id, secret);
    await db('users').insert({ id, username: `ks-${randomBytes(4).toString('hex')}`, password_hash: 'x' });
    await db('mfa_factors').insert({ id: randomUUID(), user_id: id, state: 'active', secret_ciphertext: v1 });
    planted.users.push({ id, secret, v1 });
  }
  const owner = planted.users[0]?.id ?? randomUUID();
  if (counts.users === 0) await db('users').insert({ id: owner, username: `ks-${randomBytes(4).toString('hex')}`, password_hash: 'x' });
  const agentId = randomUUID();
  await db('agents').insert({ id: agentId, user_id: owner, name: 'agent', key_id: randomBytes(12).toString('hex'), key_digest: randomBytes(32) });
  for (let i = 0; i < counts.wallets; i += 1) {
    const id = randomUUID();
    const key = randomBytes(32);
    const v1 = await encrypt('wallet', id, key);
    await db('wallets').insert({ id, user_id: owner, address: `0x${randomBytes(20).toString('hex')}`, key_ciphertext: v1 });
    planted.wallets.push({ id, key, v1 });
  }
  for (let i = 0; i < counts.hooks; i += 1) {
    const id = randomUUID();
    const secret = randomBytes(32);
    const v1 = await encrypt('webhook', id, secret);
    await db('webhooks').insert({ id, agent_id: agentId, url: 'http://127.0.0.1:9/hook', secret_ciphertext: v1 });
    planted.hooks.push({ id, secret, v1 });
  }
  return planted;
}

async function stored(purpose: KeyPurpose, id: string): Promise<string> {
  if (purpose === 'wallet') return (await db('wallets').where({ id }).first()).key_ciphertext;
  if (purpose === 'mfa') return (await db('mfa_factors').where({ user_id: id }).first()).secret_ciphertext;
  return (await db('webhooks').where({ id }).first()).secret_ciphertext;
}

async function allCiphertexts(): Promise<string[]> {
  return [
    ...(await db('wallets').pluck('key_ciphertext')),
    ...(await db('mfa_factors').pluck('secret_ciphertext')),
    ...(await db('webhooks').pluck('secret_ciphertext')),
  ];
}

async function rejectsWith(promise: Promise<unknown>, code: KeyStoreError['code']) {
  await assert.rejects(promise, (error: unknown) => error instanceof KeyStoreError && error.code === code);
}

interface VaultTrio {
  own: Provisioned;
  api: AdminKeyStore;
  worker: AdminKeyStore;
  operator: AdminKeyStore;
}

async function vaultTrio(): Promise<VaultTrio> {
  const own = await provisionIsolated(vault.addr, vault.rootToken);
  const open = (token: string) => {
    const s = createVaultKeyStore({ addr: vault.addr, token, mount: own.mount, keys: own.keys, timeoutMs: TIMEOUT_MS });
    closers.push(() => s.close());
    return s;
  };
  return { own, api: open(own.apiToken), worker: open(own.workerToken), operator: open(own.operatorToken) };
}

function captureLogger() {
  const lines: Array<{ level: string; fields: unknown; message: string }> = [];
  return {
    lines,
    logger: {
      info: (fields: unknown, message: string) => lines.push({ level: 'info', fields, message }),
      warn: (fields: unknown, message: string) => lines.push({ level: 'warn', fields, message }),
    } as never,
  };
}

describe('rotation with Vault (operator credential: rotate, config, read, rewrap — no decrypt)', () => {
  test('rotates every key, rewraps every row in batches, raises the minimum; old copies stop decrypting', async () => {
    const { api, worker, operator } = await vaultTrio();
    const planted = await plant((p, id, pt) => api.encrypt(p, id, pt));
    const events: KeyRotationAuditEvent[] = [];
    const audit = {
      append: async (event: KeyRotationAuditEvent, trx?: unknown) => {
        events.push(event);
        // A wallet's event commits with its new ciphertext.
        if (event.action === 'wallet.key_rotated') assert.ok(trx && (trx as { isTransaction?: boolean }).isTransaction);
      },
    };
    const report = await rotateKeys({ db, keystore: operator, audit }, { batchSize: 3, minDecryptionVersion: 'latest' });

    assert.equal(report.kind, 'vault');
    assert.deepEqual(
      report.purposes.map((p) => [p.purpose, p.before.latestVersion, p.after.latestVersion, p.after.minDecryptionVersion, p.rewrapped, p.remaining, p.failed.length]),
      [
        ['wallet', 1, 2, 2, 7, 0, 0],
        ['mfa', 1, 2, 2, 3, 0, 0],
        ['webhook', 1, 2, 2, 2, 0, 0],
        // The payload codec's data keys (none stored in this database).
        ['history', 1, 2, 2, 0, 0, 0],
      ],
    );
    for (const ciphertext of await allCiphertexts()) assert.match(ciphertext, /^vault:v2:/);
    for (const w of planted.wallets) {
      assert.deepEqual(await worker.decrypt('wallet', w.id, await stored('wallet', w.id)), w.key);
      await rejectsWith(worker.decrypt('wallet', w.id, w.v1), 'decrypt_failed');
    }
    for (const u of planted.users) assert.deepEqual(await api.decrypt('mfa', u.id, await stored('mfa', u.id)), u.secret);
    for (const h of planted.hooks) assert.deepEqual(await worker.decrypt('webhook', h.id, await stored('webhook', h.id)), h.secret);

    // The credential that did all this cannot read a single key.
    await rejectsWith(operator.decrypt('wallet', planted.wallets[0]!.id, await stored('wallet', planted.wallets[0]!.id)), 'forbidden');
    const walletEvents = events.filter((e) => e.action === 'wallet.key_rotated');
    assert.deepEqual(walletEvents.map((e) => e.subjectId).sort(), planted.wallets.map((w) => w.id).sort());
    assert.ok(walletEvents.every((e) => e.actorType === 'operator' && e.subjectType === 'wallet' && e.data.key_version === 2));
    assert.deepEqual(
      events.filter((e) => e.action === 'keys.rotated').map((e) => [e.action, e.actorType, e.subjectType, e.subjectId, e.data.version_after, e.data.rewrapped, e.data.min_decryption_version]),
      [
        ['keys.rotated', 'operator', 'key', 'wallet', 2, 7, 2],
        ['keys.rotated', 'operator', 'key', 'mfa', 2, 3, 2],
        ['keys.rotated', 'operator', 'key', 'webhook', 2, 2, 2],
        ['keys.rotated', 'operator', 'key', 'history', 2, 0, 2],
      ],
    );
  });

  test('a row the service rewrites mid-rotation keeps the service’s value (compare-and-set)', async () => {
    const { api, operator } = await vaultTrio();
    const planted = await plant((p, id, pt) => api.encrypt(p, id, pt), { wallets: 2, users: 3, hooks: 0 });
    const victim = planted.users[1]!;
    const reenrolled = randomBytes(20);
    let serviceValue = '';
    // Between our read and our write, the API re-enrols the victim's MFA factor.
    const racing: AdminKeyStore = {
      ...operator,
      describe: () => operator.describe(),
      async rewrap(purpose, subjectId, ciphertext) {
        if (purpose === 'mfa' && subjectId === victim.id && !serviceValue) {
          serviceValue = await api.encrypt('mfa', victim.id, reenrolled);
          await db('mfa_factors').where({ user_id: victim.id }).update({ secret_ciphertext: serviceValue });
        }
        return operator.rewrap(purpose, subjectId, ciphertext);
      },
    };
    const report = await rotateKeys({ db, keystore: racing }, { purposes: ['mfa'], batchSize: 10 });
    const mfa = report.purposes[0]!;
    assert.equal(mfa.changedConcurrently, 1);
    assert.equal(mfa.rewrapped, 2);
    assert.equal(mfa.remaining, 0);
    assert.equal(await stored('mfa', victim.id), serviceValue, 'the rotation did not overwrite the service’s write');
    assert.deepEqual(await api.decrypt('mfa', victim.id, serviceValue), reenrolled);
  });

  test('a row locked by the service is skipped, not waited on, and rewrapped on a later pass', async () => {
    const { api, worker, operator } = await vaultTrio();
    const planted = await plant((p, id, pt) => api.encrypt(p, id, pt), { wallets: 4, users: 1, hooks: 0 });
    const held = planted.wallets[2]!;
    const other = createDb({ url: databaseUrl, poolMax: 1, applicationName: 'keystore-rotate-test-holder' });
    try {
      const trx = await other.transaction();
      await trx('wallets').where({ id: held.id }).forUpdate().select('id'); // e.g. the sign activity
      const release = setTimeout(() => void trx.commit(), 700);
      const { lines, logger } = captureLogger();
      const started = Date.now();
      const report = await rotateKeys({ db, keystore: operator, logger }, { purposes: ['wallet'], batchSize: 2, passDelayMs: 400, maxPasses: 10 });
      clearTimeout(release);
      if (!trx.isCompleted()) await trx.commit();
      const wallet = report.purposes[0]!;
      assert.equal(wallet.rewrapped, 4);
      assert.equal(wallet.remaining, 0);
      assert.ok(lines.some((l) => l.message.includes('another pass')), 'the locked row needed another pass');
      assert.ok(Date.now() - started < 5000);
      assert.match(await stored('wallet', held.id), /^vault:v2:/);
      assert.deepEqual(await worker.decrypt('wallet', held.id, await stored('wallet', held.id)), held.key);
    } finally {
      await other.destroy();
    }
  });

  test('the minimum decryption version is not raised while any row still needs the old version', async () => {
    const { api, worker, operator } = await vaultTrio();
    const planted = await plant((p, id, pt) => api.encrypt(p, id, pt), { wallets: 3, users: 1, hooks: 0 });
    // A ciphertext swapped onto another wallet's row cannot be rewrapped (its context differs).
    const [a, b] = planted.wallets as [Planted['wallets'][0], Planted['wallets'][0]];
    await db('wallets').where({ id: b.id }).update({ key_ciphertext: a.v1 });
    const { lines, logger } = captureLogger();
    await assert.rejects(
      rotateKeys({ db, keystore: operator, logger }, { purposes: ['wallet'], minDecryptionVersion: 'latest', maxPasses: 2, passDelayMs: 10 }),
      (error: unknown) => error instanceof RotationError && /1 row\(s\) still need an older version/.test(error.message),
    );
    assert.ok(lines.some((l) => l.level === 'warn' && (l.fields as { id?: string }).id === b.id));
    const info = await operator.readKeyInfo('wallet');
    assert.equal(info.latestVersion, 2);
    assert.equal(info.minDecryptionVersion, 1, 'still 1: the unrewrapped row stays readable');
    assert.deepEqual(await worker.decrypt('wallet', a.id, await stored('wallet', a.id)), a.key);
  });
});

describe('rotation with the local store (decrypts and re-encrypts in process)', () => {
  test('rotate, rewrap, raise the minimum', async () => {
    const keyFile = path.join(tmp, `local-${randomBytes(3).toString('hex')}.key`);
    await generateKeyFile(keyFile);
    const dir = path.join(tmp, `local-${randomBytes(3).toString('hex')}`);
    const service = await createLocalKeyStore({ dir, keyFile });
    const operator = await createLocalKeyStore({ dir, keyFile });
    closers.push(() => service.close(), () => operator.close());
    const planted = await plant((p, id, pt) => service.encrypt(p, id, pt));
    const report = await rotateKeys({ db, keystore: operator }, { batchSize: 4, minDecryptionVersion: 'latest' });
    assert.equal(report.kind, 'local');
    assert.deepEqual(
      report.purposes.map((p) => [p.purpose, p.after.latestVersion, p.after.minDecryptionVersion, p.rewrapped, p.remaining]),
      [
        ['wallet', 2, 2, 7, 0],
        ['mfa', 2, 2, 3, 0],
        ['webhook', 2, 2, 2, 0],
        ['history', 2, 2, 0, 0],
      ],
    );
    for (const ciphertext of await allCiphertexts()) assert.match(ciphertext, /^local:v2:/);
    // The running service (another instance) sees the new versions at once.
    for (const w of planted.wallets) {
      assert.deepEqual(await service.decrypt('wallet', w.id, await stored('wallet', w.id)), w.key);
      await rejectsWith(service.decrypt('wallet', w.id, w.v1), 'decrypt_failed');
    }
    assert.match(await service.encrypt('mfa', randomUUID(), randomBytes(8)), /^local:v2:/);
  });
});

describe('npm run keys:rotate', () => {
  const baseEnv = () => ({
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmp,
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    MIGRATION_DATABASE_URL: databaseUrl,
    JWT_SECRET_KEY: randomBytes(24).toString('hex'),
    AUDIT_HMAC_KEY: randomBytes(24).toString('hex'),
    API_KEY_HMAC_KEY: randomBytes(24).toString('hex'),
  });

  function run(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', path.resolve('scripts/keys-rotate.ts'), ...args], { env, timeout: 60_000 }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      });
    });
  }

  test('with Vault: refuses to run without VAULT_OPERATOR_TOKEN; with it, rotates and rewraps', async () => {
    const { own, api, worker } = await vaultTrio();
    const planted = await plant((p, id, pt) => api.encrypt(p, id, pt), { wallets: 3, users: 1, hooks: 1 });
    const env = {
      ...baseEnv(),
      KEYSTORE: 'vault',
      VAULT_ADDR: vault.addr,
      VAULT_TOKEN: own.workerToken, // the service's credential: must not be what rotation uses
      VAULT_TRANSIT_MOUNT: own.mount,
      VAULT_WALLET_KEY: own.keys.wallet,
      VAULT_MFA_KEY: own.keys.mfa,
      VAULT_WEBHOOK_KEY: own.keys.webhook,
      VAULT_HISTORY_KEY: own.keys.history,
    };
    const refused = await run([], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /VAULT_OPERATOR_TOKEN is required/);
    assert.match((await allCiphertexts())[0]!, /^vault:v1:/);

    const startedAt = new Date(Date.now() - 1000);
    const done = await run(['--min-decryption-version', 'latest', '--batch-size', '2'], { ...env, VAULT_OPERATOR_TOKEN: own.operatorToken });
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /^wallet: version 1 → 2, min decryption 2; rewrapped 3, changed concurrently 0, failed 0, remaining 0$/m);
    assert.match(done.stdout, /^mfa: version 1 → 2, min decryption 2; rewrapped 1/m);
    assert.match(done.stdout, /^webhook: version 1 → 2, min decryption 2; rewrapped 1/m);
    for (const text of [done.stdout, done.stderr]) assert.ok(!text.includes(own.operatorToken) && !text.includes(own.workerToken));
    for (const ciphertext of await allCiphertexts()) assert.match(ciphertext, /^vault:v2:/);
    assert.deepEqual(await worker.decrypt('wallet', planted.wallets[0]!.id, await stored('wallet', planted.wallets[0]!.id)), planted.wallets[0]!.key);
    // Written to the real audit log: a summary per purpose and one event per wallet.
    const audited = await db('audit_events').where('created_at', '>=', startedAt).select('action', 'actor_type', 'subject_type', 'subject_id');
    assert.deepEqual(audited.filter((r) => r.action === 'keys.rotated').map((r) => r.subject_id).sort(), ['history', 'mfa', 'wallet', 'webhook']);
    assert.deepEqual(audited.filter((r) => r.action === 'wallet.key_rotated').map((r) => r.subject_id).sort(), planted.wallets.map((w) => w.id).sort());
    assert.ok(audited.every((r) => r.actor_type === 'operator'));
  });

  test('with the local store: rotates one purpose; a bad flag is refused', async () => {
    const keyFile = path.join(tmp, `cli-${randomBytes(3).toString('hex')}.key`);
    await generateKeyFile(keyFile);
    const dir = path.join(tmp, `cli-${randomBytes(3).toString('hex')}`);
    const service = await createLocalKeyStore({ dir, keyFile });
    closers.push(() => service.close());
    const planted = await plant((p, id, pt) => service.encrypt(p, id, pt), { wallets: 2, users: 1, hooks: 1 });
    const env = { ...baseEnv(), KEYSTORE: 'local', KEYSTORE_DIR: dir, KEYSTORE_KEY_FILE: keyFile };

    const bad = await run(['--purpose', 'everything'], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unknown --purpose everything/);

    const done = await run(['--purpose', 'wallet'], env);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /^wallet: version 1 → 2, min decryption 1; rewrapped 2/m);
    assert.doesNotMatch(done.stdout, /^mfa:/m);
    assert.match(await stored('wallet', planted.wallets[0]!.id), /^local:v2:/);
    assert.match(await stored('mfa', planted.users[0]!.id), /^local:v1:/);
    // Minimum not raised: the old copy still decrypts.
    assert.deepEqual(await service.decrypt('wallet', planted.wallets[0]!.id, planted.wallets[0]!.v1), planted.wallets[0]!.key);
  });
});
