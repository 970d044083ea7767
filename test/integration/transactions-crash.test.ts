/**
 * Crash safety with the worker in its own process: killed with SIGKILL right
 * after the signature is committed, or right after the node accepted the
 * bytes. After a new worker takes over, each request is on chain exactly once.
 * Also: a worker whose workflow cache is smaller than the work in flight evicts
 * and replays workflows, and every request still lands once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApp, type TestApp } from '../support/app';
import { call, chainProvider, expectStatus, newAgent, newUser, newWallet, randomAddress, waitForStatus } from '../support/actors';
import { spawnWorker, type WorkerProcess } from '../support/worker-process';

let app: TestApp;
const workers: WorkerProcess[] = [];
const provider = chainProvider();
before(async () => {
  app = await startTestApp({ worker: false });
});
after(async () => {
  for (const w of workers) await w.kill('SIGKILL');
  provider.destroy();
  await app?.stop();
});

for (const failpoint of ['after_sign', 'after_broadcast'] as const) {
  test(`SIGKILL ${failpoint.replace('_', ' ')}: the request lands on chain exactly once`, async () => {
    const owner = await newUser(app.url, app.clock);
    const wallet = await newWallet(app.url, owner);
    const agent = await newAgent(app.url, owner, [wallet]);
    const recipient = randomAddress();

    const doomed = await spawnWorker(app, { failpoint });
    workers.push(doomed);
    const prepared = await call<{ transaction_id: string; digest: string }>(app.url, 'POST', '/api/prepare_transaction', {
      apiKey: agent.apiKey,
      body: { wallet_address: wallet, kind: 'native', to_address: recipient, amount: '4242', auto_execute: true },
    });
    expectStatus(prepared, 202, 'prepare');
    const id = prepared.body.transaction_id;
    expectStatus(await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: id, digest: prepared.body.digest, mfa_code: await owner.nextCode() } }), 200, 'approve');

    assert.equal(await doomed.exited, 'SIGKILL', `the worker should have died at ${failpoint}:\n${doomed.output.join('')}`);
    const signed = await app.database.db('signed_transactions').where({ transaction_id: id });
    assert.equal(signed.length, 1, 'the signature was committed before the crash');
    const nonceAtCrash = await provider.getTransactionCount(wallet, 'pending');
    assert.equal(nonceAtCrash, failpoint === 'after_sign' ? 0 : 1);

    const rescuer = await spawnWorker(app);
    workers.push(rescuer);
    const done = await waitForStatus(app.url, { apiKey: agent.apiKey }, id, ['confirmed', 'failed'], 90_000);
    assert.equal(done.status, 'confirmed', JSON.stringify(done));
    assert.equal(done.tx_hash, (signed[0] as { tx_hash: string }).tx_hash, 'the stored bytes were broadcast, not new ones');
    assert.equal(await provider.getTransactionCount(wallet), 1, 'exactly one transaction from the wallet');
    assert.equal(await provider.getBalance(recipient), 4242n);
    await rescuer.kill();
  });
}

test('a worker caching 2 workflows with 6 in flight evicts and replays them: all confirm, each once, nonces in order', async () => {
  const owner = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner);
  const agent = await newAgent(app.url, owner, [wallet]);
  const worker = await spawnWorker(app, { env: { WORKER_MAX_CACHED_WORKFLOWS: '2' } });
  workers.push(worker);
  const recipient = randomAddress();
  const prepared = [];
  for (let i = 0; i < 6; i += 1) {
    const p = await call<{ transaction_id: string; digest: string }>(app.url, 'POST', '/api/prepare_transaction', {
      apiKey: agent.apiKey,
      body: { wallet_address: wallet, kind: 'native', to_address: recipient, amount: '1000' },
    });
    expectStatus(p, 202, 'prepare');
    prepared.push(p.body);
  }
  const approved = await call<{ results: { status: string }[] }>(app.url, 'POST', '/api/authorize_transaction', {
    token: owner.token,
    body: { transaction_ids: prepared.map((p) => p.transaction_id), digests: prepared.map((p) => p.digest), mfa_code: await owner.nextCode() },
  });
  expectStatus(approved, 200, 'approve');
  assert.deepEqual(approved.body.results.map((r) => r.status), Array(6).fill('approved'));
  for (const p of prepared) {
    expectStatus(await call(app.url, 'POST', '/api/execute_transaction', { apiKey: agent.apiKey, body: { transaction_id: p.transaction_id } }), 202, 'execute');
  }
  const done = await Promise.all(prepared.map((p) => waitForStatus(app.url, { apiKey: agent.apiKey }, p.transaction_id, ['confirmed', 'failed'], 90_000)));
  assert.deepEqual(done.map((d) => d.status), Array(6).fill('confirmed'), JSON.stringify(done));
  assert.equal(await provider.getTransactionCount(wallet), 6, 'six transactions from the wallet, no more');
  assert.equal(await provider.getBalance(recipient), 6000n);
  await worker.kill();
});
