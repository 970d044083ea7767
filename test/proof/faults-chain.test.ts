/**
 * Fault: the chain node goes away during broadcast and during confirmation
 * (a private anvil with a state file, stopped and started again; a JSON-RPC
 * proxy in front of it places the stop exactly inside a broadcast).
 *
 *   1. confirmation: signed, broadcast, waiting in the mempool when the node
 *      stops; the restarted node has lost its mempool, so the worker must
 *      rebroadcast the SAME bytes.
 *   2. broadcast: the node dies while the worker's eth_sendRawTransaction is
 *      in flight; the status says why it waits; it completes when the node returns.
 *   3. answer lost: the node accepts the bytes but the answer never arrives;
 *      the retry meets "already known"/"nonce too low" for our own hash — success.
 * Pending and approved requests wait through all of it and complete afterwards.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { approve, execute, expectOk, getStatus, newParty, prepare, waitAllFinal, waitForView, type Party, type Tracked } from './support/flow';
import { openFaultSuite, recordAborted, settle, type FaultSuite } from './support/suite';

const NAME = 'faults: chain node stopped';
let suite: FaultSuite;

before(async () => {
  suite = await openFaultSuite({ name: 'faults-chain', private: ['anvil'], chainProxy: true });
});
after(async () => {
  await suite?.close();
});

test('chain node stopped during broadcast and confirmation: retries, then each request on chain once', { timeout: 360_000 }, async () => {
  const startedAt = Date.now();
  const { api, app, stack } = suite;
  const proxy = stack.proxy!;
  const requests: Tracked[] = [];
  let faults = 0;
  const of = (party: Party, stage: string, n = 0) => requests.filter((r) => r.party === party && r.stage === stage)[n]!;
  try {
    await suite.spawn('worker');
    const parties = [await newParty(app.url, app.clock), await newParty(app.url, app.clock)];
    for (const party of parties) {
      requests.push(await prepare(api, party, { stage: 'pending' }));
      requests.push(await prepare(api, party, { stage: 'approved' }));
      // Three executing requests per owner: one per phase. Approved now, executed when their phase starts.
      for (let i = 0; i < 3; i++) requests.push(await prepare(api, party, { stage: 'executing' }));
    }
    for (const party of parties) await approve(api, requests.filter((r) => r.party === party && r.stage !== 'pending'));

    // 1. Stop during confirmation: in the mempool, no block yet.
    await stack.rpc('evm_setAutomine', [false]);
    for (const party of parties) expectOk(await execute(api, of(party, 'executing', 0)), 202, 'execute (phase 1)');
    for (const party of parties) await waitForView(api, of(party, 'executing', 0), (v) => v.status === 'broadcast', 'broadcast');
    suite.note('phase 1: stopping anvil with two transactions in its mempool');
    const sendsAtStop = proxy.calls('eth_sendRawTransaction');
    await stack.stop('anvil');
    faults += 1;
    for (const r of requests) expectOk(await api.call('GET', `/api/transactions/${r.id}`, { token: r.party.owner.token }), 200, 'status read while the node is down');
    // Preparing needs the node (simulation): the documented 503, not a 500.
    const refused = await api.call('POST', '/api/prepare_transaction', {
      apiKey: parties[0]!.agent.apiKey,
      body: { wallet_address: parties[0]!.wallet, kind: 'native', to_address: parties[0]!.wallet, amount: '1' },
    });
    assert.equal(refused.status, 503, `prepare while the node is down: ${JSON.stringify(refused.body)}`);
    await new Promise((r) => setTimeout(r, 3000));
    await stack.start('anvil');
    // The restarted node starts with automine on and an empty mempool: the worker must rebroadcast.
    for (const party of parties) await waitForView(api, of(party, 'executing', 0), (v) => v.status === 'confirmed', 'confirmed after the node returned', 120_000);
    // The restarted node had no trace of them: they got there only because the worker sent the stored bytes again.
    assert.ok(proxy.calls('eth_sendRawTransaction') >= sendsAtStop + 2, 'the dropped transactions were rebroadcast');

    // 2. Stop during broadcast: the send is in flight when the node dies.
    proxy.setRule('eth_sendRawTransaction', 'hold');
    for (const party of parties) expectOk(await execute(api, of(party, 'executing', 1)), 202, 'execute (phase 2)');
    await proxy.waitForHeld(2);
    suite.note('phase 2: stopping anvil with two broadcasts in flight');
    await stack.stop('anvil');
    proxy.clearRules();
    proxy.release();
    faults += 1;
    for (const party of parties) {
      const waiting = await waitForView(api, of(party, 'executing', 1), (v) => v.error !== null && /broadcast/.test(v.error), 'a broadcast error in its status', 60_000);
      assert.equal(waiting.status, 'signing', `signed, not yet broadcast: ${JSON.stringify(waiting)}`);
      assert.ok(waiting.tx_hash, 'the signature is stored before the broadcast');
    }
    await stack.start('anvil');
    for (const party of parties) await waitForView(api, of(party, 'executing', 1), (v) => v.status === 'confirmed', 'confirmed after the node returned', 120_000);

    // 3. The node accepts the bytes, the answer is lost.
    proxy.setRule('eth_sendRawTransaction', 'drop_answer');
    const sendsBefore = proxy.calls('eth_sendRawTransaction');
    for (const party of parties) expectOk(await execute(api, of(party, 'executing', 2)), 202, 'execute (phase 3)');
    const deadline = Date.now() + 60_000;
    while (proxy.calls('eth_sendRawTransaction') < sendsBefore + 2) {
      assert.ok(Date.now() < deadline, 'the broadcasts of phase 3 never reached the node');
      await new Promise((r) => setTimeout(r, 100));
    }
    faults += 1;
    proxy.clearRules();
    for (const party of parties) await waitForView(api, of(party, 'executing', 2), (v) => v.status === 'confirmed', 'confirmed after a lost answer', 120_000);

    // Everything that waited completes.
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
      notes: 'per owner: 1 pending, 1 approved, 3 executing (node stopped while in mempool; node stopped mid-broadcast; answer to the broadcast lost)',
    });
  } catch (error) {
    suite.failed = true;
    if (!(error instanceof assert.AssertionError && /books balance|server errors|on chain/.test(error.message))) recordAborted(NAME, faults, requests, startedAt, error);
    throw error;
  }
});
