/**
 * Every kind of request, agent-prepared and user-initiated, end to end on the
 * real stack, with balances and contract state checked on chain afterwards.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Contract, Interface, Wallet } from 'ethers';
import { startTestApp, type TestApp } from '../support/app';
import { call, chainProvider, expectStatus, newAgent, newUser, newWallet, randomAddress, waitForStatus, type TestUser } from '../support/actors';
import { deployReverter, deployTestToken, fundedWallet, mintTestToken, Reverter } from '../support/contracts';

let app: TestApp;
let deployer: Wallet;
const provider = chainProvider();
const erc20 = new Interface(['function balanceOf(address) view returns (uint256)']);

before(async () => {
  app = await startTestApp();
  deployer = await fundedWallet(provider);
});
after(async () => {
  provider.destroy();
  await app?.stop();
});

async function approveAndExecute(owner: TestUser, apiKey: string, transactionId: string, digest: string) {
  const approved = await call(app.url, 'POST', '/api/authorize_transaction', {
    token: owner.token,
    body: { transaction_id: transactionId, digest, mfa_code: await owner.nextCode() },
  });
  expectStatus(approved, 200, 'authorize');
  expectStatus(await call(app.url, 'POST', '/api/execute_transaction', { apiKey, body: { transaction_id: transactionId } }), 202, 'execute');
  return waitForStatus(app.url, { apiKey }, transactionId, ['confirmed', 'failed']);
}

async function tokenBalance(token: string, holder: string): Promise<bigint> {
  const contract = new Contract(token, erc20, provider);
  return (await contract.getFunction('balanceOf')(holder)) as bigint;
}

describe('agent-prepared requests', () => {
  test('erc20: the summary names the token and the tokens move', async () => {
    const owner = await newUser(app.url, app.clock);
    const wallet = await newWallet(app.url, owner);
    const agent = await newAgent(app.url, owner, [wallet]);
    const token = await deployTestToken(deployer, { symbol: 'TST', decimals: 6 });
    await mintTestToken(deployer, token.address, wallet, 5_000_000n);
    const recipient = randomAddress();

    const prepared = await call<{ transaction_id: string; digest: string; summary: { title: string; token: { symbol: string; decimals: number } } }>(
      app.url,
      'POST',
      '/api/prepare_transaction',
      { apiKey: agent.apiKey, body: { wallet_address: wallet, kind: 'erc20', token_address: token.address, to_address: recipient, amount: '1500000' } },
    );
    expectStatus(prepared, 202, 'prepare erc20');
    assert.equal(prepared.body.summary.token.symbol, 'TST');
    assert.equal(prepared.body.summary.token.decimals, 6);
    assert.match(prepared.body.summary.title, /1\.5 TST/);

    const done = await approveAndExecute(owner, agent.apiKey, prepared.body.transaction_id, prepared.body.digest);
    assert.equal(done.status, 'confirmed', JSON.stringify(done));
    assert.equal(await tokenBalance(token.address, recipient), 1_500_000n);
    assert.equal(await tokenBalance(token.address, wallet), 3_500_000n);
  });

  test('contract_call with an ABI: decoded for the approver, state changed on chain', async () => {
    const owner = await newUser(app.url, app.clock);
    const wallet = await newWallet(app.url, owner);
    const agent = await newAgent(app.url, owner, [wallet]);
    const target = await deployReverter(deployer);

    const prepared = await call<{ transaction_id: string; digest: string; summary: { decoded_call: { function: string; args: string[] } } }>(
      app.url,
      'POST',
      '/api/prepare_transaction',
      {
        apiKey: agent.apiKey,
        body: { wallet_address: wallet, kind: 'contract_call', contract_address: target.address, contract_abi: Reverter.abi, function_name: 'store', function_args: ['42'] },
      },
    );
    expectStatus(prepared, 202, 'prepare contract call');
    assert.equal(prepared.body.summary.decoded_call.function, 'store(uint256)');

    const done = await approveAndExecute(owner, agent.apiKey, prepared.body.transaction_id, prepared.body.digest);
    assert.equal(done.status, 'confirmed', JSON.stringify(done));
    const stored = await new Contract(target.address, Reverter.abi, provider).getFunction('stored')();
    assert.equal(stored, 42n);
  });

  test('a call that reverts on chain ends failed with its reason', async () => {
    const owner = await newUser(app.url, app.clock);
    const wallet = await newWallet(app.url, owner);
    const agent = await newAgent(app.url, owner, [wallet]);
    const target = await deployReverter(deployer);
    const data = new Interface(Reverter.abi).encodeFunctionData('fail', []);

    const prepared = await call<{ transaction_id: string; digest: string; summary: { warnings: string[]; simulation: { ok: boolean; revert_reason: string } } }>(
      app.url,
      'POST',
      '/api/prepare_transaction',
      // A doomed request is refused by default (422 simulation_failed); the agent asks for it to be queued anyway.
      { apiKey: agent.apiKey, body: { wallet_address: wallet, kind: 'contract_call', contract_address: target.address, data, allow_simulation_failure: true } },
    );
    expectStatus(prepared, 202, 'prepare reverting call');
    assert.ok(prepared.body.summary.warnings.includes('would_revert'));
    assert.equal(prepared.body.summary.simulation.ok, false);
    assert.match(prepared.body.summary.simulation.revert_reason, /always fails/);

    const done = await approveAndExecute(owner, agent.apiKey, prepared.body.transaction_id, prepared.body.digest);
    assert.equal(done.status, 'failed');
    assert.match(done.error as string, /reverted/);
    assert.match(done.tx_hash as string, /^0x[0-9a-f]{64}$/);
  });
});

describe('user-initiated routes (password + TOTP, the same workflow)', () => {
  test('transfer, transfer_erc20 and contract_call answer 201 with a tx hash and reach the chain', async () => {
    const owner = await newUser(app.url, app.clock);
    const wallet = await newWallet(app.url, owner);
    const token = await deployTestToken(deployer, { symbol: 'USR', decimals: 18 });
    await mintTestToken(deployer, token.address, wallet, 10n ** 20n);
    const target = await deployReverter(deployer);
    const recipient = randomAddress();

    const native = await call<{ transaction_id: string; tx_hash: string }>(app.url, 'POST', '/api/transfer', {
      token: owner.token,
      body: { wallet_address: wallet, to_address: recipient, amount: '777', password: owner.password, mfa_code: await owner.nextCode() },
    });
    expectStatus(native, 201, 'transfer');
    assert.match(native.body.tx_hash, /^0x[0-9a-f]{64}$/);

    const tokens = await call<{ transaction_id: string; tx_hash: string }>(app.url, 'POST', '/api/transfer_erc20', {
      token: owner.token,
      body: { wallet_address: wallet, token_address: token.address, to_address: recipient, amount: '5', password: owner.password, mfa_code: await owner.nextCode() },
    });
    expectStatus(tokens, 201, 'transfer_erc20');

    const contract = await call<{ transaction_id: string; tx_hash: string }>(app.url, 'POST', '/api/contract_call', {
      token: owner.token,
      body: { wallet_address: wallet, contract_address: target.address, contract_abi: Reverter.abi, function_name: 'store', function_args: ['7'], password: owner.password, mfa_code: await owner.nextCode() },
    });
    expectStatus(contract, 201, 'contract_call');

    for (const id of [native.body.transaction_id, tokens.body.transaction_id, contract.body.transaction_id]) {
      const done = await waitForStatus(app.url, { token: owner.token }, id, ['confirmed', 'failed']);
      assert.equal(done.status, 'confirmed', JSON.stringify(done));
      assert.equal(done.origin, 'user');
    }
    assert.equal(await provider.getBalance(recipient), 777n);
    assert.equal(await tokenBalance(token.address, recipient), 5n);
    assert.equal(await new Contract(target.address, Reverter.abi, provider).getFunction('stored')(), 7n);
  });

  test('a wrong password is refused before the TOTP step is consumed, and nothing is signed', async () => {
    const owner = await newUser(app.url, app.clock);
    const wallet = await newWallet(app.url, owner);
    const code = await owner.nextCode();
    const refused = await call(app.url, 'POST', '/api/transfer', {
      token: owner.token,
      body: { wallet_address: wallet, to_address: randomAddress(), amount: '1', password: 'not-the-password', mfa_code: code },
    });
    expectStatus(refused, 403, 'wrong password');
    assert.equal((refused.body.error as { code: string }).code, 'password_invalid');
    const retried = await call(app.url, 'POST', '/api/transfer', {
      token: owner.token,
      body: { wallet_address: wallet, to_address: randomAddress(), amount: '1', password: owner.password, mfa_code: code },
    });
    expectStatus(retried, 201, 'the same code still works after a password failure');
    assert.equal(await provider.getTransactionCount(wallet, 'pending'), 1);
  });
});
