/**
 * The penetration test's first finding: a Temporal message alone led to a
 * signature. An agent prepared, the owner approved, the agent never executed,
 * and `temporal workflow update execute --name execute` with a made-up caller
 * had the request signed, broadcast and confirmed.
 *
 * Now execute, reject and cancel name a command the API recorded in
 * PostgreSQL; the workflow verifies it before acting, and the signing gate
 * requires the execute command (or `auto_execute`, frozen at prepare). Every
 * refused message is audited and logged as an alert.
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
import { backdoorRefusals } from '../../lib/metrics';

let app: TestApp;
const provider = chainProvider();
before(async () => {
  app = await startTestApp();
});
after(async () => {
  provider.destroy();
  await app?.stop();
});

async function setup() {
  const owner = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner);
  const agent = await newAgent(app.url, owner, [wallet]);
  return { owner, wallet, agent };
}

async function prepare(apiKey: string, wallet: string, extra: Record<string, unknown> = {}) {
  const prepared = await call<{ transaction_id: string; digest: string }>(app.url, 'POST', '/api/prepare_transaction', {
    apiKey,
    body: { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '1000', ...extra },
  });
  expectStatus(prepared, 202, 'prepare');
  return prepared.body;
}

async function approve(owner: TestUser, prepared: { transaction_id: string; digest: string }) {
  const answer = await call(app.url, 'POST', '/api/authorize_transaction', {
    token: owner.token,
    body: { transaction_id: prepared.transaction_id, digest: prepared.digest, mfa_code: await owner.nextCode() },
  });
  expectStatus(answer, 200, 'approve');
}

const signedCount = async (transactionId: string) =>
  Number(((await app.database.db('signed_transactions').where({ transaction_id: transactionId }).count<{ count: string }[]>('* as count'))[0]!).count);

const refusals = async (transactionId: string) =>
  (await app.database.db('audit_events').where({ action: 'transaction.message_refused', subject_id: transactionId }).orderBy('id').select('data')).map(
    (r: { data: { update: string; record_id: string | null } }) => r.data,
  );

const audited = async (action: string, transactionId: string) =>
  Number(((await app.database.db('audit_events').where({ action, subject_id: transactionId }).count<{ count: string }[]>('* as count'))[0]!).count);

/** countersign_backdoor_refusals_total{update} in this process's registry (the test worker's activities count there). */
const backdoorCount = async (update: string) => (await backdoorRefusals.get()).values.find((v) => v.labels.update === update)?.value ?? 0;

const handleOf = (transactionId: string) => app.temporal.workflow.getHandle(transactionWorkflowId(transactionId));

describe('execute sent straight to Temporal', () => {
  test('the pen-test repro: approved, never executed, `temporal workflow update execute` → refused, audited, nothing signed', async () => {
    const { owner, wallet, agent } = await setup();
    const prepared = await prepare(agent.apiKey, wallet);
    await approve(owner, prepared);
    const id = prepared.transaction_id;
    const countedBefore = await backdoorCount('execute');

    // Exactly the command from the report, through the real Temporal CLI.
    const run = promisify(execFile);
    await assert.rejects(
      run(temporalBinary(), [
        'workflow', 'update', 'execute',
        '--address', app.config.TEMPORAL_ADDRESS,
        '--workflow-id', transactionWorkflowId(id),
        '--name', 'execute',
        '--input', JSON.stringify({ caller: { type: 'agent', id: 'nobody' } }),
      ]),
      'the CLI reports the refusal',
    );
    // And through the client: a made-up command id, then the agent's real id as the "caller".
    await assert.rejects(handleOf(id).executeUpdate('execute', { args: [{ commandId: randomUUID() }] }), WorkflowUpdateFailedError);
    await assert.rejects(handleOf(id).executeUpdate('execute', { args: [{ caller: { type: 'agent', id: agent.agentId } }] }), WorkflowUpdateFailedError);
    await assert.rejects(handleOf(id).executeUpdate('execute', { args: [] }), WorkflowUpdateFailedError, 'no argument at all');

    assert.equal((await handleOf(id).query(statusQuery)).status, 'approved', 'the workflow still waits for a real execute');
    // Give a wrongly accepted execute time to reach the signer.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(await signedCount(id), 0, 'nothing signed');
    assert.equal(await provider.getTransactionCount(wallet, 'pending'), 0, 'nothing sent');
    const refused = await refusals(id);
    assert.equal(refused.length, 4, JSON.stringify(refused));
    assert.ok(refused.every((r) => r.update === 'execute'));
    assert.equal((await backdoorCount('execute')) - countedBefore, 4, 'each refusal counted in the metrics');
    assert.equal(await audited('transaction.execute_requested', id), 0);
    assert.ok(app.logs.some((line) => line.includes('"level":40') && line.includes('ALERT') && line.includes(id)), 'an operator alert was logged at warn');

    // The real execute, through the API, still works and is recorded once.
    const executed = await call(app.url, 'POST', '/api/execute_transaction', { apiKey: agent.apiKey, body: { transaction_id: id } });
    expectStatus(executed, 202, 'execute through the API');
    const done = await waitForStatus(app.url, { apiKey: agent.apiKey }, id, ['confirmed', 'failed'], 60_000);
    assert.equal(done.status, 'confirmed');
    assert.equal(await signedCount(id), 1);
    const commands = await app.database.db('transaction_commands').where({ transaction_id: id });
    assert.deepEqual(commands.map((c: { kind: string; actor_type: string; actor_id: string }) => [c.kind, c.actor_type, c.actor_id]), [['execute', 'agent', agent.agentId]]);
    assert.equal(await audited('transaction.execute_requested', id), 1);
  });

  test("another request's execute command does not execute this one", async () => {
    const { owner, wallet, agent } = await setup();
    const target = await prepare(agent.apiKey, wallet);
    const other = await prepare(agent.apiKey, wallet);
    await approve(owner, target);
    await approve(owner, other);
    expectStatus(await call(app.url, 'POST', '/api/execute_transaction', { apiKey: agent.apiKey, body: { transaction_id: other.transaction_id } }), 202, 'execute other');
    const foreign = (await app.database.db('transaction_commands').where({ transaction_id: other.transaction_id, kind: 'execute' }).first('id')) as { id: string };
    await assert.rejects(handleOf(target.transaction_id).executeUpdate('execute', { args: [{ commandId: foreign.id }] }), WorkflowUpdateFailedError);
    assert.equal((await handleOf(target.transaction_id).query(statusQuery)).status, 'approved');
    assert.equal(await signedCount(target.transaction_id), 0);
    assert.deepEqual(await refusals(target.transaction_id), [{ update: 'execute', record_id: foreign.id }]);
  });

  test('the signing gate itself requires the execute command: the sign activity called directly on an approved request refuses', async () => {
    const { owner, wallet, agent } = await setup();
    const prepared = await prepare(agent.apiKey, wallet);
    await approve(owner, prepared);
    // Approved by the owner for real; only the agent's execute is missing.
    await assert.rejects(app.activities.signTransaction({ transactionId: prepared.transaction_id, version: 50 }), (err: Error) => err.message === 'execute_not_requested');
    assert.equal(await signedCount(prepared.transaction_id), 0);
    assert.equal(await provider.getTransactionCount(wallet, 'pending'), 0);
  });

  test('auto_execute is frozen at prepare: it cannot be switched on afterwards', async () => {
    const { wallet, agent } = await setup();
    const prepared = await prepare(agent.apiKey, wallet);
    await assert.rejects(app.database.db('transactions').where({ id: prepared.transaction_id }).update({ auto_execute: true }), /frozen/);
  });
});

