/**
 * The reconciler resumes a request PostgreSQL holds past approval whose
 * workflow is missing — what a restore into a fresh Temporal leaves behind
 * (docs/operations.md "Backup and restore") — and finishes it exactly once.
 *
 * This app's API drops every workflow start, so each request has none. Every
 * row is written by the code that writes it in production: the prepare, the
 * owner's approval (behind the TOTP gate) and the agent's execute through the
 * API, whose Updates find no workflow; the projection to `approved`, the
 * signature and the broadcast by the worker's own activities, called as the
 * lost workflow had called them. Then one reconciler pass, on the worker.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startTestApp, type TestApp } from '../support/app';
import { call, chainProvider, expectStatus, newAgent, newUser, newWallet, randomAddress, waitForStatus, type TestUser } from '../support/actors';
import { verifyChain } from '../../domains/audit';
import type { ReconcileReport } from '../../domains/transactions';
import { transactionWorkflowId, type TransactionWorkflowInput } from '../../workflows/definitions';

let app: TestApp;
const provider = chainProvider();
before(async () => {
  app = await startTestApp({ wrapWorkflows: (workflows) => ({ ...workflows, start: async () => 'started' }) });
});
after(async () => {
  provider.destroy();
  await app?.stop();
});

interface Request {
  id: string;
  owner: TestUser;
  wallet: string;
  agent: { agentId: string; apiKey: string };
}

/** Prepared and approved through the API (its Update finds no workflow), then projected `approved` as the workflow does. */
async function approvedWithoutWorkflow(options: { autoExecute?: boolean; execute?: boolean } = {}): Promise<Request> {
  const owner = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner);
  const agent = await newAgent(app.url, owner, [wallet]);
  const prepared = await call<{ transaction_id: string; digest: string }>(app.url, 'POST', '/api/prepare_transaction', {
    apiKey: agent.apiKey,
    body: { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '1000', ...(options.autoExecute ? { auto_execute: true } : {}) },
  });
  expectStatus(prepared, 202, 'prepare');
  const id = prepared.body.transaction_id;
  const approved = await call(app.url, 'POST', '/api/authorize_transaction', {
    token: owner.token,
    body: { transaction_id: id, digest: prepared.body.digest, mfa_code: await owner.nextCode() },
  });
  // The approval is recorded behind the TOTP gate; its Update has no workflow to reach.
  expectStatus(approved, 503, 'approve with no workflow');
  assert.equal((await app.database.db('approvals').where({ transaction_id: id })).length, 1);
  // What the lost workflow's approve path wrote: `approved` at version 2 with its execution window.
  await app.activities.projectStatus({ transactionId: id, status: 'approved', version: 2, executionDeadlineMs: Date.now() + app.config.EXECUTION_WINDOW * 1000 });
  if (options.execute) {
    const executed = await call(app.url, 'POST', '/api/execute_transaction', { apiKey: agent.apiKey, body: { transaction_id: id } });
    // Recorded first; the Update finds no workflow, so the API answers from PostgreSQL.
    expectStatus(executed, 409, 'execute with no workflow');
    assert.equal((await app.database.db('transaction_commands').where({ transaction_id: id, kind: 'execute' })).length, 1);
  }
  return { id, owner, wallet, agent };
}

async function reconcile(): Promise<ReconcileReport> {
  return app.temporal.workflow.execute('reconcileWorkflow', { taskQueue: app.taskQueue, workflowId: `reconcile-test-${randomUUID()}`, args: [{ graceMs: 0 }] });
}

async function row(id: string) {
  return (await app.database.db('transactions').where({ id }).first('status', 'version')) as { status: string; version: number };
}

/** Confirmed, once: one stored signature, one transaction on chain from the wallet. */
async function assertConfirmedOnce(request: Request) {
  await waitForStatus(app.url, { token: request.owner.token }, request.id, ['confirmed'], 60_000);
  assert.equal((await app.database.db('signed_transactions').where({ transaction_id: request.id })).length, 1, 'one signature');
  assert.equal(await provider.getTransactionCount(request.wallet, 'latest'), 1, 'one transaction on chain');
  assert.equal((await app.temporal.workflow.getHandle(transactionWorkflowId(request.id)).describe()).status.name, 'COMPLETED');
}

