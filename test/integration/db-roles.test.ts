/**
 * The API/worker split in PostgreSQL (lib/db-roles.ts), through real
 * connections as each role: what each may not write, that neither can alter,
 * truncate or drop anything or switch the audit triggers off, that every
 * table of the schema is granted on purpose, and that the apps refuse to
 * start as the wrong role or on a schema that is behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto, { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { assertSchemaCurrent, createDb, migrateLatest, migrateRollbackAll, SchemaBehindError } from '../../lib/db';
import { applyGrants, assertPrivileges, checkPrivileges, DEFAULT_ROLE_NAMES, TABLE_GRANTS, unmappedTableHint, WrongDatabaseRoleError, type AppRole } from '../../lib/db-roles';
import { createOwnedDatabase, dropDatabase, freshDatabase, roleUrl, type TestDatabase } from '../support/db';

let database: TestDatabase;
const clients: pg.Client[] = [];

async function connectAs(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  clients.push(client);
  return client;
}

let asApi: pg.Client;
let asWorker: pg.Client;

before(async () => {
  database = await freshDatabase('roles');
  asApi = await connectAs(database.api.url);
  asWorker = await connectAs(database.worker.url);
});

after(async () => {
  for (const client of clients) await client.end().catch(() => undefined);
  await database?.drop();
});

/** The statement fails with insufficient_privilege (42501), and nothing else. */
async function refused(client: pg.Client, sql: string): Promise<void> {
  await assert.rejects(client.query(sql), (err: unknown) => {
    assert.equal((err as { code?: string }).code, '42501', `${sql}: ${(err as Error).message}`);
    return true;
  }, `${sql} must be refused`);
}

/** The statement is allowed (it plans and runs; `WHERE false` touches no row). */
async function allowed(client: pg.Client, sql: string): Promise<void> {
  await client.query(sql);
}

const someUuid = '00000000-0000-4000-8000-000000000000';

describe('every table of the schema is granted on purpose', () => {
  test('each table is listed in TABLE_GRANTS (lib/db-roles.ts), and each entry names a table and columns that exist', async () => {
    const { rows } = await database.db.raw<{ rows: { table: string; column: string }[] }>(
      `SELECT c.relname AS "table", a.attname AS "column"
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`,
    );
    const columns = new Map<string, Set<string>>();
    for (const row of rows) columns.set(row.table, (columns.get(row.table) ?? new Set()).add(row.column));
    const unmapped = [...columns.keys()].filter((table) => !(table in TABLE_GRANTS)).sort();
    assert.deepEqual(unmapped, [], unmapped.map(unmappedTableHint).join('\n\n'));

    const stale: string[] = [];
    for (const [table, grants] of Object.entries(TABLE_GRANTS)) {
      const known = columns.get(table);
      if (!known) {
        stale.push(`TABLE_GRANTS lists "${table}", which no migration creates: remove it or fix its name`);
        continue;
      }
      for (const role of ['api', 'worker'] as const) {
        const { select, update } = grants[role];
        for (const column of [...(Array.isArray(select) ? select : []), ...(update ?? [])]) {
          if (!known.has(column)) stale.push(`TABLE_GRANTS.${table}.${role} names column "${column}", which ${table} does not have`);
        }
      }
    }
    assert.deepEqual(stale, []);
  });

  test('a table a later migration adds is granted to nobody until it is listed, and the run reports it', async () => {
    const name = `roles_new_${randomBytes(4).toString('hex')}`;
    await createOwnedDatabase(name);
    const owner = createDb({ url: roleUrl('owner', name), poolMax: 2 });
    const api = await connectAs(roleUrl('api', name));
    try {
      await migrateLatest(owner, DEFAULT_ROLE_NAMES);
      await owner.raw('CREATE TABLE not_in_the_map (id int PRIMARY KEY)');
      const report = await applyGrants(owner, DEFAULT_ROLE_NAMES);
      assert.deepEqual(report.unmapped, ['not_in_the_map']);
      await refused(api, 'SELECT * FROM not_in_the_map');
      await refused(api, 'INSERT INTO not_in_the_map VALUES (1)');
      assert.match(unmappedTableHint('not_in_the_map'), /not_in_the_map: \{ api: .*worker: .*\}/);
    } finally {
      await api.end();
      clients.splice(clients.indexOf(api), 1);
      await owner.destroy();
      await dropDatabase(name);
    }
  });
});

