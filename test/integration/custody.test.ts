/**
 * Key custody end to end: a planted wallet key — a wallet created through the
 * API, whose key this test learns by decrypting its ciphertext with the
 * worker's credential — never appears in any HTTP answer, any log line (the
 * app's and worker's pino output, and everything written to stdout/stderr),
 * any database column (every column of every table, the ciphertext included),
 * the output of `keys:rotate`, or the Temporal history of any workflow started
 * during the test. Meanwhile the key is used for real: the wallet is loaded,
 * listed, granted, withdrawn, rotated, and (with Temporal) signs an agent's
 * approved transfer and a user-initiated one. Every wallet event, rotation
 * included, is in the audit log.
 *
 * The transit keys are this test's own, so rotating them disturbs no other test.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Wallet } from 'ethers';
import type { Client } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import { decodeHistory } from '../support/history';
import { verifyChain } from '../../domains/audit';
import { auditRows, startWalletStack, type HttpAnswer, type TestUser, type WalletStack } from './wallets-harness';

const run = promisify(execFile);

// ---- capture everything written to stdout and stderr (the test reporter's own lines included) ----
const written: string[] = [];
const originals = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };
function tee(stream: NodeJS.WriteStream, original: typeof process.stdout.write) {
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return (original as (...args: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
}

/** Every way a 32-byte key is commonly written down. */
export function keyForms(key: Buffer): string[] {
  const hex = key.toString('hex');
  return [hex, hex.toUpperCase(), key.toString('base64'), key.toString('base64url'), BigInt(`0x${hex}`).toString(10)];
}

/** The forms found in `text` (by index, never echoing the key). */
const leaks = (text: string, forms: string[]) => forms.flatMap((form, i) => (text.includes(form) ? [i] : []));

/** All text of a Temporal history: strings as they are, byte fields as UTF-8, hex and base64. */
export function historyText(value: unknown, out: string[] = [], seen = new Set<unknown>()): string[] {
  if (value === null || value === undefined) return out;
  if (typeof value === 'string') out.push(value);
  else if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') out.push(String(value));
  else if (value instanceof Uint8Array) {
    const bytes = Buffer.from(value);
    out.push(bytes.toString('utf8'), bytes.toString('hex'), bytes.toString('base64'));
  } else if (typeof value === 'object') {
    if (seen.has(value)) return out;
    seen.add(value);
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function' && !(Array.isArray(value))) {
      try {
        out.push(JSON.stringify(value));
      } catch {
        // fall through to the members
      }
    }
    for (const member of Object.values(value as Record<string, unknown>)) historyText(member, out, seen);
  }
  return out;
}

