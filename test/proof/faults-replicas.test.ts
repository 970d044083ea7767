/**
 * Fault: two API processes and two worker processes serve one database and
 * one task queue (the real programs: `node --import tsx api/server.ts` and
 * `worker/main.ts`, each on its own port); one of each is SIGKILLed mid-flow —
 * while requests are being signed, broadcast and confirmed, and while HTTP
 * requests are in flight on the API that dies (the client fails over to the
 * other instance, as a load balancer would; prepares carry an idempotency key).
 *
 * The survivors finish everything: every approved request on chain exactly once.
 *
 * The API processes run on the system clock, so approvals through them use
 * real-time TOTP codes: the owners are set up through the in-process API with
 * its test clock an hour back, and each owner approves once through a replica.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { approve, createApiClient, executeUntilAccepted, expectOk, newParty, prepare, realTimeCode, rewindClock, waitAllFinal, waitForView, type Party, type Tracked } from './support/flow';
import { openFaultSuite, recordAborted, settle, type FaultSuite } from './support/suite';

const NAME = 'faults: 2 APIs + 2 workers, one of each killed';
let suite: FaultSuite;

before(async () => {
  suite = await openFaultSuite({ name: 'faults-replicas', private: ['anvil'] });
});
after(async () => {
  await suite?.close();
});

test('two API and two worker processes; one of each SIGKILLed mid-flow; the others complete everything once', { timeout: 360_000 }, async () => {
  const startedAt = Date.now();
  const { app, stack } = suite;
  const requests: Tracked[] = [];
  let faults = 0;
  try {
    const [api1, api2, worker1] = await Promise.all([
      suite.spawn('api', { name: 'api-1' }),
      suite.spawn('api', { name: 'api-2' }),
      suite.spawn('worker', { name: 'worker-1' }),
      suite.spawn('worker', { name: 'worker-2' }),
    ]);
    const replicas = createApiClient([api1.url, api2.url]);

    rewindClock(app.clock);
    const [o1, o2, o3, o4] = [await newParty(app.url, app.clock), await newParty(app.url, app.clock), await newParty(app.url, app.clock), await newParty(app.url, app.clock)] as [Party, Party, Party, Party];
    // Tokens issued on the rewound clock are already expired in real time: log in again through a replica.
    for (const party of [o1, o2, o3, o4]) {
      const login = await replicas.call<{ access_token: string }>('POST', '/api/login', { body: { username: party.owner.username, password: party.owner.password } });
      expectOk(login, 200, 'login through a replica');
      party.owner.token = login.body.access_token;
    }

    // Owners 1 and 2: one approved-but-not-executed and two auto-executing requests each, prepared alternately on each instance.
    let turn = 0;
    const base = () => replicas.bases[turn++ % 2]!;
    for (const party of [o1, o2]) {
      requests.push(await prepare(replicas, party, { stage: 'approved', base: base() }));
      requests.push(await prepare(replicas, party, { stage: 'executing', autoExecute: true, base: base() }));
      requests.push(await prepare(replicas, party, { stage: 'executing', autoExecute: true, base: base() }));
    }
    // Owners 3 and 4: pending approval while the kills happen.
    for (const party of [o3, o4]) requests.push(await prepare(replicas, party, { stage: 'pending', base: base() }));

    // Blocks every second, so the executing requests are in flight for a while.
    await stack.rpc('evm_setIntervalMining', [1]);
    await approve(replicas, requests.filter((r) => r.party === o1), { code: await realTimeCode(o1.owner), base: api1.url });
    await approve(replicas, requests.filter((r) => r.party === o2), { code: await realTimeCode(o2.owner), base: api2.url });
    const executing = requests.filter((r) => r.stage === 'executing');
    await waitForView(replicas, executing[0]!, (v) => ['signing', 'broadcast'].includes(v.status), 'signing or broadcast', 30_000);

    // Mid-flow: HTTP requests in flight on api-1 (reads, and prepares that fail over), then one of each dies.
    const inFlight = [
      ...executing.map((r) => replicas.call('GET', `/api/transactions/${r.id}`, { token: r.party.owner.token })),
      ...[o3, o4].map((party) => prepare(replicas, party, { stage: 'pending' })),
    ];
    suite.note('SIGKILL worker-1 and api-1');
    await Promise.all([worker1.kill('SIGKILL'), api1.kill('SIGKILL')]);
    faults += 2;
    const settled = await Promise.allSettled(inFlight);
    for (const outcome of settled) {
      assert.equal(outcome.status, 'fulfilled', `a request in flight when api-1 died was answered by api-2: ${outcome.status === 'rejected' ? String(outcome.reason) : ''}`);
      const value = outcome.value;
      if (value && typeof value === 'object' && 'id' in value) requests.push(value);
      else expectOk(value as never, 200, 'status read in flight');
    }

    // The survivors take everything else: approvals and executes now go to api-2 (the client skips the dead one).
    const late: Tracked[] = [];
    for (const party of [o3, o4]) {
      const approvedAt = Date.now();
      const delayed = await approve(replicas, requests.filter((r) => r.party === party), { code: await realTimeCode(party.owner), tolerateUnavailable: true });
      if (delayed.length > 0) suite.note(`${delayed.length} approval Update(s) not confirmed within the API deadline (${Date.now() - approvedAt} ms) — waiting for them to land`);
      late.push(...delayed);
    }
    // An Update that timed out at the API is still delivered once a live worker runs the workflow (sticky queue timeout).
    for (const r of late) await waitForView(replicas, r, (v) => v.status !== 'pending_approval', 'approved after a 503', 60_000);
    let retried = 0;
    for (const r of requests.filter((r) => r.stage !== 'executing')) retried += await executeUntilAccepted(replicas, r);

    const views = await waitAllFinal(replicas, requests, 180_000);
    for (const [id, view] of views) assert.equal(view.status, 'confirmed', `request ${id}: ${JSON.stringify(view)}`);
    assert.equal(api2.alive(), true, 'api-2 still serving');

    await settle(suite, {
      name: NAME,
      requests,
      faults,
      startedAt,
      apis: [replicas, suite.api],
      notes: `owners 1-2: 1 approved + 2 executing each at the kill; owners 3-4: pending at the kill (+1 prepared in flight each); ${late.length} approval(s) and ${retried} execute(s) answered 503 (workflow cached on the dead worker) and landed after`,
    });
  } catch (error) {
    suite.failed = true;
    if (!(error instanceof assert.AssertionError && /books balance|server errors|on chain/.test(error.message))) recordAborted(NAME, faults, requests, startedAt, error);
    throw error;
  }
});