describe('the API role', () => {
  test('cannot write signed transactions, nonces or nonce assignments, nor read the signed bytes or a nonce', async () => {
    await refused(asApi, 'SELECT raw FROM signed_transactions');
    await refused(asApi, 'SELECT nonce FROM nonce_assignments');
    // What a rolling limit counts at prepare: whether and when a request was signed, and whether its nonce was given back.
    await allowed(asApi, 'SELECT transaction_id, created_at FROM signed_transactions WHERE false');
    await allowed(asApi, 'SELECT transaction_id, voided_at FROM nonce_assignments WHERE false');
    for (const table of ['signed_transactions', 'wallet_nonces', 'nonce_assignments']) {
      await refused(asApi, `SELECT * FROM ${table}`);
      await refused(asApi, `DELETE FROM ${table} WHERE false`);
    }
    await refused(
      asApi,
      `INSERT INTO signed_transactions (transaction_id, wallet_id, chain_id, nonce, raw, tx_hash, max_fee_per_gas, max_priority_fee_per_gas)
       VALUES ('${someUuid}', '${someUuid}', 1, 0, '0x02', '0x${'ab'.repeat(32)}', 1, 1)`,
    );
    await refused(asApi, `UPDATE signed_transactions SET raw = '0x02' WHERE false`);
    await refused(asApi, `INSERT INTO wallet_nonces (wallet_id, chain_id, next_nonce) VALUES ('${someUuid}', 1, 0)`);
    await refused(asApi, 'UPDATE wallet_nonces SET next_nonce = 0 WHERE false');
    await refused(asApi, `INSERT INTO nonce_assignments (wallet_id, chain_id, nonce, transaction_id) VALUES ('${someUuid}', 1, 0, '${someUuid}')`);
    await refused(asApi, 'UPDATE nonce_assignments SET voided_at = now() WHERE false');
  });

  test('cannot write the signature columns of the projection, or read a wallet key ciphertext', async () => {
    for (const column of ['nonce', 'tx_hash', 'executed_at', 'block_number', 'confirmations', 'last_error', 'to_address', 'digest']) {
      await refused(asApi, `UPDATE transactions SET ${column} = ${column} WHERE false`);
    }
    await refused(asApi, 'SELECT key_ciphertext FROM wallets');
    await refused(asApi, 'UPDATE wallets SET key_ciphertext = key_ciphertext WHERE false');
    await refused(asApi, 'DELETE FROM transactions WHERE false');
    await refused(asApi, 'SELECT * FROM webhook_deliveries');
  });

  test('does what the API does (the refusals above are not everything refused)', async () => {
    await allowed(asApi, 'UPDATE transactions SET status = status, version = version, rejection_reason = rejection_reason WHERE false');
    await allowed(asApi, 'SELECT id, address, label FROM wallets');
    await allowed(asApi, 'UPDATE users SET mfa_last_step = mfa_last_step WHERE false');
    await allowed(asApi, 'SELECT secret_ciphertext FROM mfa_factors');
    await allowed(asApi, 'UPDATE user_sessions SET last_seen_at = last_seen_at WHERE false');
    await allowed(asApi, 'DELETE FROM user_sessions WHERE false');
    await allowed(asApi, 'SELECT key_ciphertext FROM history_keys');
    await allowed(asApi, 'UPDATE login_throttles SET failures = failures, next_attempt_at = next_attempt_at, last_failure_at = last_failure_at WHERE false');
    await allowed(asApi, 'DELETE FROM login_throttles WHERE false');
  });

  test('cannot move a session to another user or give it a longer life', async () => {
    for (const column of ['jti', 'user_id', 'created_at', 'expires_at']) {
      await refused(asApi, `UPDATE user_sessions SET ${column} = ${column} WHERE false`);
    }
  });

  test('cannot rewrite what requests counted or a refusal, nor move the policy version by hand beyond its columns', async () => {
    for (const table of ['policy_spend', 'policy_refusals']) {
      await refused(asApi, `UPDATE ${table} SET created_at = created_at WHERE false`);
      await refused(asApi, `DELETE FROM ${table} WHERE false`);
    }
    await refused(asApi, 'UPDATE wallet_policies SET wallet_id = wallet_id WHERE false');
    await refused(asApi, 'DELETE FROM wallet_policies WHERE false');
    await allowed(asApi, 'UPDATE wallet_policies SET rules = rules, version = version WHERE false');
  });

  test('adds history data keys, but cannot change or delete one (older histories need them)', async () => {
    await allowed(asApi, `INSERT INTO history_keys (id, key_ciphertext) SELECT '${someUuid}', 'vault:v1:x' WHERE false`);
    await refused(asApi, "UPDATE history_keys SET key_ciphertext = 'vault:v1:x' WHERE false");
    await refused(asApi, 'DELETE FROM history_keys WHERE false');
  });
});

