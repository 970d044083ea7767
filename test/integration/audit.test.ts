/**
 * The audit log against the real PostgreSQL: the HMAC chain verifies, never
 * forks under concurrent appends, the database refuses UPDATE/DELETE/TRUNCATE,
 * and a row changed behind the application's back (triggers disabled by a
 * superuser) is found by verifyChain and by `npm run audit:verify`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createAuditLog, verifyChain } from '../../domains/audit';
import { freshDatabase, type TestDatabase } from '../support/db';
import { PASSWORD, call, codeNow, enrollMfa, newUser, startAccountsApp, type AccountsHarness } from '../support/accounts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const KEY = 'audit-test-key-'.padEnd(40, 'x');

let t: TestDatabase;
before(async () => {
  t = await freshDatabase('audit');
});
after(async () => t?.drop());

/** Runs a statement with the append-only triggers switched off, as a superuser could. */
async function behindTheAppsBack(sql: string, bindings: unknown[] = []) {
  await t.db.transaction(async (trx) => {
    await trx.raw('ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only');
    await trx.raw(sql, bindings as never);
    await trx.raw('ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only');
  });
}

async function runVerifyScript(databaseUrl: string, hmacKey: string) {
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'audit-verify.ts')], {
      cwd: ROOT,
      env: { ...process.env, MIGRATION_DATABASE_URL: databaseUrl, AUDIT_HMAC_KEY: hmacKey },
    });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, stdout: e.stdout };
  }
}

describe('chain', () => {
  test('concurrent appends (single and batched) form one unforked chain that verifies', async () => {
    // Appended as the API's role, which may read only the chain's tail; verified as the owner.
    const audit = createAuditLog({ db: t.api.db, hmacKey: KEY });
    const batch = (n: number) => Array.from({ length: 5 }, (_, j) => ({ action: 'test.batch', actorType: 'system' as const, subjectId: `${n}.${j}`, data: { n, j } }));
    await Promise.all([
      ...Array.from({ length: 40 }, (_, i) => audit.append({ action: 'test.event', actorType: 'system', subjectType: 'test', subjectId: String(i), data: { i, nested: { b: [1, 2], a: 'x' } } })),
      ...Array.from({ length: 4 }, (_, n) => audit.appendMany(batch(n))),
    ]);
    // Appends inside a caller's transaction commit (or vanish) with it.
    await t.api.db.transaction(async (trx) => {
      await audit.append({ action: 'test.in_trx', actorType: 'user', actorId: 'u', data: {} }, trx);
    });
    await assert.rejects(
      t.db.transaction(async (trx) => {
        await audit.append({ action: 'test.rolled_back', actorType: 'user' }, trx);
        await audit.appendMany(batch(9), trx);
        throw new Error('rollback');
      }),
    );
    const rows = await t.db('audit_events').orderBy('id');
    assert.equal(rows.length, 61);
    // A batch is contiguous and keeps its order.
    for (let n = 0; n < 4; n += 1) {
      const at = rows.findIndex((r: { subject_id: string }) => r.subject_id === `${n}.0`);
      assert.deepEqual(rows.slice(at, at + 5).map((r: { subject_id: string }) => r.subject_id), [0, 1, 2, 3, 4].map((j) => `${n}.${j}`));
    }
    assert.equal(new Set(rows.map((r: { prev_hmac: string }) => r.prev_hmac)).size, rows.length, 'no two rows share a parent');
    assert.equal(rows[0].prev_hmac, '0'.repeat(64));
    for (let i = 1; i < rows.length; i += 1) assert.equal(rows[i].prev_hmac, rows[i - 1].hmac);
    assert.deepEqual(await verifyChain(t.db, KEY), { ok: true, count: 61 });
    assert.equal((await runVerifyScript(t.url, KEY)).stdout.trim(), 'audit chain OK: 61 events verify');
  });

  test('the database refuses UPDATE, DELETE and TRUNCATE', async () => {
    await assert.rejects(t.db('audit_events').update({ action: 'x' }), /append-only/);
    await assert.rejects(t.db('audit_events').where('id', '>', 0).delete(), /append-only/);
    await assert.rejects(t.db.raw('TRUNCATE audit_events'), /append-only/);
    assert.deepEqual(await verifyChain(t.db, KEY), { ok: true, count: 61 });
  });

  test('a fork is impossible even for a writer that bypasses the lock', async () => {
    const [last] = await t.db('audit_events').orderBy('id', 'desc').limit(1);
    const first = await t.db('audit_events').orderBy('id').first();
    await assert.rejects(
      t.db('audit_events').insert({ ...first, id: Number(last.id) + 1000, hmac: 'a'.repeat(64) }),
      /duplicate key value violates unique constraint/,
    );
  });

  test('the wrong key does not verify', async () => {
    const result = await verifyChain(t.db, 'another-key'.padEnd(40, 'y'));
    assert.equal(result.ok, false);
  });

  test('a row altered behind the app’s back is named by verifyChain and audit:verify (exit 1)', async () => {
    const rows = await t.db('audit_events').orderBy('id');
    const victim = rows[17];
    await behindTheAppsBack(`UPDATE audit_events SET data = jsonb_set(data, '{i}', '999') WHERE id = ?`, [victim.id]);
    assert.deepEqual(await verifyChain(t.db, KEY), { ok: false, brokenId: String(victim.id), reason: 'hmac_mismatch', count: 17 });
    const script = await runVerifyScript(t.url, KEY);
    assert.equal(script.code, 1);
    assert.match(script.stdout, new RegExp(`BROKEN at event id ${victim.id}:`));
    // Put it back (as the attacker could not: they would need the key to make it verify).
    await behindTheAppsBack(`UPDATE audit_events SET data = ?::jsonb WHERE id = ?`, [JSON.stringify(victim.data), victim.id]);
    assert.deepEqual(await verifyChain(t.db, KEY), { ok: true, count: 61 });
  });

  test('a deleted row breaks the link of the one after it', async () => {
    const rows = await t.db('audit_events').orderBy('id');
    await behindTheAppsBack('DELETE FROM audit_events WHERE id = ?', [rows[5].id]);
    assert.deepEqual(await verifyChain(t.db, KEY), { ok: false, brokenId: String(rows[6].id), reason: 'prev_mismatch', count: 5 });
  });
});

