/**
 * The auditor's reconciliation must be able to say no. With an operator's
 * root token (test only) the wallet key is taken around Countersign and used
 * to send (1) the approved call a second time under the next nonce and (2) a
 * transfer nobody asked for. `reconcile` must count one duplicate and one
 * unapproved signature, and flag the wallet's nonce — otherwise the zeros the
 * other proof tests report would mean nothing.
 *
 * It records no summary row: the table is for the product's guarantees, and
 * here the violations are the test's own doing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { JsonRpcProvider, Wallet } from 'ethers';
import { createKeyStore } from '../../domains/keystore';
import { approve, newParty, prepare, waitForView, type Tracked } from './support/flow';
import { reconcile } from './support/ledger';
import { openFaultSuite, type FaultSuite } from './support/suite';

let suite: FaultSuite;

before(async () => {
  suite = await openFaultSuite({ name: 'faults-ledger-selfcheck', private: ['anvil'] });
});
after(async () => {
  await suite?.close();
});

test('the ledger check catches a repeated call and a transaction no request explains', { timeout: 180_000 }, async () => {
  const { api, app, stack } = suite;
  try {
    await suite.spawn('worker');
    const party = await newParty(app.url, app.clock);
    const request: Tracked = await prepare(api, party, { stage: 'executing', autoExecute: true });
    const control: Tracked = await prepare(api, party, { stage: 'control' });
    await approve(api, [request]);
    await waitForView(api, request, (v) => v.status === 'confirmed', 'confirmed');

    const honest = await reconcile({ db: app.database.db, rpc: stack.rpc, requests: [request, control] });
    assert.deepEqual(honest.problems, [], 'the honest run balances');
    assert.deepEqual([honest.onChain, honest.duplicates, honest.losses, honest.unapprovedSignatures], [1, 0, 0, 0]);

    // Around Countersign: the key through the root token, signed and sent directly.
    const rootToken = stack.env.VAULT_ROOT_TOKEN;
    assert.ok(rootToken, 'the test stack exports a root token');
    const keystore = await createKeyStore({ ...app.config, VAULT_TOKEN: rootToken });
    const wallet = (await app.database.db('wallets').where({ address: party.wallet }).first('id', 'key_ciphertext')) as { id: string; key_ciphertext: string };
    const key = await keystore.decrypt('wallet', wallet.id, wallet.key_ciphertext);
    await keystore.close?.();
    const provider = new JsonRpcProvider(stack.anvilUrl, 31337, { staticNetwork: true, cacheTimeout: -1 });
    try {
      const rogue = new Wallet(`0x${key.toString('hex')}`, provider);
      key.fill(0);
      const row = (await app.database.db('transactions').where({ id: request.id }).first('to_address', 'value', 'data')) as { to_address: string; value: string; data: string };
      const repeated = await rogue.sendTransaction({ to: row.to_address, value: BigInt(row.value), data: row.data, nonce: 1 });
      await repeated.wait();
      const stray = await rogue.sendTransaction({ to: control.recipient, value: 1n, nonce: 2 });
      await stray.wait();
    } finally {
      provider.destroy();
    }

    const caught = await reconcile({ db: app.database.db, rpc: stack.rpc, requests: [request, control] });
    assert.equal(caught.duplicates, 1, `the repeated call is a duplicate: ${caught.problems.join(' | ')}`);
    assert.equal(caught.unapprovedSignatures, 1, `the stray transfer is unapproved: ${caught.problems.join(' | ')}`);
    assert.equal(caught.onChain, 1);
    assert.ok(caught.problems.some((p) => /chain nonce 3, expected 1/.test(p)), `the wallet nonce is flagged: ${caught.problems.join(' | ')}`);

    // And a request the owner approved that never reached the chain is a loss.
    const unsent = await prepare(api, party, { stage: 'approved' });
    unsent.approved = true;
    const lost = await reconcile({ db: app.database.db, rpc: stack.rpc, requests: [request, control, unsent] });
    assert.equal(lost.losses, 1, `an approved request not on chain is a loss: ${lost.problems.join(' | ')}`);
    assert.ok(lost.problems.some((p) => p.includes('has no valid approval row')), 'and one the owner never approved is flagged as such');
  } catch (error) {
    suite.failed = true;
    throw error;
  }
});
