/**
 * Sign → broadcast → confirm against a real anvil (automine), and the node
 * answers broadcast must classify. Uses WEB3_PROVIDER_URI when the harness
 * provides one, else a private anvil. Wallets are fresh random keys.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Interface, Wallet, type JsonRpcProvider } from 'ethers';
import {
  broadcastRaw,
  BroadcastRejectedError,
  buildCall,
  genesisHash,
  NonceConsumedError,
  pendingNonce,
  prepareCall,
  signEip1559,
  waitForConfirmation,
  type ConfirmationHeartbeat,
  type SignInput,
} from '../../domains/chain';
import { devChain, deployReverter, deployTestToken, fundedWallet, mintTestToken, receiptOf, Reverter, TestToken, type DevChain } from '../support/contracts';

let chain: DevChain;
let provider: JsonRpcProvider;

before(async () => {
  chain = await devChain();
  provider = chain.provider;
});

after(async () => {
  await chain.stop();
});

/** Signs a transfer from `wallet` with fees the chain accepts. */
async function signFrom(wallet: Pick<Wallet, 'privateKey' | 'address'>, overrides: Partial<SignInput> = {}) {
  const fees = await provider.getFeeData();
  return signEip1559({
    privateKey: Buffer.from(wallet.privateKey.slice(2), 'hex'),
    chainId: chain.chainId,
    nonce: await pendingNonce(provider, wallet.address),
    to: Wallet.createRandom().address,
    value: 1000n,
    data: '0x',
    gasLimit: 21000n,
    maxFeePerGas: fees.maxFeePerGas!,
    maxPriorityFeePerGas: fees.maxPriorityFeePerGas!,
    from: wallet.address,
    ...overrides,
  });
}

const confirm = (raw: string, hash: string, beats: ConfirmationHeartbeat[] = []) =>
  waitForConfirmation({ provider, hash, raw, confirmations: 1, pollMs: 25, heartbeat: (d) => beats.push(d) });

