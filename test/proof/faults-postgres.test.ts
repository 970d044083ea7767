/**
 * Fault: PostgreSQL restarts mid-flow (a private cluster, same data and port):
 * once with a fast shutdown while requests wait for their block, once crashed
 * (SIGKILL of the postmaster, crash recovery on start) while a request is
 * being signed and broadcast. The worker's activities and the workflow's
 * projection writes retry; every request completes on chain exactly once.
 *
 * A second test asks what a client sees while the database is down: the
 * documented 503 `unavailable`, never a 500.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { approve, createApiClient, execute, expectOk, getStatus, newParty, prepare, waitAllFinal, waitForView, type Party, type Tracked } from './support/flow';
import { openFaultSuite, recordAborted, settle, type FaultSuite } from './support/suite';
import { recordProofRow } from './support/summary';

const NAME = 'faults: PostgreSQL restart';
let suite: FaultSuite;

before(async () => {
  suite = await openFaultSuite({ name: 'faults-postgres', private: ['postgres', 'anvil'] });
});
after(async () => {
  await suite?.close();
});

/** The first API answers after a restart may come from a pool still discarding dead connections; the request itself is retried like a client would. */
async function untilAnswered<T>(what: string, fn: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (ok(value)) return value;
    assert.ok(Date.now() < deadline, `${what}: still failing after ${timeoutMs / 1000} s: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

test('PostgreSQL restarted mid-flow (fast shutdown, then a crash): every request completes, once', { timeout: 360_000 }, async () => {
  const startedAt = Date.now();
  const { api, app, stack } = suite;
  const requests: Tracked[] = [];
  let faults = 0;
  const of = (party: Party, stage: string, n = 0) => requests.filter((r) => r.party === party && r.stage === stage)[n]!;
  try {
    await suite.spawn('worker');
    const parties = [await newParty(app.url, app.clock), await newParty(app.url, app.clock)];
    for (const party of parties) {
      requests.push(await prepare(api, party, { stage: 'pending' }));
      requests.push(await prepare(api, party, { stage: 'approved' }));
      requests.push(await prepare(api, party, { stage: 'executing' }));
      requests.push(await prepare(api, party, { stage: 'executing' }));
    }
    for (const party of parties) await approve(api, requests.filter((r) => r.party === party && r.stage !== 'pending'));

    // 1. Fast shutdown while two requests wait for their block; the block comes while the database is down.
    await stack.rpc('evm_setAutomine', [false]);
    for (const party of parties) expectOk(await execute(api, of(party, 'executing', 0)), 202, 'execute (phase 1)');
    for (const party of parties) await waitForView(api, of(party, 'executing', 0), (v) => v.status === 'broadcast', 'broadcast');
    suite.note('phase 1: stopping PostgreSQL (fast shutdown)');
    await stack.stop('postgres');
    faults += 1;
    await stack.rpc('evm_mine');
    await new Promise((r) => setTimeout(r, 4000));
    await stack.start('postgres');
    await stack.rpc('evm_setAutomine', [true]);
    for (const party of parties) {
      await untilAnswered('status after the restart', () => api.call<{ status: string }>('GET', `/api/transactions/${of(party, 'executing', 0).id}`, { token: party.owner.token }), (r) => r.status === 200);
      await waitForView(api, of(party, 'executing', 0), (v) => v.status === 'confirmed', 'confirmed after the restart', 120_000);
    }

    // 2. Crash (SIGKILL of the postmaster) right after signing starts.
    await stack.rpc('evm_setAutomine', [false]);
    for (const party of parties) expectOk(await execute(api, of(party, 'executing', 1)), 202, 'execute (phase 2)');
    await waitForView(api, of(parties[0]!, 'executing', 1), (v) => v.status === 'signing' || v.status === 'broadcast', 'signing');
    suite.note('phase 2: SIGKILL of the postmaster');
    await stack.kill('postgres');
    faults += 1;
    await stack.rpc('evm_mine');
    await new Promise((r) => setTimeout(r, 3000));
    await stack.start('postgres');
    await stack.rpc('evm_setAutomine', [true]);
    await stack.rpc('evm_mine');
    for (const party of parties) {
      await untilAnswered('status after crash recovery', () => api.call<{ status: string }>('GET', `/api/transactions/${of(party, 'executing', 1).id}`, { token: party.owner.token }), (r) => r.status === 200);
      await waitForView(api, of(party, 'executing', 1), (v) => v.status === 'confirmed', 'confirmed after crash recovery', 120_000);
    }

    for (const party of parties) await approve(api, requests.filter((r) => r.party === party && r.stage === 'pending'));
    for (const r of requests.filter((r) => r.stage === 'approved' || r.stage === 'pending')) expectOk(await execute(api, r), 202, 'execute');
    const views = await waitAllFinal(api, requests, 120_000);
    for (const [id, view] of views) assert.equal(view.status, 'confirmed', `request ${id}: ${JSON.stringify(view)}`);
    assert.ok((await getStatus(api, requests[0]!)).tx_hash);

    await settle(suite, {
      name: NAME,
      requests,
      faults,
      startedAt,
      notes: 'per owner: 1 pending, 1 approved, 2 executing (fast shutdown while waiting for a block; postmaster SIGKILL while signing)',
    });
  } catch (error) {
    suite.failed = true;
    if (!(error instanceof assert.AssertionError && /books balance|server errors|on chain/.test(error.message))) recordAborted(NAME, faults, requests, startedAt, error);
    throw error;
  }
});

test('while PostgreSQL is down, the API answers the documented 503 unavailable, not 500', { timeout: 120_000 }, async () => {
  const startedAt = Date.now();
  const { app, stack } = suite;
  const party = await newParty(app.url, app.clock);
  const request = await prepare(suite.api, party, { stage: 'pending' });
  const api = createApiClient(app.url);
  await stack.stop('postgres');
  const answers: Array<{ route: string; status: number; code?: string }> = [];
  try {
    const probes: Array<[string, () => ReturnType<typeof api.call>]> = [
      ['GET /api/transactions/:id', () => api.call('GET', `/api/transactions/${request.id}`, { token: party.owner.token })],
      ['GET /api/transactions', () => api.call('GET', '/api/transactions', { apiKey: party.agent.apiKey })],
      ['POST /api/login', () => api.call('POST', '/api/login', { body: { username: party.owner.username, password: party.owner.password } })],
    ];
    for (const [route, probe] of probes) {
      const answer = await probe();
      answers.push({ route, status: answer.status, code: (answer.body as { error?: { code?: string } })?.error?.code });
    }
  } finally {
    await stack.start('postgres');
  }
  // The answers after the restart: served again (pool connections that died with the server are replaced).
  const back = await untilAnswered('status after the restart', () => api.call('GET', `/api/transactions/${request.id}`, { token: party.owner.token }), (r) => r.status === 200, 30_000);
  assert.equal(back.status, 200);
  recordProofRow({
    suite: 'faults: PostgreSQL down, API answers',
    faults: 1,
    requests: 1,
    serverErrors: api.serverErrors.length,
    passed: api.serverErrors.length === 0,
    durationMs: Date.now() - startedAt,
    notes: answers.map((a) => `${a.route} → ${a.status} ${a.code ?? ''}`).join('; '),
  });
  assert.deepEqual(
    answers.filter((a) => a.status !== 503 || a.code !== 'unavailable'),
    [],
    'every answer while the database is down is 503 unavailable (docs/http-contract.md)',
  );
});