describe('reject and cancel sent straight to Temporal', () => {
  test('a forged reject or cancel is refused and audited; the owner still decides', async () => {
    const { owner, wallet, agent } = await setup();
    const prepared = await prepare(agent.apiKey, wallet);
    const id = prepared.transaction_id;
    await assert.rejects(handleOf(id).executeUpdate('reject', { args: [{ caller: { type: 'user', id: owner.userId } }] }), WorkflowUpdateFailedError);
    await assert.rejects(handleOf(id).executeUpdate('cancel', { args: [{ commandId: randomUUID() }] }), WorkflowUpdateFailedError);
    assert.equal((await handleOf(id).query(statusQuery)).status, 'pending_approval');
    const status = await call<{ status: string }>(app.url, 'GET', `/api/transactions/${id}`, { token: owner.token });
    assert.equal(status.body.status, 'pending_approval');
    assert.deepEqual((await refusals(id)).map((r) => r.update), ['reject', 'cancel']);

    // An agent's cancel command does not reject (only the owner rejects).
    expectStatus(await call(app.url, 'POST', `/api/transactions/${id}/cancel`, { apiKey: agent.apiKey }), 200, 'cancel through the API');
    const cancel = (await app.database.db('transaction_commands').where({ transaction_id: id, kind: 'cancel' }).first('id')) as { id: string };
    const second = await prepare(agent.apiKey, wallet);
    await assert.rejects(handleOf(second.transaction_id).executeUpdate('reject', { args: [{ commandId: cancel.id }] }), WorkflowUpdateFailedError);
    assert.equal((await handleOf(second.transaction_id).query(statusQuery)).status, 'pending_approval');
  });

  test('reject and cancel through the API record their command and work as before', async () => {
    const { owner, wallet, agent } = await setup();
    const rejected = await prepare(agent.apiKey, wallet);
    const answer = await call<{ status: string; rejection_reason: string }>(app.url, 'POST', '/api/reject_transaction', { token: owner.token, body: { transaction_id: rejected.transaction_id, reason: 'not today' } });
    expectStatus(answer, 200, 'reject');
    assert.equal(answer.body.status, 'rejected');
    const command = (await app.database.db('transaction_commands').where({ transaction_id: rejected.transaction_id }).first()) as { kind: string; actor_type: string; actor_id: string; reason: string };
    assert.deepEqual([command.kind, command.actor_type, command.actor_id, command.reason], ['reject', 'user', owner.userId, 'not today']);

    const cancelled = await prepare(agent.apiKey, wallet);
    await approve(owner, cancelled);
    const byOwner = await call<{ status: string }>(app.url, 'POST', `/api/transactions/${cancelled.transaction_id}/cancel`, { token: owner.token });
    expectStatus(byOwner, 200, 'owner cancels an approved request');
    assert.equal(byOwner.body.status, 'cancelled');
    assert.equal(await refusals(rejected.transaction_id).then((r) => r.length), 0);
    assert.equal(await refusals(cancelled.transaction_id).then((r) => r.length), 0);
  });
});
