/**
 * The grant map itself (lib/db-roles.ts): the split the README promises, as
 * data, so an edit that hands a process a write it must not have fails here
 * before any database is involved. test/integration/db-roles.test.ts proves
 * the map is what PostgreSQL enforces.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeFindings, grantStatements, TABLE_GRANTS } from '../../lib/db-roles';
import { PUBLIC_WALLET_COLUMNS } from '../../domains/wallets/dal';

const writes = (table: string, role: 'api' | 'worker') => {
  const access = TABLE_GRANTS[table]![role];
  return Boolean(access.insert || access.delete || (access.update && access.update.length > 0));
};

test('the API writes no signature, nonce or delivery record; the worker writes no approval, TOTP use, account, key or session', () => {
  for (const table of ['signed_transactions', 'wallet_nonces', 'nonce_assignments', 'webhook_deliveries', 'chains', 'pings']) assert.equal(writes(table, 'api'), false, table);
  for (const table of ['approvals', 'mfa_uses', 'users', 'agents', 'mfa_factors', 'mfa_failures', 'revoked_tokens', 'agent_wallets', 'webhooks']) assert.equal(writes(table, 'worker'), false, table);
  assert.equal(TABLE_GRANTS.transactions!.worker.insert, undefined, 'only the API freezes a request');
  for (const role of ['api', 'worker'] as const) {
    assert.equal(writes('knex_migrations', role), false);
    assert.deepEqual(TABLE_GRANTS.knex_migrations_lock![role], {});
  }
});

test('the two processes move different columns of the projection; nobody moves the frozen request', () => {
  const frozen = ['id', 'seq', 'wallet_id', 'user_id', 'agent_id', 'origin', 'kind', 'chain_id', 'from_address', 'to_address', 'value', 'data', 'gas_limit', 'max_fee_per_gas', 'max_priority_fee_per_gas', 'approval_expires_at', 'digest', 'idempotency_key', 'request_hash'];
  const { api, worker } = TABLE_GRANTS.transactions!;
  for (const column of frozen) {
    assert.ok(!api.update!.includes(column) && !worker.update!.includes(column), column);
  }
  for (const column of ['nonce', 'tx_hash', 'block_number', 'confirmations', 'executed_at', 'last_error']) assert.ok(!api.update!.includes(column), `the API never writes ${column}`);
  assert.ok(!worker.update!.includes('rejection_reason'), 'the worker never writes the owner’s reason');
});

test('secrets stay out of reach: the API reads wallets without their key ciphertext, the worker agents without their key digest', () => {
  assert.deepEqual(TABLE_GRANTS.wallets!.api.select, [...PUBLIC_WALLET_COLUMNS]);
  assert.ok(!(TABLE_GRANTS.agents!.worker.select as readonly string[]).includes('key_digest'));
  assert.equal(TABLE_GRANTS.mfa_factors!.worker.select, undefined);
  assert.deepEqual(TABLE_GRANTS.audit_events!.api.select, ['id', 'hmac']);
});

test('grant statements quote every identifier and grant UPDATE per column', () => {
  assert.deepEqual(grantStatements('transactions', 'countersign_worker', { select: true, update: ['status', 'nonce'] }), [
    ['GRANT SELECT ON ?? TO ??', ['transactions', 'countersign_worker']],
    ['GRANT UPDATE (??, ??) ON ?? TO ??', ['status', 'nonce', 'transactions', 'countersign_worker']],
  ]);
  assert.deepEqual(grantStatements('wallets', 'countersign_api', { select: ['id', 'address'], insert: true }), [
    ['GRANT INSERT ON ?? TO ??', ['wallets', 'countersign_api']],
    ['GRANT SELECT (??, ??) ON ?? TO ??', ['id', 'address', 'wallets', 'countersign_api']],
  ]);
  assert.deepEqual(grantStatements('chains', 'countersign_api', {}), []);
});

test('start-up findings read worst first, one line per table and privilege', () => {
  assert.deepEqual(
    describeFindings([
      { table: 'users', column: 'id', privilege: 'SELECT', kind: 'extra' },
      { table: 'users', column: 'username', privilege: 'SELECT', kind: 'extra' },
      { table: 'signed_transactions', column: 'raw', privilege: 'INSERT', kind: 'extra' },
      { table: 'signed_transactions', column: 'nonce', privilege: 'INSERT', kind: 'extra' },
      { table: 'audit_events', privilege: 'TRUNCATE', kind: 'extra' },
      { table: 'audit_events', privilege: 'OWNER', kind: 'extra' },
      { table: 'wallet_nonces', column: 'next_nonce', privilege: 'UPDATE', kind: 'missing' },
    ]),
    ['owns audit_events', 'can TRUNCATE audit_events', 'can INSERT signed_transactions', 'cannot UPDATE wallet_nonces (next_nonce)', 'can SELECT users (id, username)'],
  );
});
