/**
 * The seed's four-step flow, end to end on the real stack: an agent prepares,
 * the owner approves with TOTP, the agent executes, the chain confirms.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApp, type TestApp } from '../support/app';
import { call, chainProvider, expectStatus, newAgent, newUser, newWallet, randomAddress, waitForStatus } from '../support/actors';

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(async () => {
  await app?.stop();
});

describe('native transfer: prepare → approve → execute → confirmed', () => {
  test('moves exactly the approved amount on chain', async () => {
    const owner = await newUser(app.url, app.clock);
    const wallet = await newWallet(app.url, owner);
    const agent = await newAgent(app.url, owner, [wallet]);
    const recipient = randomAddress();

    const prepared = await call<{ transaction_id: string; status: string; digest: string; summary: { warnings: string[] } }>(app.url, 'POST', '/api/prepare_transaction', {
      apiKey: agent.apiKey,
      body: { wallet_address: wallet, kind: 'native', to_address: recipient, amount: '1234567890', memo: 'pay the bill' },
    });
    expectStatus(prepared, 202, 'prepare');
    assert.equal(prepared.body.status, 'pending_approval');
    assert.match(prepared.body.digest, /^0x[0-9a-f]{64}$/);
    assert.ok(prepared.body.summary.warnings.includes('new_recipient'));
    const id = prepared.body.transaction_id;

    const early = await call(app.url, 'POST', '/api/execute_transaction', { apiKey: agent.apiKey, body: { transaction_id: id } });
    expectStatus(early, 409, 'execute before approval');
    assert.equal((early.body.error as { reason: string }).reason, 'not_approved');

    const approved = await call(app.url, 'POST', '/api/authorize_transaction', {
      token: owner.token,
      body: { transaction_id: id, digest: prepared.body.digest, mfa_code: await owner.nextCode() },
    });
    expectStatus(approved, 200, 'authorize');
    assert.equal(approved.body.status, 'approved');

    const executed = await call(app.url, 'POST', '/api/execute_transaction', { apiKey: agent.apiKey, body: { transaction_id: id } });
    expectStatus(executed, 202, 'execute');

    const done = await waitForStatus(app.url, { apiKey: agent.apiKey }, id, ['confirmed', 'failed']);
    assert.equal(done.status, 'confirmed', JSON.stringify(done));
    assert.match(done.tx_hash as string, /^0x[0-9a-f]{64}$/);

    const provider = chainProvider();
    try {
      assert.equal(await provider.getBalance(recipient), 1234567890n);
      assert.equal(await provider.getTransactionCount(wallet), 1);
    } finally {
      provider.destroy();
    }
  });
});