describe('the worker role', () => {
  test('cannot write approvals, TOTP uses, users, agents, API keys, MFA secrets or sessions', async () => {
    await refused(asWorker, `INSERT INTO approvals (id, transaction_id, user_id, mfa_use_id, digest) VALUES ('${someUuid}', '${someUuid}', '${someUuid}', '${someUuid}', '0x00')`);
    await refused(asWorker, `INSERT INTO mfa_uses (id, user_id, step, purpose) VALUES ('${someUuid}', '${someUuid}', 1, 'approve_transactions')`);
    await refused(asWorker, `INSERT INTO users (id, username, password_hash) VALUES ('${someUuid}', 'mallory', 'x')`);
    await refused(asWorker, `INSERT INTO agents (id, user_id, name, key_id, key_digest) VALUES ('${someUuid}', '${someUuid}', 'bot', '${'ab'.repeat(12)}', '\\x${'00'.repeat(32)}')`);
    await refused(asWorker, 'UPDATE users SET mfa_last_step = NULL WHERE false');
    await refused(asWorker, 'UPDATE agents SET revoked_at = NULL WHERE false');
    await refused(asWorker, `INSERT INTO mfa_factors (id, user_id, state, secret_ciphertext) VALUES ('${someUuid}', '${someUuid}', 'active', 'vault:v1:x')`);
    await refused(asWorker, `INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES ('${someUuid}', '${someUuid}', now())`);
    await refused(asWorker, 'DELETE FROM revoked_tokens WHERE false');
    await refused(asWorker, `INSERT INTO user_sessions (jti, user_id, created_at, expires_at) VALUES ('${someUuid}', '${someUuid}', now(), now())`);
    await refused(asWorker, 'DELETE FROM user_sessions WHERE false');
    await refused(asWorker, `INSERT INTO login_throttles (user_id, source, failures, last_failure_at) VALUES ('${someUuid}', '127.0.0.1', 0, now())`);
    await refused(asWorker, 'DELETE FROM login_throttles WHERE false');
    await refused(asWorker, `INSERT INTO agent_wallets (agent_id, wallet_id) VALUES ('${someUuid}', '${someUuid}')`);
    await refused(asWorker, 'INSERT INTO transactions (id) VALUES (gen_random_uuid())');
  });

  test('cannot read users, MFA secrets, sessions or API key digests', async () => {
    for (const sql of ['SELECT * FROM users', 'SELECT secret_ciphertext FROM mfa_factors', 'SELECT * FROM revoked_tokens', 'SELECT * FROM mfa_failures', 'SELECT key_digest FROM agents', 'SELECT * FROM user_sessions', 'SELECT * FROM login_throttles']) {
      await refused(asWorker, sql);
    }
    await refused(asWorker, 'UPDATE transactions SET rejection_reason = NULL WHERE false');
  });

  test("cannot change the owner's rules, labels or what requests count; only lock the policy row and record a refusal", async () => {
    await refused(asWorker, 'UPDATE wallet_policies SET rules = rules, version = version WHERE false');
    await refused(asWorker, `INSERT INTO wallet_policies (wallet_id) VALUES ('${someUuid}')`);
    await refused(asWorker, `INSERT INTO policy_spend (transaction_id, wallet_id, asset, amount, created_at) VALUES ('${someUuid}', '${someUuid}', 'native', 1, now())`);
    await refused(asWorker, `INSERT INTO address_book (user_id, address, label, created_at, updated_at) VALUES ('${someUuid}', '0x${'00'.repeat(20)}', 'x', now(), now())`);
    await refused(asWorker, 'UPDATE address_book SET label = label WHERE false');
    await refused(asWorker, 'SELECT * FROM policy_refusals');
    await allowed(asWorker, 'BEGIN');
    try {
      await allowed(asWorker, 'SELECT rules FROM wallet_policies WHERE false FOR UPDATE');
    } finally {
      await asWorker.query('ROLLBACK');
    }
    await allowed(asWorker, 'SELECT sum(amount) FROM policy_spend');
    await allowed(asWorker, 'SELECT address, label FROM address_book WHERE false');
  });

  test('does what the worker does (the refusals above are not everything refused)', async () => {
    await allowed(asWorker, 'UPDATE transactions SET status = status, nonce = nonce, tx_hash = tx_hash, confirmations = confirmations WHERE false');
    await allowed(asWorker, 'SELECT raw FROM signed_transactions');
    await allowed(asWorker, 'SELECT key_ciphertext FROM wallets');
    await allowed(asWorker, 'SELECT id, revoked_at, expires_at FROM agents');
    await allowed(asWorker, 'UPDATE wallet_nonces SET next_nonce = next_nonce WHERE false');
    await allowed(asWorker, 'SELECT key_ciphertext FROM history_keys');
  });

  test('reads history data keys but cannot add, change or delete one (the API adds them)', async () => {
    await refused(asWorker, `INSERT INTO history_keys (id, key_ciphertext) VALUES ('${someUuid}', 'vault:v1:x')`);
    await refused(asWorker, "UPDATE history_keys SET key_ciphertext = 'vault:v1:x' WHERE false");
    await refused(asWorker, 'DELETE FROM history_keys WHERE false');
  });
});

