/**
 * The approval and execution windows, on the real Temporal server with short
 * windows (the time-skipping test covers the long defaults).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApp, type TestApp } from '../support/app';
import { call, expectStatus, newAgent, newUser, newWallet, randomAddress, waitForStatus } from '../support/actors';

let app: TestApp;
before(async () => {
  app = await startTestApp({ env: { APPROVAL_TTL_MIN: '2s', EXECUTION_WINDOW: '3s' } });
});
after(async () => {
  await app?.stop();
});

const errorOf = (body: Record<string, unknown>) => body.error as { code: string; reason?: string };

test('a request nobody approves expires, and can no longer be approved', async () => {
  const owner = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner);
  const agent = await newAgent(app.url, owner, [wallet]);
  const prepared = await call<{ transaction_id: string; digest: string }>(app.url, 'POST', '/api/prepare_transaction', {
    apiKey: agent.apiKey,
    body: { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '1', approval_ttl: 2 },
  });
  expectStatus(prepared, 202, 'prepare');
  const id = prepared.body.transaction_id;
  // The workflow's own timer writes `expired` (real time, not the API's test clock).
  const expired = await waitForStatus(app.url, { apiKey: agent.apiKey }, id, ['expired'], 20_000);
  assert.equal(expired.status, 'expired');
  // Reads say `expired` as soon as the deadline passes; the workflow's timer then writes it too.
  let stored = '';
  for (let i = 0; i < 100 && stored !== 'expired'; i += 1) {
    stored = ((await app.database.db('transactions').where({ id }).first('status')) as { status: string }).status;
    if (stored !== 'expired') await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(stored, 'expired', 'the workflow wrote expired to the projection');
  const late = await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: id, digest: prepared.body.digest, mfa_code: await owner.nextCode() } });
  expectStatus(late, 409, 'approve after expiry');
  assert.equal(errorOf(late.body).reason, 'expired');
});

test('an approved request the agent never executes expires unsigned', async () => {
  const owner = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner);
  const agent = await newAgent(app.url, owner, [wallet]);
  const prepared = await call<{ transaction_id: string; digest: string }>(app.url, 'POST', '/api/prepare_transaction', {
    apiKey: agent.apiKey,
    body: { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '1' },
  });
  const id = prepared.body.transaction_id;
  expectStatus(await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: id, digest: prepared.body.digest, mfa_code: await owner.nextCode() } }), 200, 'approve');
  await waitForStatus(app.url, { apiKey: agent.apiKey }, id, ['expired'], 20_000);
  const late = await call(app.url, 'POST', '/api/execute_transaction', { apiKey: agent.apiKey, body: { transaction_id: id } });
  expectStatus(late, 409, 'execute after the window');
  assert.equal(errorOf(late.body).reason, 'expired');
  const signed = await app.database.db('signed_transactions').where({ transaction_id: id }).first();
  assert.equal(signed, undefined);
});