/** Every column of every table, as JSON text (bytea as \x-hex, jsonb as text). */
async function databaseText(s: WalletStack): Promise<{ tables: string[]; rows: Map<string, string[]> }> {
  const tables = (
    (await s.db.raw(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`)).rows as { table_name: string }[]
  ).map((r) => r.table_name);
  const rows = new Map<string, string[]>();
  for (const table of tables) {
    const result = await s.db.raw(`SELECT row_to_json(t)::text AS j FROM ?? t`, [table]);
    rows.set(table, (result.rows as { j: string }[]).map((r) => r.j));
  }
  return { tables, rows };
}

let s: WalletStack;
let alice: TestUser;
let bob: TestUser;
const testStart = new Date(Date.now() - 1000);
const scriptOutput: string[] = [];

before(async () => {
  tee(process.stdout, originals.out);
  tee(process.stderr, originals.err);
  s = await startWalletStack({ name: 'custody_it', isolatedKeys: true, temporal: Boolean(process.env.TEMPORAL_ADDRESS) });
  alice = await s.newUser('alice');
  bob = await s.newUser('bob');
});

after(async () => {
  process.stdout.write = originals.out;
  process.stderr.write = originals.err;
  await s?.close();
});

async function ok(answer: Promise<HttpAnswer>, status: number, what: string): Promise<HttpAnswer> {
  const a = await answer;
  assert.equal(a.status, status, `${what}: ${a.text.slice(0, 300)}`);
  return a;
}

async function waitForTransaction(auth: { apiKey?: string; token?: string }, id: string, statuses: string[]): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 60_000;
  let last: HttpAnswer | undefined;
  while (Date.now() < deadline) {
    last = await s.http('GET', `/api/transactions/${id}`, auth);
    if (last.status === 200 && statuses.includes(last.body.status)) return last.body;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`transaction ${id} did not reach ${statuses.join('|')}: ${last?.text.slice(0, 300)}`);
}

async function temporalText(client: Client, codec: PayloadCodec): Promise<{ ids: string[]; text: string }> {
  // Every workflow started on the server since this test began (other tests' too: stricter, and cheap).
  const query = `StartTime >= "${testStart.toISOString()}"`;
  const parts: string[] = [];
  const ids: string[] = [];
  let workflows = 0;
  for await (const info of client.workflow.list({ query })) {
    workflows += 1;
    ids.push(info.workflowId);
    const history = await client.workflow.getHandle(info.workflowId, info.runId).fetchHistory();
    // As stored (encrypted by the payload codec) and as an operator with the codec server reads it.
    parts.push(historyText(history).join('\n'), historyText(await decodeHistory(history, codec)).join('\n'));
    if (workflows >= 1000) break;
  }
  return { ids, text: parts.join('\n') };
}

describe('a planted wallet key', () => {
  test('is used, rotated and audited, yet never appears anywhere but in Vault', async () => {
    // ---- plant: a wallet made by the API; learn its key with the worker's credential ----
    const planted = (await ok(s.http('POST', '/api/create_wallet', { token: alice.token, body: { password: alice.password, label: 'planted' } }), 201, 'create')).body as { wallet_id: string; address: string };
    const row = await s.db('wallets').where({ id: planted.wallet_id }).first();
    const key = await s.workerKeystore.decrypt('wallet', planted.wallet_id, row.key_ciphertext);
    const forms = keyForms(key);
    assert.equal(new Wallet(`0x${key.toString('hex')}`).address, planted.address, 'the decrypted key is the wallet key');
    key.fill(0);

    // Positive controls: the scanners do find a key where there is one.
    assert.ok(leaks(`x${forms[2]}y`, forms).includes(2));
    assert.deepEqual(leaks(`x${forms[0]!.slice(1)}y`, forms), [], "a near miss is not a hit");
    assert.ok(leaks(historyText({ payloads: [{ data: Buffer.from(`{"k":"${forms[0]}"}`) }] }).join('\n'), forms).length > 0);

    // ---- use it: every wallet route, success and failure paths ----
    await s.fund(planted.address, 3n * 10n ** 18n);
    const other = (await ok(s.http('POST', '/api/create_wallet', { token: alice.token, body: { password: alice.password } }), 201, 'create second')).body as { wallet_id: string; address: string };
    await ok(s.http('GET', '/api/wallets', { token: alice.token }), 200, 'list');
    await ok(s.http('GET', `/api/wallets/${planted.address}?tokens=${Wallet.createRandom().address}`, { token: alice.token }), 200, 'detail');
    await ok(s.http('POST', '/api/load_wallet', { token: alice.token, body: { password: alice.password, mfa_code: await alice.nextCode(), address: planted.address } }), 200, 'load');
    await ok(s.http('POST', '/api/load_wallet', { token: alice.token, body: { password: 'wrong-password!', mfa_code: await alice.nextCode(), address: planted.address } }), 403, 'wrong password');
    const good = await alice.nextCode();
    await ok(s.http('POST', '/api/load_wallet', { token: alice.token, body: { password: alice.password, mfa_code: good === '000000' ? '111111' : '000000', address: planted.address } }), 403, 'wrong code');
    await ok(s.http('POST', '/api/load_wallet', { token: alice.token, body: { password: alice.password, mfa_code: await alice.nextCode(), address: planted.address, chain_id: s.deadChainId } }), 503, 'dead chain');
    await ok(s.http('GET', `/api/wallets/${planted.address}`, { token: bob.token }), 404, 'foreign detail');
    await ok(s.http('POST', '/api/load_wallet', { token: bob.token, body: { password: bob.password, mfa_code: await bob.nextCode(), address: planted.address } }), 404, 'foreign load');

    const agent = await s.createAgent(alice);
    await ok(s.http('POST', `/api/agents/${agent.agentId}/wallets`, { token: alice.token, body: { address: planted.address, mfa_code: await alice.nextCode() } }), 200, 'grant planted');
    // A grant at agent creation is recorded by the agents domain, in `agent.created`.
    const second = await s.createAgent(alice, [planted.address]);
    await ok(s.http('GET', '/api/wallets', { apiKey: agent.apiKey }), 200, 'agent list');
    await ok(s.http('GET', `/api/wallets/${planted.address}`, { apiKey: agent.apiKey }), 200, 'agent detail');
    await ok(s.http('POST', '/api/load_wallet', { apiKey: agent.apiKey, body: {} }), 200, 'agent load');
    await ok(s.http('POST', `/api/agents/${agent.agentId}/wallets`, { token: alice.token, body: { address: other.address, mfa_code: await alice.nextCode() } }), 200, 'grant');
    await ok(s.http('DELETE', `/api/agents/${agent.agentId}/wallets/${other.address}`, { token: alice.token }), 204, 'withdraw other');
    await ok(s.http('GET', '/openapi.json', {}), 200, 'openapi');

    // ---- sign with it (the worker decrypts it): an agent's approved transfer and a user-initiated one ----
    const transactionIds: string[] = [];
    if (s.temporal) {
      const recipient = Wallet.createRandom().address;
      const prepared = await ok(
        s.http('POST', '/api/prepare_transaction', { apiKey: agent.apiKey, body: { wallet_address: planted.address, kind: 'native', to_address: recipient, amount: '1000' } }),
        202,
        'prepare',
      );
      const id = prepared.body.transaction_id as string;
      await ok(s.http('POST', '/api/authorize_transaction', { token: alice.token, body: { transaction_id: id, digest: prepared.body.digest, mfa_code: await alice.nextCode() } }), 200, 'approve');
      await ok(s.http('POST', '/api/execute_transaction', { apiKey: agent.apiKey, body: { transaction_id: id } }), 202, 'execute');
      assert.equal((await waitForTransaction({ apiKey: agent.apiKey }, id, ['confirmed', 'failed'])).status, 'confirmed');
      const transfer = await s.http('POST', '/api/transfer', {
        token: alice.token,
        body: { wallet_address: planted.address, to_address: recipient, amount: '2000', password: alice.password, mfa_code: await alice.nextCode() },
      });
      assert.ok([201, 202].includes(transfer.status), transfer.text);
      assert.equal((await waitForTransaction({ token: alice.token }, transfer.body.transaction_id, ['confirmed', 'failed'])).status, 'confirmed');
      assert.equal(await s.chain.provider.getBalance(recipient), 3000n, 'both transfers, signed with the planted key, are on chain');
      transactionIds.push(id, transfer.body.transaction_id as string);
    }

    // ---- rotate: `npm run keys:rotate` with the operator credential (rewrap, never decrypt) ----
    assert.ok(s.vault.operatorToken, 'an operator token for this test’s keys');
    const rotation = await run('npx', ['tsx', 'scripts/keys-rotate.ts', '--purpose', 'wallet'], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: 'test',
        LOG_LEVEL: 'trace',
        MIGRATION_DATABASE_URL: s.databaseUrl,
        KEYSTORE: 'vault',
        VAULT_ADDR: s.vault.addr,
        VAULT_OPERATOR_TOKEN: s.vault.operatorToken!,
        VAULT_TRANSIT_MOUNT: s.vault.mount,
        VAULT_WALLET_KEY: s.vault.keys.wallet,
        VAULT_MFA_KEY: s.vault.keys.mfa,
        VAULT_WEBHOOK_KEY: s.vault.keys.webhook,
        VAULT_HISTORY_KEY: s.vault.keys.history,
        JWT_SECRET_KEY: s.config.JWT_SECRET_KEY!,
        AUDIT_HMAC_KEY: s.config.AUDIT_HMAC_KEY!,
        API_KEY_HMAC_KEY: s.config.API_KEY_HMAC_KEY!,
      },
      timeout: 120_000,
    });
    scriptOutput.push(rotation.stdout, rotation.stderr);
    assert.match(rotation.stdout, /wallet: version 1 → 2/);
    const rotated = await s.db('wallets').where({ id: planted.wallet_id }).first();
    assert.match(rotated.key_ciphertext, /^vault:v2:/);
    const again = await s.workerKeystore.decrypt('wallet', planted.wallet_id, rotated.key_ciphertext);
    assert.equal(new Wallet(`0x${again.toString('hex')}`).address, planted.address, 'the same key after the rewrap');
    again.fill(0);

    // ---- scan ----
    const answers = s.answers.join('\n');
    assert.deepEqual(leaks(answers, forms), [], 'an HTTP answer shows the key');
    assert.ok(!answers.includes(row.key_ciphertext) && !answers.includes(rotated.key_ciphertext) && !/vault:v\d+:/.test(answers), 'no HTTP answer shows a ciphertext');

    assert.ok(s.logs.length > 20, 'the app logged its requests');
    assert.deepEqual(leaks(s.logs.join('\n'), forms), [], 'a log line shows the key');
    assert.deepEqual(leaks(written.join(''), forms), [], 'stdout/stderr shows the key');
    assert.deepEqual(leaks(scriptOutput.join('\n'), forms), [], 'keys:rotate output shows the key');

    const { tables, rows } = await databaseText(s);
    for (const expected of ['wallets', 'audit_events', 'users', 'mfa_uses', 'agent_wallets', 'transactions', 'signed_transactions']) assert.ok(tables.includes(expected), `scanned ${expected}`);
    for (const [table, jsons] of rows) {
      // The ciphertext column is scanned too: it must not contain the plaintext either.
      assert.deepEqual(leaks(jsons.join('\n'), forms), [], `a row of ${table} shows the key`);
    }
    assert.equal((rows.get('signed_transactions') ?? []).length, transactionIds.length, 'signed transactions were stored (and scanned)');

    if (s.temporal) {
      // Visibility is eventually consistent: wait until our workflows are listed.
      const wanted = transactionIds.map((id) => `tx-${id}`);
      let scan = await temporalText(s.temporal.client, s.temporal.codec);
      for (let i = 0; i < 50 && !wanted.every((id) => scan.ids.includes(id)); i += 1) {
        await new Promise((r) => setTimeout(r, 200));
        scan = await temporalText(s.temporal.client, s.temporal.codec);
      }
      for (const id of wanted) assert.ok(scan.ids.includes(id), `the history of ${id} was scanned`);
      assert.ok(scan.text.includes(transactionIds[0]!), 'the scanned text holds the histories');
      assert.deepEqual(leaks(scan.text, forms), [], 'a Temporal history shows the key');
    }

    // ---- audit: every wallet event, rotation included, and the chain verifies ----
    const events = await auditRows(s.db, { subject_type: 'wallet', subject_id: planted.wallet_id });
    const actions = new Set(events.map((e) => e.action));
    for (const action of ['wallet.created', 'wallet.loaded', 'agent.wallet_granted', 'wallet.key_rotated']) assert.ok(actions.has(action), `audit has ${action}`);
    assert.ok(events.some((e) => e.action === 'wallet.loaded' && e.actor_type === 'agent' && e.actor_id === agent.agentId));
    assert.ok(events.some((e) => e.action === 'wallet.loaded' && e.actor_type === 'user' && e.actor_id === alice.userId));
    const otherEvents = new Set((await auditRows(s.db, { subject_type: 'wallet', subject_id: other.wallet_id })).map((e) => e.action));
    for (const action of ['wallet.created', 'agent.wallet_granted', 'agent.wallet_withdrawn', 'wallet.key_rotated']) assert.ok(otherEvents.has(action), `audit has ${action} for the second wallet`);
    const created = await auditRows(s.db, { action: 'agent.created', subject_id: second.agentId });
    assert.deepEqual(created[0]?.data.wallets, [planted.address.toLowerCase()], 'the grant at creation is in agent.created');
    const keyEvents = await auditRows(s.db, { action: 'keys.rotated', subject_id: 'wallet' });
    assert.equal(keyEvents.length, 1);
    assert.equal(keyEvents[0]!.actor_type, 'operator');
    assert.equal(keyEvents[0]!.data.rewrapped, 2);
    assert.equal((await verifyChain(s.db, s.config.AUDIT_HMAC_KEY!)).ok, true);
  });
});
