/**
 * Fault: the worker is SIGKILLed at random moments while approved requests
 * are being signed, broadcast and confirmed. Seeded: the seed is printed, and
 * COUNTERSIGN_PROOF_SEED=<seed> replays the same schedule.
 *
 * All requests are approved first. Each round then starts a worker process
 * (sometimes — at least once each — armed with a failpoint that kills it right after a signature is
 * committed, or right after the node accepted the bytes — or on a retried
 * activity left over from an earlier round), executes the next wave of
 * requests, and SIGKILLs the worker after a random delay, often in the middle
 * of the executes. Executes that meet no live worker answer 503 and are sent
 * again in a later round. A last worker then finishes the work.
 *
 * Then: every approved request is on chain exactly once (matched by tx hash;
 * each wallet's nonce equals its approved count), and nothing unapproved is
 * signed — a control group is never approved (one wallet only holds control
 * requests and keeps nonce 0), and Temporal messages sent straight to their
 * workflows (the back door) are refused.
 *
 * Size: 12 approved requests by default (CI); COUNTERSIGN_PROOF_FULL=1 runs 50
 * (nightly).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { transactionWorkflowId } from '../../workflows/definitions';
import { approve, execute, getStatus, newParty, prepare, waitAllFinal, type Party, type Tracked } from './support/flow';
import { createRng, fullRun, proofSeed } from './support/rng';
import { openFaultSuite, recordAborted, settle, type FaultSuite } from './support/suite';
import type { AppProcess } from './support/processes';

const FULL = fullRun();
const APPROVED = FULL ? 50 : 12;
const ROUNDS = FULL ? 16 : 6;
const WALLETS = FULL ? 5 : 3;
const NAME = `faults: worker SIGKILL × ${APPROVED} approved`;

let suite: FaultSuite;

before(async () => {
  suite = await openFaultSuite({ name: 'faults-worker-kill', private: ['anvil'] });
});
after(async () => {
  await suite?.close();
});

test(`worker SIGKILLed at random moments across ${APPROVED} approved requests: each on chain once, nothing unapproved signed`, { timeout: FULL ? 900_000 : 420_000 }, async () => {
  const startedAt = Date.now();
  const { api, app, stack } = suite;
  const seed = proofSeed();
  const rng = createRng(seed);
  suite.note(`seed ${seed} — replay with COUNTERSIGN_PROOF_SEED=${seed}${FULL ? ' COUNTERSIGN_PROOF_FULL=1' : ''}`);
  const requests: Tracked[] = [];
  const schedule: string[] = [];
  let faults = 0;
  try {
    const first = await suite.spawn('worker', { name: 'worker-setup' });
    const owners: Party[] = [];
    for (let i = 0; i < WALLETS; i++) owners.push(await newParty(app.url, app.clock));
    const controlParty = await newParty(app.url, app.clock);

    // The approved requests, spread over the wallets by the seed; a control request in every wallet.
    const assignment = Array.from({ length: APPROVED }, () => rng.pick(owners));
    const approvedSet = await inBatches(assignment, 4, (party) => prepare(api, party, { stage: 'approved' }));
    const control = await inBatches([...owners, controlParty, controlParty, controlParty], 4, (party) =>
      prepare(api, party, { stage: 'control', autoExecute: party === controlParty }),
    );
    requests.push(...approvedSet, ...control);
    // All approved up front (one TOTP code per owner), executed wave by wave below: approvals are
    // Updates too, and an owner's approval should not depend on which worker happens to be alive.
    for (const party of owners) await approve(api, approvedSet.filter((r) => r.party === party));
    await first.kill('SIGTERM');

    // Blocks every second: transactions spend time in the mempool, so kills also land during confirmation.
    await stack.rpc('evm_setIntervalMining', [1]);

    const waves: Tracked[][] = Array.from({ length: ROUNDS }, () => []);
    approvedSet.forEach((r, i) => waves[i % ROUNDS]!.push(r));
    /** Executes answered 503 (the worker died first): sent again in a later round. */
    let unexecuted: Tracked[] = [];

    /** Sends every execute at once; returns those to send again. */
    const executeAll = async (batch: Tracked[]) => {
      const answers = await Promise.all(batch.map(async (r) => ({ r, answer: await execute(api, r) })));
      const left: Tracked[] = [];
      for (const { r, answer } of answers) {
        // 200: a 503'd execute reached the workflow later (Temporal delivers it to the next worker); execute is idempotent.
        if (answer.status === 202 || answer.status === 200) continue;
        assert.equal(answer.status, 503, `execute: ${answer.status} ${JSON.stringify(answer.body)}`);
        left.push(r);
      }
      return left;
    };

    // The schedule, all from the seed: a failpoint for about a third of the rounds — and every run
    // meets both failpoints at least once, since a random SIGKILL rarely lands in the few
    // milliseconds between a committed signature and the activity's report — else a kill delay.
    const plan = Array.from({ length: ROUNDS }, () => ({
      armed: rng.next() < 0.35 ? rng.pick(['after_sign', 'after_broadcast'] as const) : undefined,
      delayMs: rng.int(0, 3000),
    }));
    const signRound = rng.int(0, ROUNDS - 1);
    const broadcastRound = (signRound + rng.int(1, ROUNDS - 1)) % ROUNDS;
    plan[signRound]!.armed = 'after_sign';
    plan[broadcastRound]!.armed = 'after_broadcast';

    for (let round = 0; round < ROUNDS; round++) {
      const { armed, delayMs } = plan[round]!;
      const worker: AppProcess = await suite.spawn('worker', { name: `worker-${round}`, ...(armed ? { failpoint: armed } : {}) });
      const wave = waves[round]!;
      let killedAt: number | undefined;
      const killer = armed
        ? undefined
        : new Promise<void>((resolve) =>
            setTimeout(() => {
              killedAt = Date.now();
              void worker.kill('SIGKILL').then(() => resolve());
            }, delayMs),
          );
      const executesStarted = Date.now();
      unexecuted = await executeAll([...unexecuted, ...wave]);
      if (killer) await killer;
      else {
        // Armed: it dies at its failpoint (or, if nothing reached it this round, we kill it).
        const died = await Promise.race([worker.exited, new Promise((r) => setTimeout(r, 20_000, 'alive'))]);
        if (died === 'alive') await worker.kill('SIGKILL');
      }
      const how = armed ? `failpoint ${armed} (${String(await worker.exited)})` : `SIGKILL ${killedAt! - executesStarted} ms after the executes began`;
      schedule.push(`round ${round + 1}: ${wave.length} approved, ${how}, ${unexecuted.length} execute(s) to resend`);
      suite.note(schedule.at(-1)!);
      faults += 1;
    }

    // A last worker finishes the work.
    await suite.spawn('worker', { name: 'worker-final' });
    const deadline = Date.now() + 120_000;
    while (unexecuted.length > 0) {
      assert.ok(Date.now() < deadline, `executes still refused: ${unexecuted.map((r) => r.id).join(', ')}`);
      unexecuted = await executeAll(unexecuted);
    }

    // The back door: Temporal messages alone, straight to control workflows, never lead to a signature.
    const realApproval = (await app.database.db('approvals').where({ transaction_id: approvedSet[0]!.id }).first('id')) as { id: string };
    for (const r of control.slice(0, 2)) {
      const handle = app.temporal.workflow.getHandle(transactionWorkflowId(r.id));
      await assert.rejects(handle.executeUpdate('approve', { args: [{ approvalId: realApproval.id, caller: { type: 'user', id: r.party.owner.userId } }] }), WorkflowUpdateFailedError, 'an approve message naming another request\'s approval is refused');
      await assert.rejects(handle.executeUpdate('execute', { args: [{ caller: { type: 'agent', id: r.party.agent.agentId } }] }), WorkflowUpdateFailedError, 'execute before approval is refused');
      const viaApi = await execute(api, r);
      assert.equal(viaApi.status, 409, `execute of an unapproved request through the API: ${JSON.stringify(viaApi.body)}`);
    }

    const views = await waitAllFinal(api, approvedSet, FULL ? 300_000 : 180_000);
    for (const [id, view] of views) assert.equal(view.status, 'confirmed', `request ${id}: ${JSON.stringify(view)}`);
    for (const r of control) assert.equal((await getStatus(api, r)).status, 'pending_approval', `control request ${r.id} is untouched`);
    assert.equal(await suite.api.call('GET', '/healthz').then((r) => r.status), 200);
    const controlNonce = Number(BigInt(await stack.rpc<string>('eth_getTransactionCount', [controlParty.wallet, 'latest'])));
    assert.equal(controlNonce, 0, 'the control wallet never sent anything');
    const controlSigned = await app.database.db('signed_transactions').whereIn('transaction_id', control.map((r) => r.id));
    assert.equal(controlSigned.length, 0, 'no control request has a signature');

    await settle(suite, {
      name: NAME,
      requests,
      faults,
      startedAt,
      notes: `seed ${seed}; ${WALLETS} wallets + 1 control wallet; ${control.length} control requests; ${schedule.join('; ')}`,
    });
  } catch (error) {
    suite.failed = true;
    suite.note(`seed ${seed} — replay with COUNTERSIGN_PROOF_SEED=${seed}`);
    if (!(error instanceof assert.AssertionError && /books balance|server errors|on chain/.test(error.message))) recordAborted(NAME, faults, requests, startedAt, error);
    throw error;
  }
});

/** Runs fn over items, `width` at a time, keeping the order of the results. */
async function inBatches<T, R>(items: T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += width) results.push(...(await Promise.all(items.slice(i, i + width).map(fn))));
  return results;
}