test('approved and executed, its workflow missing: resumed, signed once and confirmed', { timeout: 120_000 }, async () => {
  const request = await approvedWithoutWorkflow({ execute: true });
  const report = await reconcile();
  assert.deepEqual(report.resumed, [request.id]);
  assert.ok(report.started.includes(request.id));
  await assertConfirmedOnce(request);
  // Nothing left: a confirmed request is not resumed again, and the history's run is the only one.
  assert.deepEqual((await reconcile()).started, []);
  const { count } = (await app.database.db('transaction_events').where({ transaction_id: request.id }).count('* as count').first()) as { count: string };
  assert.equal(Number(count), 5, 'pending, approved, signing, broadcast, confirmed: one event each');
});

test('auto-execute, approved, its workflow missing: resumed and confirmed without an execute', { timeout: 120_000 }, async () => {
  const request = await approvedWithoutWorkflow({ autoExecute: true });
  assert.deepEqual((await reconcile()).resumed, [request.id]);
  await assertConfirmedOnce(request);
});

test('approved without an execute: the resumed workflow waits for the agent, whose execute then reaches it', { timeout: 120_000 }, async () => {
  const request = await approvedWithoutWorkflow();
  assert.deepEqual((await reconcile()).resumed, [request.id]);
  const handle = app.temporal.workflow.getHandle(transactionWorkflowId(request.id));
  assert.equal((await handle.describe()).status.name, 'RUNNING');
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  assert.deepEqual(await row(request.id), { status: 'approved', version: 2 }, 'nothing signed before the execute');
  assert.equal((await app.database.db('signed_transactions').where({ transaction_id: request.id })).length, 0);
  const executed = await call(app.url, 'POST', '/api/execute_transaction', { apiKey: request.agent.apiKey, body: { transaction_id: request.id } });
  expectStatus(executed, 202, 'execute after the resume');
  await assertConfirmedOnce(request);
});

test('signed, or broadcast, when its workflow went missing: resumed with the stored bytes, never signed again', { timeout: 120_000 }, async () => {
  const signedOnly = await approvedWithoutWorkflow({ execute: true });
  // The lost workflow had moved to `signing` (version 3) and its sign activity had committed.
  const { txHash } = await app.activities.signTransaction({ transactionId: signedOnly.id, version: 3 });
  assert.deepEqual(await row(signedOnly.id), { status: 'signing', version: 3 });

  const broadcast = await approvedWithoutWorkflow({ execute: true });
  await app.activities.signTransaction({ transactionId: broadcast.id, version: 3 });
  await app.activities.broadcastTransaction({ transactionId: broadcast.id, version: 4 });
  assert.deepEqual(await row(broadcast.id), { status: 'broadcast', version: 4 });

  assert.deepEqual((await reconcile()).resumed.sort(), [signedOnly.id, broadcast.id].sort());
  await assertConfirmedOnce(signedOnly);
  await assertConfirmedOnce(broadcast);
  const stored = (await app.database.db('signed_transactions').where({ transaction_id: signedOnly.id }).first('tx_hash')) as { tx_hash: string };
  assert.equal(stored.tx_hash, txHash, 'the bytes signed before the workflow went missing are the ones on chain');
  assert.equal((await provider.getTransaction(txHash))?.from.toLowerCase(), signedOnly.wallet.toLowerCase());
  const audit = await verifyChain(app.database.db, app.config.AUDIT_HMAC_KEY!);
  assert.equal(audit.ok, true);
});

test('a start whose resume point PostgreSQL does not hold is refused: nothing projected, nothing signed', { timeout: 60_000 }, async () => {
  const request = await approvedWithoutWorkflow({ execute: true });
  const row0 = (await app.database.db('transactions').where({ id: request.id }).first()) as { approval_expires_at: Date };
  // Sent to Temporal directly (UI, CLI): claims the request is already signing.
  const input: TransactionWorkflowInput = {
    transactionId: request.id,
    approvalExpiresAtMs: row0.approval_expires_at.getTime(),
    executionWindowMs: 60_000,
    autoExecute: false,
    resume: { status: 'signing', version: 7 },
  };
  const handle = await app.temporal.workflow.start('transactionWorkflow', { taskQueue: app.taskQueue, workflowId: transactionWorkflowId(request.id), args: [input] });
  await assert.rejects(handle.result(), /Workflow execution failed/);
  assert.deepEqual(await row(request.id), { status: 'approved', version: 2 });
  assert.equal((await app.database.db('signed_transactions').where({ transaction_id: request.id })).length, 0);
  const refusals = await app.database.db('audit_events').where({ action: 'transaction.message_refused', subject_id: request.id });
  assert.equal(refusals.length, 1);
  assert.ok(app.logs.some((line) => line.includes('ALERT: a workflow message named no valid record')));
});
