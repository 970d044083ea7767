/**
 * Preparation against a real anvil: simulation, gas, fee caps, decoding, token
 * metadata, warnings; providers and balances. Uses WEB3_PROVIDER_URI when the
 * harness provides one, else a private anvil. Wallets are fresh random keys.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { Interface, MaxUint256, Wallet, type JsonRpcProvider } from 'ethers';
import { buildCall, prepareCall, createChainClients, erc20Balances, nativeBalance, ChainError, ChainUnavailableError, type PrepareInput, type TxIntent } from '../../domains/chain';
import {
  devChain,
  fundedWallet,
  deployTestToken,
  deployReverter,
  deployBytes32SymbolToken,
  mintTestToken,
  Reverter,
  type DevChain,
} from '../support/contracts';

let chain: DevChain;
let provider: JsonRpcProvider;
let owner: Wallet;
let token: string;
let reverter: string;
let bytes32Token: string;
let hostileToken: string;
const recipient = Wallet.createRandom().address;

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
  token = (await deployTestToken(owner, { symbol: 'TST', decimals: 6 })).address;
  reverter = (await deployReverter(owner)).address;
  bytes32Token = (await deployBytes32SymbolToken(owner)).address;
  hostileToken = (await deployTestToken(owner, { symbol: `U\u202ESD\u0000C\u200B${'X'.repeat(100)}` })).address;
  await mintTestToken(owner, token, owner.address, 1_000_000n);
});

after(async () => {
  await chain.stop();
});

describe('prepareCall', () => {
  test('native transfer: simulation ok, estimate plus margin, fee caps 2 × base + tip, no warnings', async () => {
    const prepared = await prepareCall(provider, input({ kind: 'native', to: recipient, amount: '1000' }));
    assert.equal(prepared.simulation.ok, true);
    assert.equal(prepared.gasLimit, 25200n);
    const block = await provider.getBlock('latest');
    assert.ok(prepared.baseFeePerGas > 0n);
    assert.equal(prepared.maxFeePerGas, prepared.baseFeePerGas * 2n + prepared.maxPriorityFeePerGas);
    assert.ok(prepared.maxFeePerGas >= block!.baseFeePerGas!);
    assert.deepEqual(prepared.decoded, { type: 'native_transfer', to: recipient, value: '1000' });
    assert.equal(prepared.recipient, recipient.toLowerCase());
    assert.deepEqual(prepared.warnings, []);
    assert.equal(prepared.token, undefined);
  });

  test('a wallet that cannot pay gets insufficient_funds, not an error', async () => {
    const empty = Wallet.createRandom().address;
    const prepared = await prepareCall(provider, input({ kind: 'native', to: recipient, amount: '1000' }, empty));
    assert.equal(prepared.simulation.ok, false);
    assert.equal(prepared.simulation.failure, 'insufficient_funds');
    assert.deepEqual(prepared.warnings, ['insufficient_funds']);
  });

  test('ERC-20 transfer: decoded, token metadata, simulation returns true', async () => {
    const prepared = await prepareCall(provider, input({ kind: 'erc20', token, to: recipient, amount: '2500' }));
    assert.equal(prepared.simulation.ok, true);
    assert.equal(prepared.simulation.returnData, `0x${'0'.repeat(63)}1`);
    assert.deepEqual(prepared.decoded, { type: 'erc20_transfer', token, to: recipient, amount: '2500', value: '0' });
    assert.deepEqual(prepared.token, { address: token, symbol: 'TST', decimals: 6 });
    assert.equal(prepared.recipient, recipient.toLowerCase());
    assert.deepEqual(prepared.warnings, []);
    assert.ok(prepared.gasLimit > 30000n && prepared.gasLimit < 100000n, String(prepared.gasLimit));
  });

  test('ERC-20 transfer above the balance: would_revert with the reason, fallback gas limit', async () => {
    const prepared = await prepareCall(provider, input({ kind: 'erc20', token, to: recipient, amount: '999999999' }), { revertGasLimit: 123456n });
    assert.equal(prepared.simulation.ok, false);
    assert.equal(prepared.simulation.failure, 'reverted');
    assert.equal(prepared.simulation.revertReason, 'TestToken: balance too low');
    assert.equal(prepared.gasLimit, 123456n);
    assert.deepEqual(prepared.warnings, ['would_revert']);
  });

  test('unlimited approve is flagged', async () => {
    const data = new Interface(['function approve(address,uint256)']).encodeFunctionData('approve', [recipient, MaxUint256]);
    const prepared = await prepareCall(provider, input({ kind: 'contract_call', contract: token, data }));
    assert.equal(prepared.decoded.type, 'erc20_approve');
    assert.equal(prepared.simulation.ok, true);
    assert.deepEqual(prepared.token, { address: token, symbol: 'TST', decimals: 6 });
    assert.equal(prepared.recipient, recipient.toLowerCase());
    assert.deepEqual(prepared.warnings, ['unlimited_approval', 'allowance_granted']);
  });

  test('unlimited approve carrying 1 wei is still flagged (and reverts: approve is not payable)', async () => {
    const data = new Interface(['function approve(address,uint256)']).encodeFunctionData('approve', [recipient, MaxUint256]);
    const prepared = await prepareCall(provider, input({ kind: 'contract_call', contract: token, data, value: '1' }));
    assert.equal(prepared.decoded.type, 'erc20_approve');
    assert.equal(prepared.decoded.value, '1');
    assert.ok(prepared.warnings.includes('unlimited_approval'), prepared.warnings.join());
    assert.ok(prepared.warnings.includes('allowance_granted'));
  });

  test('contract call from ABI: decoded with the ABI, simulated ok', async () => {
    const intent: TxIntent = { kind: 'contract_call', contract: reverter, abi: Reverter.abi as unknown as unknown[], functionName: 'store', args: ['42'], value: '5' };
    const prepared = await prepareCall(provider, input(intent));
    assert.equal(prepared.simulation.ok, true);
    assert.equal(prepared.decoded.type, 'contract_call');
    if (prepared.decoded.type !== 'contract_call') return;
    assert.equal(prepared.decoded.value, '5');
    assert.deepEqual(prepared.decoded.function, { name: 'store', signature: 'store(uint256)', args: [{ name: 'value', type: 'uint256', value: '42' }] });
    assert.deepEqual(prepared.warnings, []);
  });

  test('a call that reverts with a reason: would_revert, reason, never throws', async () => {
    const abi = Reverter.abi as unknown as unknown[];
    const prepared = await prepareCall(provider, input({ kind: 'contract_call', contract: reverter, abi, functionName: 'fail', args: [] }));
    assert.deepEqual(prepared.simulation, { ok: false, failure: 'reverted', revertReason: 'Reverter: always fails' });
    assert.equal(prepared.gasLimit, 300000n);
    assert.deepEqual(prepared.warnings, ['would_revert']);
  });

  test('a custom error is named with the supplied ABI', async () => {
    const abi = Reverter.abi as unknown as unknown[];
    const prepared = await prepareCall(provider, input({ kind: 'contract_call', contract: reverter, abi, functionName: 'failCustom', args: ['7'] }));
    assert.equal(prepared.simulation.revertReason, `NotAllowed(${owner.address}, 7)`);
    const withoutAbi = await prepareCall(provider, { ...input({ kind: 'contract_call', contract: reverter, abi, functionName: 'failCustom', args: ['7'] }), abi: undefined });
    assert.match(withoutAbi.simulation.revertReason ?? '', /^custom error 0x[0-9a-f]{8}$/);
  });

  test('unknown_contract: calldata to an address without code, or an ERC-20 claim on a non-token', async () => {
    const nobody = Wallet.createRandom().address;
    const noCode = await prepareCall(provider, input({ kind: 'contract_call', contract: nobody, data: '0xdeadbeef' }));
    assert.ok(noCode.warnings.includes('unknown_contract'));
    const notToken = await prepareCall(provider, input({ kind: 'erc20', token: reverter, to: recipient, amount: '1' }));
    assert.ok(notToken.warnings.includes('unknown_contract'));
    assert.ok(notToken.warnings.includes('not_a_token'));
    assert.ok(!noCode.warnings.includes('not_a_token'), 'no token call, no token claim');
    assert.ok(notToken.warnings.includes('would_revert'));
    assert.equal(notToken.token, undefined);
    const nativeToContract = await prepareCall(provider, input({ kind: 'native', to: reverter, amount: '1' }));
    assert.ok(!nativeToContract.warnings.includes('unknown_contract'));
  });

  test('token symbols are hostile input: bidi/control stripped and capped; bytes32 symbols read', async () => {
    const hostile = await prepareCall(provider, input({ kind: 'erc20', token: hostileToken, to: recipient, amount: '1' }));
    assert.equal(hostile.token?.symbol, `USDC${'X'.repeat(11)}…`);
    const legacy = await prepareCall(provider, input({ kind: 'erc20', token: bytes32Token, to: recipient, amount: '1' }));
    assert.deepEqual(legacy.token, { address: bytes32Token, symbol: 'MKR', decimals: 18 });
  });

  test('a node that cannot be reached gives a retryable error without credentials', async () => {
    const port = await closedPort();
    const clients = createChainClients(new Map([[chain.chainId, `http://user:hunter2@127.0.0.1:${port}/v3/SECRETKEY`]]), { timeoutMs: 2000 });
    try {
      await assert.rejects(prepareCall(clients.get(chain.chainId), input({ kind: 'native', to: recipient, amount: '1' })), (err: unknown) => {
        assert.ok(err instanceof ChainUnavailableError, String(err));
        assert.equal(err.retryable, true);
        const text = `${err.message} ${JSON.stringify(err)} ${String((err.cause as Error | undefined)?.message)}`;
        assert.ok(!text.includes('hunter2') && !text.includes('SECRETKEY') && !text.includes('user:'), text);
        return true;
      });
      await assert.rejects(clients.ping(chain.chainId), (err: unknown) => err instanceof ChainUnavailableError && !err.message.includes('hunter2') && err.message.includes(`http://127.0.0.1:${port}`));
    } finally {
      clients.destroy();
    }
  });
});

describe('createChainClients', () => {
  test('get / chainIds / describe / ping', async () => {
    const clients = createChainClients(new Map([[chain.chainId, chain.url]]));
    try {
      assert.deepEqual(clients.chainIds(), [chain.chainId]);
      assert.equal(clients.has(chain.chainId), true);
      const ping = await clients.ping(chain.chainId);
      assert.equal(ping.chainId, chain.chainId);
      assert.ok(ping.blockNumber >= 1);
      assert.equal(await clients.get(chain.chainId).getBlockNumber() >= ping.blockNumber, true);
      assert.throws(() => clients.get(999), (err: unknown) => err instanceof ChainError && err.code === 'unknown_chain' && err.message === 'chain 999 is not configured');
    } finally {
      clients.destroy();
    }
  });

  test('a node serving another chain id is refused by ping', async () => {
    const clients = createChainClients(new Map([[1, chain.url]]));
    try {
      await assert.rejects(clients.ping(1), (err: unknown) => err instanceof ChainError && err.code === 'chain_mismatch' && err.message.includes(`reports chain id ${chain.chainId}`));
    } finally {
      clients.destroy();
    }
  });

  test('non-http URLs are configuration errors that do not echo the URL', () => {
    assert.throws(
      () => createChainClients(new Map([[1, 'ws://user:pw@127.0.0.1:8546/KEY']])),
      (err: unknown) => err instanceof ChainError && err.code === 'invalid_config' && !err.message.includes('pw') && !err.message.includes('KEY'),
    );
  });
});

describe('balances', () => {
  test('native and ERC-20 balances; broken tokens read as null', async () => {
    assert.equal(await nativeBalance(provider, owner.address.toLowerCase()), await provider.getBalance(owner.address));
    const nobody = Wallet.createRandom().address;
    const balances = await erc20Balances(provider, owner.address, [token, bytes32Token, reverter, nobody, token.toLowerCase()]);
    assert.deepEqual(balances, [
      { token, symbol: 'TST', decimals: 6, balance: 1_000_000n },
      { token: bytes32Token, symbol: 'MKR', decimals: 18, balance: null },
      { token: reverter, symbol: null, decimals: null, balance: null },
      { token: nobody, symbol: null, decimals: null, balance: null },
    ]);
  });
});

/** A loopback port with nothing listening. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
