/**
 * The PostgreSQL half of `npm run backup` / `npm run restore` (admin/backup.ts) on the real
 * server: a stack with a confirmed request is dumped by the CLI and restored by the CLI into
 * an empty database, which then holds the same rows, sequences past them, working triggers
 * and an intact audit chain. Restores into a non-empty database, of a backup ahead of the
 * code, or of an altered file, are refused. (The OpenBao snapshot needs raft storage, which
 * the run's in-memory OpenBao lacks: test/proof/restore.test.ts restores both halves.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startTestApp, type TestApp } from '../support/app';
import { call, expectStatus, newAgent, newUser, newWallet, randomAddress, waitForStatus } from '../support/actors';
import { createOwnedDatabase, dropDatabase, roleUrl } from '../support/db';
import { BackupError, readBackup, restorePostgres } from '../../admin/backup';
import { createDb, DatabaseAheadError, type Db } from '../../lib/db';
import { DEFAULT_ROLE_NAMES } from '../../lib/db-roles';
import { createAuditLog, verifyChain } from '../../domains/audit';

let app: TestApp;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'countersign-backup-'));
const targets: string[] = [];
before(async () => {
  app = await startTestApp();
});
after(async () => {
  await app?.stop();
  for (const name of targets) await dropDatabase(name);
  fs.rmSync(work, { recursive: true, force: true });
});

function run(script: string, args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', path.resolve(script), ...args], { env: { PATH: process.env.PATH!, ...env }, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

async function emptyDatabase(): Promise<{ name: string; url: string }> {
  const name = `restore_${randomBytes(5).toString('hex')}`;
  await createOwnedDatabase(name);
  targets.push(name);
  return { name, url: roleUrl('owner', name) };
}

/** Every row of every table, as JSON, in a stable order. */
async function contents(db: Db): Promise<Record<string, unknown[]>> {
  const { rows: tables } = (await db.raw(`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE 'knex_migrations%' ORDER BY 1`)) as { rows: { name: string }[] };
  const out: Record<string, unknown[]> = {};
  for (const { name } of tables) {
    const { rows } = (await db.raw(`SELECT to_jsonb(t)::text AS row FROM "${name}" t ORDER BY 1`)) as { rows: { row: string }[] };
    out[name] = rows.map((r) => r.row);
  }
  return out;
}

const roleEnv = { DATABASE_API_ROLE: DEFAULT_ROLE_NAMES.api, DATABASE_WORKER_ROLE: DEFAULT_ROLE_NAMES.worker };

test('backup, then restore into an empty database: the same rows, sequences past them, triggers back on, the audit chain intact', { timeout: 180_000 }, async () => {
  const owner = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner);
  const agent = await newAgent(app.url, owner, [wallet]);
  const prepared = await call<{ transaction_id: string; digest: string }>(app.url, 'POST', '/api/prepare_transaction', {
    apiKey: agent.apiKey,
    body: { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '1000', auto_execute: true },
  });
  expectStatus(prepared, 202, 'prepare');
  const approved = await call(app.url, 'POST', '/api/authorize_transaction', {
    token: owner.token,
    body: { transaction_id: prepared.body.transaction_id, digest: prepared.body.digest, mfa_code: await owner.nextCode() },
  });
  expectStatus(approved, 200, 'approve');
  await waitForStatus(app.url, { token: owner.token }, prepared.body.transaction_id, ['confirmed'], 60_000);

  const dir = path.join(work, 'one');
  const backup = await run('scripts/backup.ts', [dir, '--no-openbao'], { MIGRATION_DATABASE_URL: app.database.url });
  assert.equal(backup.code, 0, backup.stderr);
  assert.match(backup.stdout, /tables, \d+ rows, \d+ migrations/);
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  const manifest = await readBackup(dir);
  assert.equal(manifest.openbao, null);
  assert.ok(manifest.postgres.tables.find((t) => t.name === 'signed_transactions')!.rows >= 1);
  for (const table of manifest.postgres.tables) assert.equal(fs.statSync(path.join(dir, table.file)).mode & 0o777, 0o600, table.file);

  const target = await emptyDatabase();
  const restored = await run('scripts/restore.ts', [dir, '--only', 'postgres'], { MIGRATION_DATABASE_URL: target.url, AUDIT_HMAC_KEY: app.config.AUDIT_HMAC_KEY!, ...roleEnv });
  assert.equal(restored.code, 0, restored.stderr);
  assert.match(restored.stdout, /audit chain intact \(\d+ entries\)/);

  const db = createDb({ url: target.url, poolMax: 2 });
  try {
    assert.deepEqual(await contents(db), await contents(app.database.db));
    const chain = await verifyChain(db, app.config.AUDIT_HMAC_KEY!);
    assert.equal(chain.ok, true);
    // The restored chain goes on (its sequence is past the restored ids), and its triggers are back: UPDATE is refused.
    await createAuditLog({ db, hmacKey: app.config.AUDIT_HMAC_KEY! }).append({ action: 'test.after_restore', actorType: 'system' });
    assert.equal((await verifyChain(db, app.config.AUDIT_HMAC_KEY!)).ok, true);
    await assert.rejects(db('audit_events').update({ action: 'rewritten' }));
    await assert.rejects(db('transactions').where({ id: prepared.body.transaction_id }).update({ value: '1' }), 'frozen columns stay frozen');
  } finally {
    await db.destroy();
  }

  // A second restore into the same database is refused: it is not empty.
  const again = await run('scripts/restore.ts', [dir, '--only', 'postgres'], { MIGRATION_DATABASE_URL: target.url, AUDIT_HMAC_KEY: app.config.AUDIT_HMAC_KEY!, ...roleEnv });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /restore refused: the target database is not empty/);

  // A backup whose migrations this code does not know is refused before anything is loaded.
  const ahead = path.join(work, 'ahead');
  fs.cpSync(dir, ahead, { recursive: true });
  const manifestFile = path.join(ahead, 'manifest.json');
  const edited = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as { postgres: { migrations: string[] } };
  edited.postgres.migrations.push('999_from_the_future.ts');
  fs.writeFileSync(manifestFile, JSON.stringify(edited));
  const fresh = await emptyDatabase();
  await assert.rejects(
    restorePostgres({ url: fresh.url, roles: DEFAULT_ROLE_NAMES, auditHmacKey: app.config.AUDIT_HMAC_KEY!, dir: ahead, manifest: await readBackup(ahead) }),
    (err: unknown) => err instanceof DatabaseAheadError && /999_from_the_future/.test(err.message),
  );
  const check = createDb({ url: fresh.url, poolMax: 1 });
  try {
    assert.equal(await check.schema.hasTable('transactions'), false, 'nothing was migrated');
  } finally {
    await check.destroy();
  }

  // A table file altered after the backup is refused by its SHA-256.
  const altered = path.join(work, 'altered');
  fs.cpSync(dir, altered, { recursive: true });
  fs.appendFileSync(path.join(altered, 'postgres', 'transactions.copy.gz'), 'x');
  await assert.rejects(readBackup(altered), (err: unknown) => err instanceof BackupError && /transactions\.copy\.gz does not match its SHA-256/.test(err.message));
});
