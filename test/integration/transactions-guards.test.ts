/**
 * The approval gate under attack and misuse: nothing is signed without a
 * valid, unreplayed approval by the owner over the digest they saw.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { startTestApp, type TestApp } from '../support/app';
import { call, chainProvider, expectStatus, newAgent, newUser, newWallet, randomAddress, waitForStatus, type TestUser } from '../support/actors';
import { statusQuery, transactionWorkflowId } from '../../workflows/definitions';
import { temporalBinary } from '../../scripts/infra/paths';

let app: TestApp;
const provider = chainProvider();
before(async () => {
  app = await startTestApp();
});
after(async () => {
  provider.destroy();
  await app?.stop();
});

interface Prepared {
  transaction_id: string;
  digest: string;
  status: string;
}

async function setup() {
  const owner = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner);
  const agent = await newAgent(app.url, owner, [wallet]);
  return { owner, wallet, agent };
}

async function prepare(apiKey: string, wallet: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  return call<Prepared>(app.url, 'POST', '/api/prepare_transaction', {
    apiKey,
    headers,
    body: { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '1000', ...extra },
  });
}

async function signedCount(transactionId?: string): Promise<number> {
  const query = app.database.db('signed_transactions');
  if (transactionId) query.where({ transaction_id: transactionId });
  const [row] = await query.count<{ count: string }[]>('* as count');
  return Number(row!.count);
}

const errorOf = (body: object) => (body as { error: { code: string; reason?: string } }).error;

describe('approval', () => {
  test('without approval nothing is signed, and the agent cannot execute', async () => {
    const { wallet, agent } = await setup();
    const prepared = await prepare(agent.apiKey, wallet);
    expectStatus(prepared, 202, 'prepare');
    const execute = await call(app.url, 'POST', '/api/execute_transaction', { apiKey: agent.apiKey, body: { transaction_id: prepared.body.transaction_id } });
    expectStatus(execute, 409, 'execute before approval');
    assert.equal(errorOf(execute.body).reason, 'not_approved');
    assert.equal(await signedCount(prepared.body.transaction_id), 0);
    assert.equal(await provider.getTransactionCount(wallet, 'pending'), 0);
  });

  test('another user gets 404 for the transaction; an agent calling approve gets 403', async () => {
    const { wallet, agent } = await setup();
    const stranger = await newUser(app.url, app.clock);
    const prepared = await prepare(agent.apiKey, wallet);
    const foreign = await call(app.url, 'POST', '/api/authorize_transaction', {
      token: stranger.token,
      body: { transaction_id: prepared.body.transaction_id, digest: prepared.body.digest, mfa_code: await stranger.nextCode() },
    });
    expectStatus(foreign, 404, 'approval by another user');
    const unknown = await call(app.url, 'POST', '/api/authorize_transaction', { token: stranger.token, body: { transaction_id: randomUUID(), digest: prepared.body.digest, mfa_code: await stranger.nextCode() } });
    assert.deepEqual(unknown.body, foreign.body, 'unknown and foreign ids are indistinguishable');
    const byAgent = await call(app.url, 'POST', '/api/authorize_transaction', { apiKey: agent.apiKey, body: { transaction_id: prepared.body.transaction_id, digest: prepared.body.digest, mfa_code: '123456' } });
    expectStatus(byAgent, 403, 'agent approving');
    assert.equal(errorOf(byAgent.body).code, 'wrong_principal');
    const read = await call(app.url, 'GET', `/api/transactions/${prepared.body.transaction_id}`, { token: stranger.token });
    expectStatus(read, 404, 'another user reading');
  });

  test('a used TOTP code cannot approve a second request', async () => {
    const { owner, wallet, agent } = await setup();
    const first = await prepare(agent.apiKey, wallet);
    const second = await prepare(agent.apiKey, wallet);
    const code = await owner.nextCode();
    expectStatus(await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: first.body.transaction_id, digest: first.body.digest, mfa_code: code } }), 200, 'first approval');
    const replay = await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: second.body.transaction_id, digest: second.body.digest, mfa_code: code } });
    expectStatus(replay, 403, 'replayed code');
    assert.equal(errorOf(replay.body).code, 'mfa_code_used');
    const status = await call(app.url, 'GET', `/api/transaction_status?transaction_id=${second.body.transaction_id}`, { apiKey: agent.apiKey });
    assert.equal(status.body.status, 'pending_approval');
  });

  test('a stale digest is refused and consumes nothing', async () => {
    const { owner, wallet, agent } = await setup();
    const prepared = await prepare(agent.apiKey, wallet);
    const code = await owner.nextCode();
    const stale = await call(app.url, 'POST', '/api/authorize_transaction', {
      token: owner.token,
      body: { transaction_id: prepared.body.transaction_id, digest: `0x${'0'.repeat(64)}`, mfa_code: code },
    });
    expectStatus(stale, 409, 'stale digest');
    assert.equal(errorOf(stale.body).reason, 'stale_digest');
    // Without a digest there is nothing to compare: a 400 naming the field, and the code is not spent.
    const bare = await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: prepared.body.transaction_id, mfa_code: code } });
    expectStatus(bare, 400, 'no digest');
    assert.equal(errorOf(bare.body).code, 'invalid_request');
    assert.deepEqual((bare.body.error as { details: { field: string }[] }).details.map((d) => d.field), ['digest']);
    const bareBatch = await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_ids: [prepared.body.transaction_id], mfa_code: code } });
    expectStatus(bareBatch, 400, 'a batch without digests');
    assert.deepEqual((bareBatch.body.error as { details: { field: string }[] }).details.map((d) => d.field), ['digests']);
    const ok = await call(app.url, 'POST', '/api/authorize_transaction', {
      token: owner.token,
      body: { transaction_id: prepared.body.transaction_id, digest: prepared.body.digest, mfa_code: code },
    });
    expectStatus(ok, 200, 'the same code with the right digest');
    const again = await call(app.url, 'POST', '/api/authorize_transaction', {
      token: owner.token,
      body: { transaction_id: prepared.body.transaction_id, digest: prepared.body.digest, mfa_code: await owner.nextCode() },
    });
    expectStatus(again, 409, 'approving twice');
    assert.equal(errorOf(again.body).reason, 'already_decided');
  });

  test('rejection with a reason is final', async () => {
    const { owner, wallet, agent } = await setup();
    const prepared = await prepare(agent.apiKey, wallet);
    const rejected = await call(app.url, 'POST', '/api/reject_transaction', { token: owner.token, body: { transaction_id: prepared.body.transaction_id, reason: 'not today' } });
    expectStatus(rejected, 200, 'reject');
    assert.equal(rejected.body.status, 'rejected');
    assert.equal(rejected.body.rejection_reason, 'not today');
    const late = await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: prepared.body.transaction_id, digest: prepared.body.digest, mfa_code: await owner.nextCode() } });
    expectStatus(late, 409, 'approve after reject');
    assert.equal(errorOf(late.body).reason, 'already_decided');
  });

  test('cancel by the preparing agent before signing; not after', async () => {
    const { owner, wallet, agent } = await setup();
    const prepared = await prepare(agent.apiKey, wallet);
    const cancelled = await call(app.url, 'POST', `/api/transactions/${prepared.body.transaction_id}/cancel`, { apiKey: agent.apiKey });
    expectStatus(cancelled, 200, 'cancel');
    assert.equal(cancelled.body.status, 'cancelled');

    const other = await prepare(agent.apiKey, wallet, { auto_execute: true });
    expectStatus(await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: other.body.transaction_id, digest: other.body.digest, mfa_code: await owner.nextCode() } }), 200, 'approve');
    await waitForStatus(app.url, { token: owner.token }, other.body.transaction_id, ['confirmed']);
    const tooLate = await call(app.url, 'POST', `/api/transactions/${other.body.transaction_id}/cancel`, { token: owner.token });
    expectStatus(tooLate, 409, 'cancel after signing');
    assert.equal(errorOf(tooLate.body).reason, 'signing_started');
  });
});

describe('an orchestrator that does not answer', () => {
  test('approval times out with 503; a retry with a fresh code resends the same approval and succeeds', async () => {
    const { owner, wallet, agent } = await setup();
    const prepared = await prepare(agent.apiKey, wallet);
    await app.stopWorker();
    try {
      const stalled = await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: prepared.body.transaction_id, digest: prepared.body.digest, mfa_code: await owner.nextCode() } });
      expectStatus(stalled, 503, 'no worker polls the task queue');
      assert.equal(errorOf(stalled.body).code, 'unavailable');
      assert.ok(stalled.headers.get('retry-after'));
    } finally {
      await app.startWorker();
    }
    const retried = await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: prepared.body.transaction_id, digest: prepared.body.digest, mfa_code: await owner.nextCode() } });
    expectStatus(retried, 200, 'retry');
    assert.equal(retried.body.status, 'approved');
    const approvals = await app.database.db('approvals').where({ transaction_id: prepared.body.transaction_id });
    assert.equal(approvals.length, 1);
  });
});

describe('the Temporal back door', () => {
  test('the sign activity itself refuses a request whose projection says approved or signing but that has no approval row', async () => {
    const { wallet, agent } = await setup();
    const prepared = await prepare(agent.apiKey, wallet);
    expectStatus(prepared, 202, 'prepare');
    const id = prepared.body.transaction_id;
    // As if someone moved the projection by hand (or a bug did): the statuses the gate lets through.
    for (const status of ['approved', 'signing'] as const) {
      await app.database.db('transactions').where({ id }).update({ status, execution_expires_at: new Date(Date.now() + 3_600_000) });
      await assert.rejects(app.activities.signTransaction({ transactionId: id, version: 50 }), (err: Error) => err.message === 'approval_mismatch', status);
    }
    assert.equal(await signedCount(id), 0, 'nothing signed');
    assert.equal(await provider.getTransactionCount(wallet, 'pending'), 0);
  });

  test('an Update sent straight to the workflow (as from the CLI or UI) never leads to a signature', async () => {
    const { owner, wallet, agent } = await setup();
    const prepared = await prepare(agent.apiKey, wallet);
    const handle = app.temporal.workflow.getHandle(transactionWorkflowId(prepared.body.transaction_id));
    await assert.rejects(
      handle.executeUpdate('approve', { args: [{ approvalId: randomUUID(), caller: { type: 'user', id: owner.userId } }] }),
      (err: unknown) => err instanceof WorkflowUpdateFailedError,
    );
    await assert.rejects(handle.executeUpdate('execute', { args: [{ caller: { type: 'agent', id: agent.agentId } }] }), WorkflowUpdateFailedError);

    // An approval row of another transaction does not approve this one either.
    const other = await prepare(agent.apiKey, wallet);
    expectStatus(await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: other.body.transaction_id, digest: other.body.digest, mfa_code: await owner.nextCode() } }), 200, 'approve other');
    const foreignApproval = (await app.database.db('approvals').where({ transaction_id: other.body.transaction_id }).first('id')) as { id: string };
    await assert.rejects(handle.executeUpdate('approve', { args: [{ approvalId: foreignApproval.id, caller: { type: 'user', id: owner.userId } }] }), WorkflowUpdateFailedError);

    assert.equal((await handle.query(statusQuery)).status, 'pending_approval');
    assert.equal(await signedCount(prepared.body.transaction_id), 0);
    const status = await call(app.url, 'GET', `/api/transactions/${prepared.body.transaction_id}`, { token: owner.token });
    assert.equal(status.body.status, 'pending_approval');
  });

  test('operators find pending requests by search attribute', async () => {
    const { wallet, agent } = await setup();
    const prepared = await prepare(agent.apiKey, wallet);
    const run = promisify(execFile);
    const query = `CountersignStatus='pending_approval' AND CountersignWallet='${wallet.toLowerCase()}'`;
    let ids: string[] = [];
    for (let i = 0; i < 50 && !ids.includes(transactionWorkflowId(prepared.body.transaction_id)); i += 1) {
      const { stdout } = await run(temporalBinary(), ['workflow', 'list', '--address', app.config.TEMPORAL_ADDRESS, '--query', query, '--output', 'json']);
      ids = (JSON.parse(stdout || '[]') as { execution: { workflowId: string } }[]).map((w) => w.execution.workflowId);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(ids.includes(transactionWorkflowId(prepared.body.transaction_id)), `temporal workflow list --query "${query}" found ${ids.join(', ')}`);
  });
});

describe('idempotency', () => {
  test('same key and body → the same transaction; same key, other body → 422', async () => {
    const { wallet, agent } = await setup();
    const to = randomAddress();
    const body = { to_address: to, idempotency_key: 'order-1' };
    const first = await prepare(agent.apiKey, wallet, body);
    const again = await prepare(agent.apiKey, wallet, body);
    expectStatus(again, 202, 'replay');
    assert.equal(again.body.transaction_id, first.body.transaction_id);
    assert.equal(again.body.digest, first.body.digest);
    const header = await prepare(agent.apiKey, wallet, { to_address: to }, { 'Idempotency-Key': 'order-1' });
    assert.equal(header.body.transaction_id, first.body.transaction_id, 'the header is the same key');
    const different = await prepare(agent.apiKey, wallet, { to_address: to, amount: '2000', idempotency_key: 'order-1' });
    expectStatus(different, 422, 'reused key');
    assert.equal(errorOf(different.body).code, 'idempotency_key_reused');
    const [row] = await app.database.db('transactions').where({ idempotency_key: 'order-1' }).count<{ count: string }[]>('* as count');
    assert.equal(Number(row!.count), 1);
  });

  test('a malformed or empty Idempotency-Key header is a 400 naming the header, and nothing is prepared', async () => {
    const { wallet, agent } = await setup();
    const before = await app.database.db('transactions').where({ agent_id: agent.agentId }).count<{ count: string }[]>('* as count');
    // The empty value is what the OpenAPI fuzzer sent: it violates the pattern, so it is no "request without a key".
    for (const value of ['has spaces/and slashes', '']) {
      const bad = await prepare(agent.apiKey, wallet, {}, { 'Idempotency-Key': value });
      expectStatus(bad, 400, `header ${JSON.stringify(value)}`);
      const error = errorOf(bad.body) as { code: string; details?: { field: string; in?: string }[] };
      assert.equal(error.code, 'invalid_request');
      assert.deepEqual(error.details?.map((d) => [d.field, d.in]), [['Idempotency-Key', 'header']]);
    }
    const after = await app.database.db('transactions').where({ agent_id: agent.agentId }).count<{ count: string }[]>('* as count');
    assert.equal(Number(after[0]!.count), Number(before[0]!.count));
  });
});

describe('one wallet, many requests', () => {
  test('20 concurrent requests approved in one batch confirm with consecutive nonces', async () => {
    const { owner, wallet, agent } = await setup();
    const startNonce = await provider.getTransactionCount(wallet);
    const prepared = await Promise.all(Array.from({ length: 20 }, () => prepare(agent.apiKey, wallet, { auto_execute: true })));
    for (const p of prepared) expectStatus(p, 202, 'prepare');
    const approved = await call<{ results: { transaction_id: string; status: string }[] }>(app.url, 'POST', '/api/authorize_transaction', {
      token: owner.token,
      body: { transaction_ids: prepared.map((p) => p.body.transaction_id), digests: prepared.map((p) => p.body.digest), mfa_code: await owner.nextCode() },
    });
    expectStatus(approved, 200, 'batch approval');
    assert.equal(approved.body.results.length, 20);
    for (const result of approved.body.results) assert.equal(result.status, 'approved', JSON.stringify(result));

    const done = await Promise.all(prepared.map((p) => waitForStatus(app.url, { apiKey: agent.apiKey }, p.body.transaction_id, ['confirmed', 'failed'], 60_000)));
    for (const d of done) assert.equal(d.status, 'confirmed', JSON.stringify(d));
    const nonces = done.map((d) => Number(d.nonce)).sort((a, b) => a - b);
    assert.deepEqual(nonces, Array.from({ length: 20 }, (_, i) => startNonce + i));
    assert.equal(new Set(done.map((d) => d.tx_hash)).size, 20);
    assert.equal(await provider.getTransactionCount(wallet), startNonce + 20);
  });
});

export type { TestUser };