describe('sign, broadcast, confirm', () => {
  test('native transfer end to end: prepared, signed, accepted, confirmed, balance moved', async () => {
    const wallet = await fundedWallet(provider);
    const to = Wallet.createRandom().address;
    const prepared = await prepareCall(provider, { from: wallet.address, ...buildCall({ kind: 'native', to, amount: '123456789' }) });
    const signed = await signEip1559({
      privateKey: Buffer.from(wallet.privateKey.slice(2), 'hex'),
      chainId: chain.chainId,
      nonce: await pendingNonce(provider, wallet.address),
      to: prepared.call.to,
      value: prepared.call.value,
      data: prepared.call.data,
      gasLimit: prepared.gasLimit,
      maxFeePerGas: prepared.maxFeePerGas,
      maxPriorityFeePerGas: prepared.maxPriorityFeePerGas,
      from: wallet.address,
    });
    assert.deepEqual(await broadcastRaw(provider, signed.raw, signed.hash), { outcome: 'accepted', via: 'sent' });
    const beats: ConfirmationHeartbeat[] = [];
    const result = await confirm(signed.raw, signed.hash, beats);
    assert.equal(result.status, 'confirmed');
    assert.equal(result.confirmations >= 1, true);
    assert.equal(result.rebroadcasts, 0);
    assert.equal(result.reorgs, 0);
    assert.equal(result.gasUsed, '21000');
    assert.equal(result.revertReason, undefined);
    assert.equal((await provider.getTransactionReceipt(signed.hash))?.blockNumber, result.blockNumber);
    assert.equal(await provider.getBalance(to), 123456789n);
    assert.ok(beats.some((b) => b.phase === 'mined'));
    assert.doesNotThrow(() => JSON.stringify(beats.concat(result as never)));
  });

  test('ERC-20 transfer end to end', async () => {
    const wallet = await fundedWallet(provider);
    const token = (await deployTestToken(wallet)).address;
    await mintTestToken(wallet, token, wallet.address, 1000n);
    const to = Wallet.createRandom().address;
    const call = buildCall({ kind: 'erc20', token, to, amount: '400' });
    const prepared = await prepareCall(provider, { from: wallet.address, ...call, kind: 'erc20' });
    const signed = await signFrom(wallet, { ...prepared.call, gasLimit: prepared.gasLimit, maxFeePerGas: prepared.maxFeePerGas, maxPriorityFeePerGas: prepared.maxPriorityFeePerGas });
    await broadcastRaw(provider, signed.raw, signed.hash);
    assert.equal((await confirm(signed.raw, signed.hash)).status, 'confirmed');
    const iface = new Interface(TestToken.abi as never);
    const balance = await provider.call({ to: token, data: iface.encodeFunctionData('balanceOf', [to]) });
    assert.equal(BigInt(balance), 400n);
  });

  test('broadcasting the same bytes twice is accepted, and no second transaction exists', async () => {
    const wallet = await fundedWallet(provider);
    const signed = await signFrom(wallet);
    await broadcastRaw(provider, signed.raw, signed.hash);
    await receiptOf(provider, signed.hash);
    // Mined already: the node says "nonce too low", our hash is known → accepted.
    assert.deepEqual(await broadcastRaw(provider, signed.raw, signed.hash), { outcome: 'accepted', via: 'hash_known' });
    assert.equal(await provider.getTransactionCount(wallet.address, 'latest'), 1);
  });

  test('nonce too low with an unknown hash: NonceConsumedError (someone else used the key)', async () => {
    const wallet = await fundedWallet(provider);
    const ours = await signFrom(wallet, { value: 1n });
    const theirs = await signFrom(wallet, { value: 2n });
    assert.notEqual(ours.hash, theirs.hash);
    await broadcastRaw(provider, theirs.raw, theirs.hash);
    await receiptOf(provider, theirs.hash);
    await assert.rejects(broadcastRaw(provider, ours.raw, ours.hash), (err: unknown) => {
      assert.ok(err instanceof NonceConsumedError);
      assert.equal(err.retryable, false);
      assert.equal(err.hash, ours.hash);
      return true;
    });
  });

  test('a transaction that reverts on chain is reported with the reason from a replay', async () => {
    const wallet = await fundedWallet(provider);
    const reverter = (await deployReverter(wallet)).address;
    const data = new Interface(Reverter.abi as never).encodeFunctionData('fail', []);
    const signed = await signFrom(wallet, { to: reverter, value: 0n, data, gasLimit: 300000n });
    await broadcastRaw(provider, signed.raw, signed.hash);
    const result = await confirm(signed.raw, signed.hash);
    assert.equal(result.status, 'reverted');
    assert.equal(result.revertReason, 'Reverter: always fails');
  });

  test('rejections: insufficient funds and a fee cap below the base fee', async () => {
    const broke = Wallet.createRandom().connect(provider);
    const unfunded = await signFrom(broke);
    await assert.rejects(broadcastRaw(provider, unfunded.raw, unfunded.hash), (err: unknown) => {
      assert.ok(err instanceof BroadcastRejectedError);
      assert.equal(err.kind, 'insufficient_funds');
      assert.equal(err.retryable, false);
      assert.match(err.message, /^the node rejected the transaction: insufficient funds/i);
      return true;
    });
    const wallet = await fundedWallet(provider);
    const cheap = await signFrom(wallet, { maxFeePerGas: 1n, maxPriorityFeePerGas: 1n });
    await assert.rejects(broadcastRaw(provider, cheap.raw, cheap.hash), (err: unknown) => err instanceof BroadcastRejectedError && err.kind === 'underpriced');
  });

  test('a hash that does not match the bytes is refused before sending', async () => {
    const wallet = await fundedWallet(provider);
    const signed = await signFrom(wallet);
    await assert.rejects(broadcastRaw(provider, signed.raw, `0x${'00'.repeat(32)}`), /stored hash does not match/);
    assert.equal(await provider.getTransaction(signed.hash), null);
  });

  test('pendingNonce counts sent transactions; genesisHash is stable', async () => {
    const wallet = await fundedWallet(provider);
    assert.equal(await pendingNonce(provider, wallet.address), 0);
    const signed = await signFrom(wallet);
    await broadcastRaw(provider, signed.raw, signed.hash);
    await receiptOf(provider, signed.hash);
    assert.equal(await pendingNonce(provider, wallet.address.toUpperCase().replace('0X', '0x')), 1);
    const genesis = await genesisHash(provider);
    assert.match(genesis, /^0x[0-9a-f]{64}$/);
    assert.equal(await genesisHash(provider), genesis);
  });
});
