/**
 * What the approver is shown, through the real API (prepare and status), on
 * the real stack: balance changes stored with the request, tokens that
 * misdescribe themselves flagged with blocking warnings and raw amounts, the
 * spender labelled as such, agent-supplied names marked unverified, batches
 * opened, memos stripped of bidi overrides, explorer links per chain, and a
 * node that cannot trace degrading to a warning rather than a 5xx. The API
 * talks to anvil through a JSON-RPC proxy that can refuse the trace methods.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Interface, MaxUint256, type Wallet } from 'ethers';
import { startTestApp, type TestApp } from '../support/app';
import { call, chainProvider, expectStatus, newAgent, newUser, newWallet, randomAddress, waitForStatus, type TestUser } from '../support/actors';
import { deployReverter, deployTestSwap, deployTestToken, fundedWallet, mintTestToken, TestSwap } from '../support/contracts';
import { startRpcProxy, type RpcProxy } from '../support/rpc-proxy';
import type { Summary, TransactionView } from '../../domains/transactions/schemas';

const EXPLORER = 'https://explorer.example/chain';
const erc20 = new Interface(['function approve(address spender, uint256 amount)', 'function transfer(address to, uint256 amount)']);

let app: TestApp;
let proxy: RpcProxy;
let deployer: Wallet;
let owner: TestUser;
let wallet: string;
let agent: { apiKey: string };
const provider = chainProvider();

before(async () => {
  proxy = await startRpcProxy(process.env.WEB3_PROVIDER_URI!);
  app = await startTestApp({ env: { WEB3_PROVIDER_URI: proxy.url, CHAIN_EXPLORER_URLS: JSON.stringify({ 31337: `${EXPLORER}/` }) } });
  deployer = await fundedWallet(provider);
  owner = await newUser(app.url, app.clock);
  wallet = await newWallet(app.url, owner);
  agent = await newAgent(app.url, owner, [wallet]);
});
after(async () => {
  provider.destroy();
  await app?.stop();
  await proxy?.stop();
});

type Prepared = { transaction_id: string; digest: string; summary: Summary };

// Many requests here would revert (the wallet holds none of these tokens): what the approver is
// shown for them is the subject, so they are queued the way an agent opting in would queue them.
async function prepare(body: Record<string, unknown>): Promise<Prepared> {
  const prepared = await call<Prepared>(app.url, 'POST', '/api/prepare_transaction', {
    apiKey: agent.apiKey,
    body: { wallet_address: wallet, allow_simulation_failure: true, ...body },
  });
  expectStatus(prepared, 202, 'prepare');
  return prepared.body;
}

async function status(transactionId: string): Promise<TransactionView> {
  const read = await call<TransactionView>(app.url, 'GET', `/api/transaction_status?transaction_id=${transactionId}`, { apiKey: agent.apiKey });
  expectStatus(read, 200, 'status');
  return read.body;
}

const blocking = (summary: Summary) => summary.warning_details.filter((w) => w.blocking).map((w) => w.code);

describe('balance changes', () => {
  test('stored with the request: prepare and status answer the same, with balance before → after', async () => {
    const token = await deployTestToken(deployer, { symbol: 'TST', decimals: 6 });
    await mintTestToken(deployer, token.address, wallet, 5_000_000n);
    const prepared = await prepare({ kind: 'erc20', token_address: token.address, to_address: randomAddress(), amount: '1500000' });
    assert.equal(prepared.summary.simulation.trace, 'eth_simulateV1');
    assert.deepEqual(prepared.summary.balance_changes, [
      {
        asset: 'erc20',
        token: token.address,
        token_id: null,
        symbol: 'TST',
        decimals: 6,
        delta: '-1500000',
        before: '5000000',
        after: '3500000',
        delta_formatted: '-1.5 TST',
        before_formatted: '5 TST',
        after_formatted: '3.5 TST',
      },
    ]);
    assert.deepEqual((await status(prepared.transaction_id)).summary, prepared.summary);
  });

  test('a node without eth_simulateV1 or debug_traceCall: 202 with a warning, no balance changes', async () => {
    proxy.refuse.add('eth_simulateV1');
    proxy.refuse.add('debug_traceCall');
    try {
      const prepared = await prepare({ kind: 'native', to_address: randomAddress(), amount: '1000' });
      assert.deepEqual(prepared.summary.balance_changes, []);
      assert.equal(prepared.summary.simulation.trace, null);
      assert.ok(prepared.summary.warnings.includes('balance_changes_unavailable'));
      assert.ok(!blocking(prepared.summary).includes('balance_changes_unavailable'));
    } finally {
      proxy.refuse.clear();
    }
  });

  test('a swap through multicall: the calls are listed, both tokens move', async () => {
    const tokenOut = await deployTestToken(deployer, { symbol: 'OUT', decimals: 6 });
    const swap = await deployTestSwap(deployer);
    await mintTestToken(deployer, tokenOut.address, swap.address, 10n ** 12n);
    const swapAbi = new Interface(TestSwap.abi);
    const data = swapAbi.encodeFunctionData('multicall', [[swapAbi.encodeFunctionData('buy', [tokenOut.address, 2_000_000n])]]);
    const prepared = await prepare({ kind: 'contract_call', contract_address: swap.address, data, value: '1000000000000000' });
    const summary = prepared.summary;
    assert.equal(summary.decoded_call?.function, 'multicall(bytes[])');
    assert.equal(summary.decoded_call?.source, 'known');
    assert.equal(summary.calls.length, 1);
    assert.equal(summary.calls[0]!.sender, 'wallet');
    assert.match(summary.calls[0]!.title, /^Call unknown function 0x[0-9a-f]{8} on /);
    assert.deepEqual(
      summary.balance_changes.map((c) => c.delta_formatted),
      ['-0.001 ETH', '+2 OUT'],
    );
  });
});

describe('tokens that misdescribe themselves', () => {
  test('an ERC-20 request to a contract that is not a token: said in the title, raw amount, blocking warning', async () => {
    const notToken = await deployReverter(deployer);
    const to = randomAddress();
    const { summary } = await prepare({ kind: 'erc20', token_address: notToken.address, to_address: to, amount: '1' });
    assert.equal(summary.amount_formatted, '1 base units (not a token)');
    assert.deepEqual(summary.amount, { raw: '1', unit: 'not_a_token', symbol: null, decimals: null, unlimited: false });
    assert.match(summary.title, new RegExp(`^Send 1 base units \\(not a token\\) \\(${notToken.address} is not a token\\) to `));
    assert.ok(blocking(summary).includes('not_a_token'));
  });

  test('a look-alike symbol, the native symbol, and more than 36 decimals: each blocking, amounts in base units beside', async () => {
    const lookalike = await deployTestToken(deployer, { symbol: 'USD\u0421', decimals: 6 });
    const eth = await deployTestToken(deployer, { symbol: 'ETH', decimals: 18 });
    const deep = await deployTestToken(deployer, { symbol: 'DEEP', decimals: 40 });
    const to = randomAddress();

    const first = (await prepare({ kind: 'erc20', token_address: lookalike.address, to_address: to, amount: '250000000' })).summary;
    assert.ok(blocking(first).includes('confusable_symbol'));
    assert.match(first.warning_details.find((w) => w.code === 'confusable_symbol')!.message, /U\+0421/);
    assert.equal(first.amount?.raw, '250000000');

    const second = (await prepare({ kind: 'erc20', token_address: eth.address, to_address: to, amount: '1000000000000000000' })).summary;
    const native = (await prepare({ kind: 'native', to_address: to, amount: '1000000000000000000' })).summary;
    assert.ok(blocking(second).includes('symbol_impersonates_native'));
    assert.notEqual(second.title, native.title);
    assert.equal(native.title, `Send 1 ETH to ${native.recipient}`);
    assert.equal(second.title, `Send 1 ETH (ERC-20 ${eth.address}) to ${native.recipient}`);

    const third = (await prepare({ kind: 'erc20', token_address: deep.address, to_address: to, amount: '1000000000000000000' })).summary;
    assert.ok(blocking(third).includes('implausible_decimals'));
    assert.equal(third.amount_formatted, '1,000,000,000,000,000,000 base units of DEEP');
    assert.ok(!third.title.includes('0.000000000000000001'));
  });
});

describe('approvals and names', () => {
  test('approve: the spender is the spender, the amount is shown; approve(MAX) with 1 wei is unlimited_approval', async () => {
    const token = await deployTestToken(deployer, { symbol: 'TST', decimals: 6 });
    const spender = randomAddress();
    const limited = (await prepare({ kind: 'contract_call', contract_address: token.address, data: erc20.encodeFunctionData('approve', [spender, 250_000_000n]) })).summary;
    assert.equal(limited.recipient_role, 'spender');
    assert.equal(limited.amount_formatted, '250 TST');
    assert.ok(limited.warnings.includes('allowance_granted'));
    assert.deepEqual(limited.allowances.map((a) => [a.kind, a.amount_formatted]), [['erc20', '250 TST']]);

    const withWei = (await prepare({ kind: 'contract_call', contract_address: token.address, data: erc20.encodeFunctionData('approve', [spender, MaxUint256]), value: '1' })).summary;
    assert.ok(blocking(withWei).includes('unlimited_approval'), JSON.stringify(withWei.warnings));
    assert.equal(withWei.amount_formatted, 'unlimited TST');
    assert.equal(withWei.value_formatted, '0.000000000000000001 ETH');
  });

  test('parameter names from the agent’s ABI are marked unverified; known selectors get canonical names', async () => {
    const target = await deployReverter(deployer);
    const renamed = [{ type: 'function', name: 'store', stateMutability: 'payable', inputs: [{ name: 'refundToYourOwnWallet', type: 'uint256' }], outputs: [] }];
    const custom = (await prepare({ kind: 'contract_call', contract_address: target.address, contract_abi: renamed, function_name: 'store', function_args: ['7'] })).summary;
    assert.equal(custom.decoded_call?.source, 'agent_abi');
    assert.deepEqual(custom.decoded_call?.params, [{ name: 'refundToYourOwnWallet', type: 'uint256', value: '7', name_verified: false }]);
    assert.match(custom.decoded_call!.args[0]!, /unverified/);

    const token = await deployTestToken(deployer, { symbol: 'TST', decimals: 6 });
    const lying = [{ type: 'function', name: 'transfer', stateMutability: 'nonpayable', inputs: [{ name: 'refundToYourOwnWallet', type: 'address' }, { name: 'amount', type: 'uint256' }], outputs: [] }];
    const to = randomAddress();
    const known = (await prepare({ kind: 'contract_call', contract_address: token.address, contract_abi: lying, function_name: 'transfer', function_args: [to, '1'] })).summary;
    assert.equal(known.decoded_call?.source, 'known');
    assert.ok(!JSON.stringify(known).includes('refundToYourOwnWallet'));
  });
});

describe('the transaction view', () => {
  test('memo: bidi overrides and invisible characters are stripped server-side, and it says so', async () => {
    const memo = 'Refund \u202Egnp.exe\u202C\u200B now';
    const prepared = await prepare({ kind: 'native', to_address: randomAddress(), amount: '1', memo });
    const view = await status(prepared.transaction_id);
    assert.equal(view.memo, 'Refund gnp.exe now');
    assert.equal(view.memo_altered, true);
    const list = await call<{ transactions: TransactionView[] }>(app.url, 'GET', '/api/transactions', { token: owner.token });
    assert.equal(list.body.transactions.find((t) => t.transaction_id === prepared.transaction_id)?.memo, 'Refund gnp.exe now');
    const plain = await prepare({ kind: 'native', to_address: randomAddress(), amount: '1', memo: 'Invoice 42' });
    assert.equal((await status(plain.transaction_id)).memo_altered, false);
  });

  test('explorer links for the addresses, and for the hash once it is on chain', async () => {
    const to = randomAddress();
    const prepared = await prepare({ kind: 'native', to_address: to, amount: '1' });
    const pending = await status(prepared.transaction_id);
    assert.deepEqual(pending.explorer, {
      base_url: EXPLORER,
      wallet: `${EXPLORER}/address/${pending.wallet_address}`,
      to: `${EXPLORER}/address/${pending.to}`,
      recipient: `${EXPLORER}/address/${pending.to}`,
      token: null,
      tx: null,
    });
    expectStatus(
      await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: prepared.transaction_id, digest: prepared.digest, mfa_code: await owner.nextCode() } }),
      200,
      'authorize',
    );
    expectStatus(await call(app.url, 'POST', '/api/execute_transaction', { apiKey: agent.apiKey, body: { transaction_id: prepared.transaction_id } }), 202, 'execute');
    const done = (await waitForStatus(app.url, { apiKey: agent.apiKey }, prepared.transaction_id, ['confirmed', 'failed'])) as unknown as TransactionView;
    assert.equal(done.status, 'confirmed');
    assert.equal(done.explorer?.tx, `${EXPLORER}/tx/${done.tx_hash}`);
  });
});