describe('neither app role', () => {
  const roles = (): Array<[AppRole, pg.Client]> => [
    ['api', asApi],
    ['worker', asWorker],
  ];

  test('can truncate, alter, drop, or create anything in the schema', async () => {
    for (const [, client] of roles()) {
      for (const table of ['audit_events', 'signed_transactions', 'approvals', 'transactions']) {
        await refused(client, `TRUNCATE ${table}`);
        await refused(client, `ALTER TABLE ${table} ADD COLUMN mallory text`);
        await refused(client, `DROP TABLE ${table}`);
      }
      await refused(client, 'CREATE TABLE public.mallory (id int)');
      await refused(client, 'ALTER TABLE approvals DROP CONSTRAINT approvals_transaction_id_unique');
    }
  });

  test('can switch the audit and append-only triggers off, replace their functions, or become someone else', async () => {
    for (const [role, client] of roles()) {
      await refused(client, 'ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only');
      await refused(client, 'ALTER TABLE audit_events DISABLE TRIGGER ALL');
      await refused(client, 'DROP TRIGGER audit_events_no_truncate ON audit_events');
      await refused(client, 'ALTER TABLE signed_transactions DISABLE TRIGGER signed_transactions_append_only');
      await refused(client, 'ALTER TABLE transactions DISABLE TRIGGER transactions_frozen_request');
      await refused(client, `CREATE OR REPLACE FUNCTION countersign_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`);
      await refused(client, 'ALTER FUNCTION countersign_order_transaction_event() SECURITY INVOKER');
      await refused(client, "SET session_replication_role = 'replica'");
      await refused(client, `SET ROLE ${DEFAULT_ROLE_NAMES.owner}`);
      await refused(client, `SET ROLE ${DEFAULT_ROLE_NAMES[role === 'api' ? 'worker' : 'api']}`);
      await refused(client, `ALTER ROLE ${DEFAULT_ROLE_NAMES[role]} SUPERUSER`);
      await refused(client, 'UPDATE audit_events SET data = data WHERE false');
      await refused(client, 'DELETE FROM audit_events WHERE false');
    }
    const { rows } = await asApi.query<{ owner: string }>(
      `SELECT DISTINCT pg_get_userbyid(p.proowner) AS owner FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.proname LIKE 'countersign\\_%'`,
    );
    assert.deepEqual(rows, [{ owner: DEFAULT_ROLE_NAMES.owner }], 'every trigger function belongs to the migration role');
  });

  test('the triggers still fire for the apps: an API event gets its commit-ordered id; audit rows stay append-only, even for the owner', async () => {
    const [userId, walletId, transactionId] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    const address = `0x${randomBytes(20).toString('hex')}`;
    await database.db('users').insert({ id: userId, username: `u${randomBytes(4).toString('hex')}`, password_hash: 'x' });
    await database.db('wallets').insert({ id: walletId, user_id: userId, address, key_ciphertext: 'vault:v1:x' });
    await database.db('transactions').insert({
      id: transactionId, wallet_id: walletId, user_id: userId, origin: 'user', kind: 'native', chain_id: 31337, from_address: address,
      to_address: address, value: '1', data: '0x', gas_limit: '21000', max_fee_per_gas: '1', max_priority_fee_per_gas: '1',
      approval_expires_at: new Date(Date.now() + 60_000), digest: `0x${'00'.repeat(32)}`, summary: '{}', status: 'pending_approval', version: 1,
    });
    // The order trigger renumbers the row at commit; it runs as the owner (SECURITY DEFINER): the API may only INSERT.
    await refused(asApi, 'UPDATE transaction_events SET id = id WHERE false');
    const inserted = await asApi.query<{ id: string }>(`INSERT INTO transaction_events (transaction_id, user_id, status, version) VALUES ($1, $2, 'pending_approval', 1) RETURNING id`, [transactionId, userId]);
    const committed = (await database.db('transaction_events').where({ transaction_id: transactionId }).first('id')) as { id: string };
    assert.ok(BigInt(committed.id) > BigInt(inserted.rows[0]!.id), 'the deferred trigger gave the row its commit-time id');

    const hmac = randomBytes(32).toString('hex');
    await asWorker.query(`INSERT INTO audit_events (created_at, action, actor_type, prev_hmac, hmac) VALUES (now(), 'test.appended', 'system', $1, $2)`, [randomBytes(32).toString('hex'), hmac]);
    await assert.rejects(database.db('audit_events').where({ hmac }).update({ action: 'test.rewritten' }), /UPDATE on audit_events is not allowed: the table is append-only/);
    await assert.rejects(database.db.raw('TRUNCATE audit_events'), /TRUNCATE on audit_events is not allowed/);
  });
});

