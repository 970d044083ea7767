/**
 * Fault: the Temporal server goes away and comes back (dev server with a
 * persistent SQLite file, on a private stack). Requests in every state when it
 * stops — pending approval, approved, executing (signed and broadcast, waiting
 * for a block) — survive the restart and complete: each on chain exactly once.
 * While it is down, reads still answer from PostgreSQL and a state change
 * answers the documented 503, never a 500.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { approve, execute, expectOk, getStatus, newParty, prepare, waitAllFinal, waitForView, type Tracked } from './support/flow';
import { openFaultSuite, recordAborted, settle, type FaultSuite } from './support/suite';

const NAME = 'faults: Temporal restart';
let suite: FaultSuite;

before(async () => {
  suite = await openFaultSuite({ name: 'faults-temporal', private: ['temporal', 'anvil'] });
});
after(async () => {
  await suite?.close();
});

test('Temporal restart: pending, approved and executing requests survive and complete once', { timeout: 300_000 }, async () => {
  const startedAt = Date.now();
  const { api, app, stack } = suite;
  const requests: Tracked[] = [];
  let faults = 0;
  try {
    await suite.spawn('worker');
    const parties = [await newParty(app.url, app.clock), await newParty(app.url, app.clock)];

    // Executing requests stay in the mempool until the test mines a block.
    await stack.rpc('evm_setAutomine', [false]);
    for (const party of parties) {
      requests.push(await prepare(api, party, { stage: 'pending' }));
      requests.push(await prepare(api, party, { stage: 'approved' }));
      requests.push(await prepare(api, party, { stage: 'executing', autoExecute: true }));
    }
    for (const party of parties) await approve(api, requests.filter((r) => r.party === party && r.stage !== 'pending'));
    for (const r of requests.filter((r) => r.stage === 'executing')) await waitForView(api, r, (v) => v.status === 'broadcast', 'broadcast');
    for (const r of requests.filter((r) => r.stage === 'approved')) assert.equal((await getStatus(api, r)).status, 'approved');
    for (const r of requests.filter((r) => r.stage === 'pending')) assert.equal((await getStatus(api, r)).status, 'pending_approval');

    suite.note('stopping Temporal');
    await stack.stop('temporal');
    faults += 1;

    // Reads come from PostgreSQL: still answered.
    for (const r of requests) expectOk(await api.call('GET', `/api/transactions/${r.id}`, { token: r.party.owner.token }), 200, 'status read while Temporal is down');
    // A state change needs the orchestrator: the documented 503 within the Update deadline, not a hang or a 500.
    const early = requests.find((r) => r.stage === 'approved')!;
    const refused = await execute(api, early);
    assert.equal(refused.status, 503, `execute while Temporal is down: ${JSON.stringify(refused.body)}`);
    assert.equal((refused.body as { error: { code: string } }).error.code, 'unavailable');
    // The executing requests get mined while the orchestrator is away.
    await stack.rpc('evm_mine');

    suite.note('starting Temporal again (same SQLite file)');
    await stack.start('temporal');
    await stack.rpc('evm_setAutomine', [true]);

    for (const party of parties) await approve(api, requests.filter((r) => r.party === party && r.stage === 'pending'));
    for (const r of requests.filter((r) => r.stage !== 'executing' && !r.autoExecute)) {
      // The first Update after the restart may meet a worker still reconnecting: 503 means "try again".
      await waitForView(api, r, () => true, 'any');
      const deadline = Date.now() + 60_000;
      for (;;) {
        const answer = await execute(api, r);
        if (answer.status === 202) break;
        assert.equal(answer.status, 503, `execute after the restart: ${answer.status} ${JSON.stringify(answer.body)}`);
        assert.ok(Date.now() < deadline, 'execute kept answering 503 for a minute after Temporal came back');
      }
    }
    const views = await waitAllFinal(api, requests, 150_000);
    for (const [id, view] of views) assert.equal(view.status, 'confirmed', `request ${id}: ${JSON.stringify(view)}`);

    await settle(suite, { name: NAME, requests, faults, startedAt, notes: 'per owner: 1 pending, 1 approved, 1 executing (in mempool) at the stop; execute during the outage answered 503' });
  } catch (error) {
    suite.failed = true;
    if (!(error instanceof assert.AssertionError && /books balance|server errors|on chain/.test(error.message))) recordAborted(NAME, faults, requests, startedAt, error);
    throw error;
  }
});

test('an approval answered 503 while Temporal is down is not lost: approving again after the restart works, and it executes once', { timeout: 180_000 }, async () => {
  const startedAt = Date.now();
  const { api, app, stack } = suite;
  const requests: Tracked[] = [];
  let faults = 0;
  try {
    const party = await newParty(app.url, app.clock);
    const request = await prepare(api, party, { stage: 'pending', autoExecute: true });
    requests.push(request);

    await stack.stop('temporal');
    faults += 1;
    // The TOTP gate passes and the approval row is written, but the workflow cannot be told.
    const during = await api.call('POST', '/api/authorize_transaction', { token: party.owner.token, body: { transaction_id: request.id, digest: request.digest, mfa_code: await party.owner.nextCode() } });
    assert.equal(during.status, 503, `approve while Temporal is down: ${JSON.stringify(during.body)}`);
    await stack.start('temporal');

    // The owner tries again with a fresh code, as the 503 invites.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const again = await api.call('POST', '/api/authorize_transaction', { token: party.owner.token, body: { transaction_id: request.id, digest: request.digest, mfa_code: await party.owner.nextCode() } });
      if (again.status === 200) break;
      assert.equal(again.status, 503, `approving again after the restart: ${again.status} ${JSON.stringify(again.body)}`);
      assert.ok(Date.now() < deadline, 'approving again kept answering 503 for a minute after Temporal came back');
    }
    request.approved = true;
    const done = await waitForView(api, request, (v) => v.status === 'confirmed', 'confirmed', 90_000);
    assert.ok(done.tx_hash);
    await settle(suite, { name: 'faults: Temporal down during an approval', requests, faults, startedAt, notes: 'approve answered 503 during the outage; approved again after the restart' });
  } catch (error) {
    suite.failed = true;
    if (!(error instanceof assert.AssertionError && /books balance|server errors|on chain/.test(error.message))) recordAborted('faults: Temporal down during an approval', faults, requests, startedAt, error);
    throw error;
  }
});
