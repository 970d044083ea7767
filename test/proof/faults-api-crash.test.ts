/**
 * Fault: the API process is SIGKILLed after it committed a request and before
 * it started the request's workflow (failpoint `after_prepare_commit`). The
 * agent got no answer and does not retry. The request is in PostgreSQL, so
 * the owner's inbox shows it, but there is no workflow to approve it with —
 * until the worker's reconciler schedule (worker/reconciler.ts) starts it.
 *
 * Then: the workflow exists within a minute of the crash, the owner approves,
 * the agent executes, and the request is on chain exactly once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowNotFoundError } from '@temporalio/client';
import { transactionWorkflowId } from '../../workflows/definitions';
import { randomAddress } from '../support/actors';
import { approve, executeUntilAccepted, newParty, waitForView, type Tracked } from './support/flow';
import { openFaultSuite, recordAborted, settle, type FaultSuite } from './support/suite';

const NAME = 'faults: API SIGKILL between commit and workflow start';
/** "The request reaches the owner within a minute" (the schedule runs every 30 s, a request counts as unstarted after 15 s). */
const WITHIN_MS = 60_000;
let suite: FaultSuite;

before(async () => {
  suite = await openFaultSuite({ name: 'faults-api-crash', private: ['anvil'] });
});
after(async () => {
  await suite?.close();
});

test('API SIGKILLed between commit and workflow start: the reconciler starts the workflow within a minute, and the request runs once', { timeout: 240_000 }, async () => {
  const startedAt = Date.now();
  const { api, app } = suite;
  const requests: Tracked[] = [];
  let faults = 0;
  try {
    // The worker creates the reconciler's schedule at start-up.
    await suite.spawn('worker');
    const party = await newParty(app.url, app.clock);
    const crashing = await suite.spawn('api', { name: 'api-crashing', failpoint: 'after_prepare_commit' });

    const recipient = randomAddress();
    const amount = 4321n;
    const answered = await fetch(`${crashing.url}/api/prepare_transaction`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': party.agent.apiKey },
      body: JSON.stringify({ wallet_address: party.wallet, kind: 'native', to_address: recipient, amount: amount.toString() }),
    }).then(
      (response) => `answered ${response.status}`,
      () => 'no answer',
    );
    assert.equal(answered, 'no answer', 'the API dies before it answers');
    assert.equal(await crashing.exited, 'SIGKILL');
    faults += 1;
    const crashedAt = Date.now();

    const rows = await app.database.db('transactions').where({ agent_id: party.agent.agentId }).select('id', 'digest', 'status');
    assert.equal(rows.length, 1, 'the request was committed');
    const row = rows[0] as { id: string; digest: string; status: string };
    assert.equal(row.status, 'pending_approval');
    const handle = app.temporal.workflow.getHandle(transactionWorkflowId(row.id));
    await assert.rejects(handle.describe(), WorkflowNotFoundError, 'the crash left no workflow');
    const request: Tracked = { id: row.id, digest: row.digest, party, wallet: party.wallet, recipient, amount, stage: 'pending', approved: false, autoExecute: false };
    requests.push(request);

    // The owner sees it at once: reads come from PostgreSQL.
    const shown = await api.call<{ status: string }>('GET', `/api/transactions/${row.id}`, { token: party.owner.token });
    assert.equal(shown.status, 200);
    assert.equal(shown.body.status, 'pending_approval');

    suite.note('waiting for the reconciler to start the workflow');
    for (;;) {
      const running = await handle.describe().then(
        (d) => d.status.name === 'RUNNING',
        (error: unknown) => {
          if (error instanceof WorkflowNotFoundError) return false;
          throw error;
        },
      );
      if (running) break;
      assert.ok(Date.now() - crashedAt < WITHIN_MS, `no workflow ${WITHIN_MS / 1000} s after the crash`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    suite.note(`workflow started ${((Date.now() - crashedAt) / 1000).toFixed(1)} s after the crash`);

    await approve(api, [request]);
    await executeUntilAccepted(api, request);
    const done = await waitForView(api, request, (v) => v.status === 'confirmed', 'confirmed', 90_000);
    assert.ok(done.tx_hash);
    await settle(suite, { name: NAME, requests, faults, startedAt, notes: 'the agent got no answer and did not retry; the reconciler started the workflow' });
  } catch (error) {
    suite.failed = true;
    if (!(error instanceof assert.AssertionError && /books balance|server errors|on chain/.test(error.message))) recordAborted(NAME, faults, requests, startedAt, error);
    throw error;
  }
});