describe('account events', () => {
  let h: AccountsHarness;
  before(async () => {
    h = await startAccountsApp();
  });
  after(async () => h?.close());

  test('register, login success/failure, MFA set-up/confirm/failure/replay, agent created/revoked, logout: all audited, no secrets, chain verifies', async () => {
    const { userId, username, token } = await newUser(h);
    await call(h.url, 'POST', '/api/login', { body: { username, password: 'wrong password' } });
    await call(h.url, 'POST', '/api/login', { body: { username: 'nobody-here', password: PASSWORD } });
    const secret = await enrollMfa(h, token);
    const code = await codeNow(h, secret);
    const created = await call(h.url, 'POST', '/api/agents', { token, body: { name: 'audited', mfa_code: code } });
    await call(h.url, 'POST', '/api/agents', { token, body: { name: 'again', mfa_code: code } });
    await call(h.url, 'POST', '/api/agents', { token, body: { name: 'wrong', mfa_code: code === '000000' ? '111111' : '000000' } });
    await call(h.url, 'DELETE', `/api/agents/${created.body.agent_id}`, { token });
    await call(h.url, 'POST', '/api/logout', { token });

    const rows = await h.database.db('audit_events').orderBy('id');
    const actions = rows.map((r: { action: string }) => r.action);
    for (const action of [
      'user.registered',
      'user.login_succeeded',
      'user.login_failed',
      'mfa.setup_started',
      'mfa.confirmed',
      'mfa.replay_refused',
      'mfa.failed',
      'agent.created',
      'agent.revoked',
      'user.logged_out',
    ]) {
      assert.ok(actions.includes(action), `${action} in ${actions.join(', ')}`);
    }
    const unknown = rows.find((r: { action: string; actor_type: string }) => r.action === 'user.login_failed' && r.actor_type === 'anonymous');
    assert.deepEqual(unknown.data, { reason: 'unknown_user' }, 'the attempted username is not recorded');
    const mine = rows.filter((r: { subject_id: string }) => r.subject_id === userId);
    assert.ok(mine.every((r: { request_id: string | null; ip: string | null }) => r.request_id && r.ip), 'request id and address recorded');

    const text = JSON.stringify(rows);
    for (const secretValue of [PASSWORD, 'wrong password', secret, token, created.body.api_key as string]) {
      assert.ok(!text.includes(secretValue), `no secret in the audit log (${secretValue.slice(0, 4)}…)`);
    }
    // A 6-digit code could appear by chance inside a hex HMAC, so look for where one would be put instead.
    const keys = (value: unknown): string[] =>
      value && typeof value === 'object' ? Object.entries(value).flatMap(([k, v]) => [k, ...keys(v)]) : [];
    for (const row of rows) assert.ok(!keys(row.data).some((k) => /code|password|secret|token|api_key/i.test(k)), JSON.stringify(row.data));
    assert.ok(!rows.some((r: { data: unknown }) => JSON.stringify(r.data).includes(`"${code}"`)), 'no code as a value');
    assert.deepEqual(await verifyChain(h.database.db, h.config.AUDIT_HMAC_KEY!), { ok: true, count: rows.length });
  });
});