describe('the grants as applied are exactly the map', () => {
  test('each role has what TABLE_GRANTS lists and nothing more; the owner and the other role are refused', async () => {
    assert.deepEqual(await checkPrivileges(database.api.db, 'api'), []);
    assert.deepEqual(await checkPrivileges(database.worker.db, 'worker'), []);
    await assertPrivileges(database.api.db, 'api');
    await assertPrivileges(database.worker.db, 'worker');

    await assert.rejects(assertPrivileges(database.db, 'api'), (err: unknown) => {
      assert.ok(err instanceof WrongDatabaseRoleError);
      assert.match(err.message, /may do more than the api should \(it owns /);
      return true;
    });
    // The API's credentials in the worker (and the reverse) are refused, naming what is wrong.
    const extraWrites = async (db: typeof database.db, as: AppRole) =>
      [...new Set((await checkPrivileges(db, as)).filter((f) => f.kind === 'extra' && f.privilege === 'INSERT').map((f) => f.table))].sort();
    assert.deepEqual(await extraWrites(database.api.db, 'worker'), ['address_book', 'agent_wallets', 'agents', 'approvals', 'history_keys', 'login_throttles', 'mfa_factors', 'mfa_failures', 'mfa_uses', 'policy_spend', 'rate_limit_windows', 'revoked_tokens', 'transaction_commands', 'transactions', 'user_sessions', 'users', 'wallet_policies', 'wallets', 'webhooks']);
    assert.deepEqual(await extraWrites(database.worker.db, 'api'), ['chains', 'nonce_assignments', 'pings', 'signed_transactions', 'wallet_nonces', 'webhook_deliveries']);
    await assert.rejects(assertPrivileges(database.api.db, 'worker'), /may do more than the worker should \(it can DELETE address_book, can DELETE agent_wallets, can DELETE login_throttles/);
    await assert.rejects(assertPrivileges(database.worker.db, 'api'), /may do more than the api should \(it can INSERT chains, can INSERT nonce_assignments, can INSERT pings, can INSERT signed_transactions and \d+ more\)/);
  });

  test('rolled back and migrated again, the grants come back (migration 006 down and up)', async () => {
    const name = `roles_rb_${randomBytes(4).toString('hex')}`;
    await createOwnedDatabase(name);
    const owner = createDb({ url: roleUrl('owner', name), poolMax: 2 });
    const worker = createDb({ url: roleUrl('worker', name), poolMax: 2 });
    try {
      await migrateLatest(owner, DEFAULT_ROLE_NAMES);
      await migrateRollbackAll(owner, DEFAULT_ROLE_NAMES);
      await assert.rejects(assertSchemaCurrent(worker), SchemaBehindError);
      await migrateLatest(owner, DEFAULT_ROLE_NAMES);
      assert.deepEqual(await checkPrivileges(worker, 'worker'), []);
    } finally {
      await worker.destroy();
      await owner.destroy();
      await dropDatabase(name);
    }
  });
});

describe('the apps refuse to start', () => {
  test('on a schema that is behind (the apps cannot migrate: that is the migration step, as the owner)', async () => {
    const name = `roles_behind_${randomBytes(4).toString('hex')}`;
    await createOwnedDatabase(name);
    const owner = createDb({ url: roleUrl('owner', name), poolMax: 2 });
    const api = createDb({ url: roleUrl('api', name), poolMax: 2 });
    try {
      await assert.rejects(assertSchemaCurrent(api), /has no Countersign schema yet: run the migrations as the schema owner first/);
      await migrateLatest(owner, DEFAULT_ROLE_NAMES);
      await assertSchemaCurrent(api);
      const { rows } = await owner.raw<{ rows: { name: string }[] }>('DELETE FROM knex_migrations WHERE id = (SELECT max(id) FROM knex_migrations) RETURNING name');
      await assert.rejects(assertSchemaCurrent(api), new RegExp(`the database schema is behind this code \\(pending: ${rows[0]!.name.replace('.', '\\.')}\\)`));
    } finally {
      await api.destroy();
      await owner.destroy();
      await dropDatabase(name);
    }
  });

  /** The real program, up to its database checks (Temporal and Vault come after them and are never reached). */
  function start(program: 'api/server.ts' | 'worker/main.ts', databaseUrl: string): Promise<{ code: number; stderr: string }> {
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      DOTENV_CONFIG_PATH: '/dev/null',
      NODE_ENV: 'production',
      LOG_LEVEL: 'silent',
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      KEYSTORE: 'vault',
      VAULT_ADDR: 'http://127.0.0.1:1',
      VAULT_TOKEN: 'never-used',
      JWT_SECRET_KEY: randomBytes(32).toString('hex'),
      AUDIT_HMAC_KEY: randomBytes(32).toString('hex'),
      API_KEY_HMAC_KEY: randomBytes(32).toString('hex'),
      PORT: '1',
      WORKER_HEALTH_PORT: '1',
    };
    return new Promise((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', path.resolve(program)], { env, timeout: 60_000 }, (error, _stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stderr });
      });
    });
  }

  test('as the schema owner, or as the other process’s role', async () => {
    const asOwner = await start('api/server.ts', database.url);
    assert.equal(asOwner.code, 1);
    assert.match(asOwner.stderr, /WrongDatabaseRoleError: the api's database role may do more than the api should \(it owns /);
    const workerAsApi = await start('worker/main.ts', database.api.url);
    assert.equal(workerAsApi.code, 1);
    assert.match(workerAsApi.stderr, /WrongDatabaseRoleError: the worker's database role may do more than the worker should/);
    assert.ok(!workerAsApi.stderr.includes(new URL(database.api.url).password), 'no password in the message');
  });
});
