/**
 * Crash safety with the worker in its own process: killed with SIGKILL right
 * after the signature is committed, or right after the node accepted the
 * bytes. After a new worker takes over, each request is on chain exactly once.
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
