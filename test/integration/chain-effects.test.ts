/**
 * Balance changes and allowances traced against a real anvil, through both
 * node methods (eth_simulateV1 and debug_traceCall): native, ERC-20 transfer,
 * approve, a swap that moves two tokens, ETH + a token through multicall, a
 * call that reverts, and a node without either method (a proxy that answers
 * "method not found"). Also the token checks that need a real token: decimals
 * that depend on the caller, decimals above 36, a look-alike symbol.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Interface, MaxUint256, Wallet, type JsonRpcProvider } from 'ethers';
import { buildCall, createChainClients, prepareCall, type PrepareInput, type TraceMethod, type TxIntent } from '../../domains/chain';
import {
  deployFickleDecimalsToken,
  deployReverter,
  deployTestSwap,
  deployTestToken,
  devChain,
  fundedWallet,
  mintTestToken,
  Reverter,
  sendAndMine,
  TestSwap,
  type DevChain,
} from '../support/contracts';
import { startRpcProxy, type RpcProxy } from '../support/rpc-proxy';

let chain: DevChain;
let provider: JsonRpcProvider;
let owner: Wallet;
let tokenA: string;
let tokenB: string;
let swap: string;
let reverter: string;
const recipient = Wallet.createRandom().address;
const METHODS: TraceMethod[] = ['eth_simulateV1', 'debug_traceCall'];
const erc20 = new Interface(['function approve(address spender, uint256 amount)', 'function transfer(address to, uint256 amount)']);
const swapAbi = new Interface(TestSwap.abi);

const input = (intent: TxIntent, from = owner.address): PrepareInput => ({
  from,
  ...buildCall(intent),
  kind: intent.kind,
  ...(intent.kind === 'contract_call' && intent.abi !== undefined ? { abi: intent.abi } : {}),
});

before(async () => {
  chain = await devChain();
  provider = chain.provider;
  owner = await fundedWallet(provider);
  tokenA = (await deployTestToken(owner, { symbol: 'AAA', decimals: 6 })).address;
  tokenB = (await deployTestToken(owner, { symbol: 'BBB', decimals: 18 })).address;
  swap = (await deployTestSwap(owner)).address;
  reverter = (await deployReverter(owner)).address;
  await mintTestToken(owner, tokenA, owner.address, 1_000_000n);
  await mintTestToken(owner, tokenB, swap, 10n ** 24n);
  await sendAndMine(owner, { to: tokenA, data: erc20.encodeFunctionData('approve', [swap, MaxUint256]) });
});

after(async () => {
  await chain.stop();
});

for (const method of METHODS) {
  describe(`balance changes through ${method}`, () => {
    const prepare = (intent: TxIntent) => prepareCall(provider, input(intent), { traceMethods: [method] });

    test('native transfer: the value leaves the wallet, balance before → after (gas not included)', async () => {
      const before = await provider.getBalance(owner.address);
      const prepared = await prepare({ kind: 'native', to: recipient, amount: '1000' });
      assert.equal(prepared.effects?.method, method);
      assert.equal(prepared.effects?.succeeded, true);
      assert.deepEqual(prepared.effects?.changes, [{ asset: 'native', delta: -1000n, before, after: before - 1000n }]);
      assert.deepEqual(prepared.effects?.allowances, []);
      assert.ok(!prepared.warnings.includes('balance_changes_unavailable'));
    });

    test('ERC-20 transfer: the token leaves the wallet', async () => {
      const prepared = await prepare({ kind: 'erc20', token: tokenA, to: recipient, amount: '2500' });
      assert.deepEqual(prepared.effects?.changes, [{ asset: 'erc20', token: tokenA.toLowerCase(), delta: -2500n, before: 1_000_000n, after: 997_500n }]);
    });

    test('approve: no balance moves, the allowance granted is reported and warned', async () => {
      const spender = Wallet.createRandom().address;
      const data = erc20.encodeFunctionData('approve', [spender, 250_000_000n]);
      const prepared = await prepare({ kind: 'contract_call', contract: tokenA, data });
      assert.deepEqual(prepared.effects?.changes, []);
      assert.deepEqual(prepared.effects?.allowances, [{ kind: 'erc20', token: tokenA.toLowerCase(), spender: spender.toLowerCase(), amount: 250_000_000n }]);
      assert.ok(prepared.warnings.includes('allowance_granted'));
      assert.ok(!prepared.warnings.includes('unlimited_approval'));
    });

    test('a swap moves two tokens: one out, one in', async () => {
      const data = swapAbi.encodeFunctionData('swap', [tokenA, tokenB, 100n, 250n * 10n ** 18n]);
      const prepared = await prepare({ kind: 'contract_call', contract: swap, data });
      assert.equal(prepared.simulation.ok, true);
      const changes = [...(prepared.effects?.changes ?? [])].sort((x, y) => String(x.token).localeCompare(String(y.token)));
      const expected = [
        { asset: 'erc20', token: tokenA.toLowerCase(), delta: -100n, before: 1_000_000n, after: 999_900n },
        { asset: 'erc20', token: tokenB.toLowerCase(), delta: 250n * 10n ** 18n, before: 0n, after: 250n * 10n ** 18n },
      ].sort((x, y) => x.token.localeCompare(y.token));
      assert.deepEqual(changes, expected);
      assert.deepEqual(
        prepared.tokens.map((t) => t.symbol).sort(),
        ['AAA', 'BBB'],
        'the traced tokens are read so the summary can name them',
      );
    });

    test('ETH and a token through multicall: both changes, inner calls decoded with the agent ABI (names unverified)', async () => {
      const inner = swapAbi.encodeFunctionData('buy', [tokenB, 5n]);
      const intent: TxIntent = { kind: 'contract_call', contract: swap, abi: TestSwap.abi as unknown as unknown[], functionName: 'multicall', args: [[inner]], value: '7' };
      const prepared = await prepare(intent);
      const changes = prepared.effects?.changes ?? [];
      assert.deepEqual(
        changes.map((c) => [c.asset, c.delta]),
        [
          ['native', -7n],
          ['erc20', 5n],
        ],
      );
      assert.equal(prepared.decoded.type, 'batch');
      if (prepared.decoded.type !== 'batch') return;
      assert.equal(prepared.decoded.function.signature, 'multicall(bytes[])');
      const [first] = prepared.decoded.calls;
      assert.equal(first?.sender, 'wallet');
      assert.equal(first?.decoded.type === 'contract_call' && first.decoded.function?.signature, 'buy(address,uint256)');
    });

    test('a call that reverts changes nothing and is flagged', async () => {
      const data = new Interface(Reverter.abi).encodeFunctionData('fail', []);
      const prepared = await prepare({ kind: 'contract_call', contract: reverter, data });
      assert.equal(prepared.effects?.succeeded, false);
      assert.deepEqual(prepared.effects?.changes, []);
      assert.ok(prepared.warnings.includes('would_revert'));
      assert.ok(!prepared.warnings.includes('balance_changes_unavailable'));
    });
  });
}

describe('a node that cannot trace', () => {
  let proxy: RpcProxy;
  before(async () => {
    proxy = await startRpcProxy(chain.url, ['eth_simulateV1', 'debug_traceCall']);
  });
  after(async () => {
    await proxy.stop();
  });

  test('degrades to no balance changes and a warning, never an error', async () => {
    const clients = createChainClients(new Map([[chain.chainId, proxy.url]]));
    try {
      const prepared = await prepareCall(clients.get(chain.chainId), input({ kind: 'erc20', token: tokenA, to: recipient, amount: '1' }));
      assert.equal(prepared.effects, undefined);
      assert.ok(prepared.warnings.includes('balance_changes_unavailable'));
      assert.equal(prepared.simulation.ok, true);
      assert.ok(proxy.seen.includes('eth_simulateV1') && proxy.seen.includes('debug_traceCall'), 'both methods were tried');
    } finally {
      clients.destroy();
    }
  });

  test('falls back to debug_traceCall when eth_simulateV1 is missing', async () => {
    proxy.refuse.delete('debug_traceCall');
    const clients = createChainClients(new Map([[chain.chainId, proxy.url]]));
    try {
      const prepared = await prepareCall(clients.get(chain.chainId), input({ kind: 'native', to: recipient, amount: '5' }));
      assert.equal(prepared.effects?.method, 'debug_traceCall');
      assert.equal(prepared.effects?.changes[0]?.delta, -5n);
    } finally {
      clients.destroy();
    }
  });
});

describe('tokens that misdescribe themselves', () => {
  test('decimals() that depend on the caller: inconsistent_decimals', async () => {
    const fickle = (await deployFickleDecimalsToken(owner)).address;
    await mintTestToken(owner, fickle, owner.address, 10n ** 18n);
    const prepared = await prepareCall(provider, input({ kind: 'erc20', token: fickle, to: recipient, amount: String(10n ** 18n) }));
    assert.equal(prepared.token?.inconsistentDecimals, true);
    assert.ok(prepared.warnings.includes('inconsistent_decimals'));
  });

  test('more than 36 decimals: implausible_decimals', async () => {
    const deep = (await deployTestToken(owner, { symbol: 'DEEP', decimals: 40 })).address;
    await mintTestToken(owner, deep, owner.address, 10n ** 18n);
    const prepared = await prepareCall(provider, input({ kind: 'erc20', token: deep, to: recipient, amount: String(10n ** 18n) }));
    assert.equal(prepared.token?.decimals, 40);
    assert.ok(prepared.warnings.includes('implausible_decimals'));
  });

  test('a Cyrillic letter in the symbol, or the native symbol: flagged', async () => {
    const lookalike = (await deployTestToken(owner, { symbol: 'USD\u0421', decimals: 6 })).address;
    const eth = (await deployTestToken(owner, { symbol: 'ETH', decimals: 18 })).address;
    const first = await prepareCall(provider, input({ kind: 'erc20', token: lookalike, to: recipient, amount: '1' }));
    assert.equal(first.token?.symbol, 'USD\u0421');
    assert.ok(first.warnings.includes('confusable_symbol'));
    const second = await prepareCall(provider, { ...input({ kind: 'erc20', token: eth, to: recipient, amount: '1' }), nativeSymbol: 'ETH' });
    assert.ok(second.warnings.includes('symbol_impersonates_native'));
    assert.ok(!second.warnings.includes('confusable_symbol'));
  });
});
