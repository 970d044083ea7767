/**
 * The reconciler (domains/transactions/reconcile.ts) against the real stack.
 * This app's API drops every workflow start after its commit, so each prepared
 * request is what an API that died between commit and start leaves behind: a
 * stored request with no workflow to send an approval to. The reconciler starts
 * those workflows, and never a second run of one that ran, nor one whose
 * approval window closed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError } from '@temporalio/client';
import { startTestApp, type TestApp } from '../support/app';
import { call, chainProvider, expectStatus, newAgent, newUser, newWallet, randomAddress, waitForStatus } from '../support/actors';
import { createTransactionWorkflows, startMissingWorkflows, type ReconcileReport } from '../../domains/transactions';
import { createLogger } from '../../lib/logger';
import { transactionWorkflowId } from '../../workflows/definitions';

let app: TestApp;
const provider = chainProvider();
before(async () => {
  // As if the API died after each commit: the start never reaches Temporal.
  app = await startTestApp({ wrapWorkflows: (workflows) => ({ ...workflows, start: async () => 'started' }) });
});
after(async () => {
  provider.destroy();
  await app?.stop();
});

async function orphan() {
  const owner = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner);
  const agent = await newAgent(app.url, owner, [wallet]);
  const prepared = await call<{ transaction_id: string; digest: string }>(app.url, 'POST', '/api/prepare_transaction', {
    apiKey: agent.apiKey,
    body: { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '1000' },
  });
  expectStatus(prepared, 202, 'prepare');
  return { owner, wallet, agent, id: prepared.body.transaction_id, digest: prepared.body.digest };
}

/** One reconciler pass through the worker: the schedule's workflow and its activity. */
async function reconcile(graceMs = 0): Promise<ReconcileReport> {
  return app.temporal.workflow.execute('reconcileWorkflow', { taskQueue: app.taskQueue, workflowId: `reconcile-test-${randomUUID()}`, args: [{ graceMs }] });
}

const workflowOf = (id: string) => app.temporal.workflow.getHandle(transactionWorkflowId(id));

test('a stored request whose workflow never started is started by the reconciler, then approved and confirmed once', { timeout: 120_000 }, async () => {
  const request = await orphan();
  await assert.rejects(workflowOf(request.id).describe(), WorkflowNotFoundError, 'no workflow before the reconciler runs');

  const first = await reconcile();
  assert.deepEqual(first.started, [request.id]);
  const described = await workflowOf(request.id).describe();
  assert.equal(described.status.name, 'RUNNING');
  assert.equal(described.taskQueue, app.taskQueue);

  // The owner's approval now has a workflow to reach; the request runs to the chain.
  const approved = await call(app.url, 'POST', '/api/authorize_transaction', {
    token: request.owner.token,
    body: { transaction_id: request.id, digest: request.digest, mfa_code: await request.owner.nextCode() },
  });
  expectStatus(approved, 200, 'approve after the reconciler');
  const executed = await call(app.url, 'POST', '/api/execute_transaction', { apiKey: request.agent.apiKey, body: { transaction_id: request.id } });
  expectStatus(executed, 202, 'execute');
  await waitForStatus(app.url, { token: request.owner.token }, request.id, ['confirmed'], 60_000);
  const [signed] = await app.database.db('signed_transactions').where({ transaction_id: request.id }).count<{ count: string }[]>('* as count');
  assert.equal(Number(signed!.count), 1);
  assert.equal(await provider.getTransactionCount(request.wallet, 'latest'), 1);

  // Nothing left to start: the confirmed request no longer waits.
  const again = await reconcile();
  assert.deepEqual(again.started, []);
});

test('a workflow that ran is never run again, and a young request is left to the API that took it', { timeout: 120_000 }, async () => {
  const terminated = await orphan();
  assert.deepEqual((await reconcile()).started, [terminated.id]);
  const { runId } = await workflowOf(terminated.id).describe();
  await workflowOf(terminated.id).terminate('operator stopped it');

  const young = await orphan();
  // The schedule's own grace: a request seconds old is still being started by the API that took it.
  assert.deepEqual((await reconcile(15_000)).started, []);
  // With no grace, only the young request starts: the terminated one's workflow id ran before.
  assert.deepEqual((await reconcile()).started, [young.id]);
  const latest = await workflowOf(terminated.id).describe();
  assert.equal(latest.runId, runId, 'the terminated run is still the latest: no second run');
  assert.equal(latest.status.name, 'TERMINATED');
});

test('the reconciler called directly: nothing past its approval window starts; concurrent passes start each missing workflow once', { timeout: 60_000 }, async () => {
  const requests = [await orphan(), await orphan(), await orphan()];
  const deps = {
    db: app.database.worker.db,
    workflows: createTransactionWorkflows({ client: app.temporal, taskQueue: app.taskQueue }),
    now: () => new Date(),
    logger: createLogger({ level: 'silent' }),
    executionWindowMs: app.config.EXECUTION_WINDOW * 1000,
  };
  // Past their approval window nothing is started: the requests wait for nothing (their rows are frozen, so the clock moves instead).
  const late = await startMissingWorkflows({ ...deps, now: () => new Date(Date.now() + (app.config.APPROVAL_TTL_MAX + 60) * 1000) }, { graceMs: 0 });
  assert.deepEqual(late.started, []);
  for (const request of requests) await assert.rejects(workflowOf(request.id).describe(), WorkflowNotFoundError);

  const passes = await Promise.all([startMissingWorkflows(deps, { graceMs: 0 }), startMissingWorkflows(deps, { graceMs: 0 }), startMissingWorkflows(deps, { graceMs: 0 })]);
  const started = passes.flatMap((pass) => pass.started);
  assert.equal(new Set(started).size, started.length, 'no request started by two passes');
  for (const request of requests) {
    assert.equal(started.filter((id) => id === request.id).length, 1, `${request.id} started once`);
    assert.equal((await workflowOf(request.id).describe()).status.name, 'RUNNING');
  }
});
