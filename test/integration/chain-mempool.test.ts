/**
 * Mempool behaviour: duplicates, replacements, dropped transactions and
 * reorgs. These stop automine, drop transactions and revert the chain, so
 * they always run on a private anvil, never the harness's shared one.
 */
import { test, describe, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { Wallet, type JsonRpcProvider } from 'ethers';
import {
  broadcastRaw,
  BroadcastRejectedError,
  ChainUnavailableError,
  pendingNonce,
  signEip1559,
  waitForConfirmation,
  type ConfirmationHeartbeat,
  type SignInput,
} from '../../domains/chain';
import { devChain, fundedWallet, type DevChain } from '../support/contracts';

let chain: DevChain;
let provider: JsonRpcProvider;

before(async () => {
  chain = await devChain({ exclusive: true });
  provider = chain.provider;
});

after(async () => {
  await chain.stop();
});

beforeEach(async () => {
  await provider.send('evm_setAutomine', [false]);
});

async function signFrom(wallet: Pick<Wallet, 'privateKey' | 'address'>, overrides: Partial<SignInput> = {}) {
  return signEip1559({
    privateKey: Buffer.from(wallet.privateKey.slice(2), 'hex'),
    chainId: chain.chainId,
    nonce: await pendingNonce(provider, wallet.address),
    to: Wallet.createRandom().address,
    value: 1000n,
    data: '0x',
    gasLimit: 21000n,
    maxFeePerGas: 10_000_000_000n,
    maxPriorityFeePerGas: 1_000_000_000n,
    ...overrides,
  });
}

const mine = async (blocks = 1) => {
  for (let i = 0; i < blocks; i++) await provider.send('evm_mine', []);
};

/**
 * Starts waiting in the background. `stop` aborts it, so a failing test never
 * leaves a poller running (which would keep the test process alive).
 */
function startWaiting(args: Omit<Parameters<typeof waitForConfirmation>[0], 'provider' | 'signal'>) {
  const controller = new AbortController();
  const promise = waitForConfirmation({ provider, ...args, signal: controller.signal });
  promise.catch(() => undefined);
  return { promise, stop: () => controller.abort(new Error('test finished')) };
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('mempool', () => {
  test('the same bytes sent twice while pending: "already imported" means accepted', async () => {
    const wallet = await fundedWallet(provider);
    const signed = await signFrom(wallet);
    assert.deepEqual(await broadcastRaw(provider, signed.raw, signed.hash), { outcome: 'accepted', via: 'sent' });
    assert.deepEqual(await broadcastRaw(provider, signed.raw, signed.hash), { outcome: 'accepted', via: 'already_known' });
    await mine();
    assert.equal(await provider.getTransactionCount(wallet.address, 'latest'), 1);
  });

  test('another transaction with our nonce in the pool at the same price: underpriced, rejected', async () => {
    const wallet = await fundedWallet(provider);
    const first = await signFrom(wallet, { value: 1n });
    const second = await signFrom(wallet, { value: 2n, nonce: 0 });
    await broadcastRaw(provider, first.raw, first.hash);
    await assert.rejects(broadcastRaw(provider, second.raw, second.hash), (err: unknown) => err instanceof BroadcastRejectedError && err.kind === 'underpriced');
    await mine();
  });

  test('a dropped transaction is rebroadcast with the same bytes and confirmed', async () => {
    const wallet = await fundedWallet(provider);
    const signed = await signFrom(wallet);
    await broadcastRaw(provider, signed.raw, signed.hash);
    await provider.send('anvil_dropTransaction', [signed.hash]);
    assert.equal(await provider.getTransaction(signed.hash), null);

    const beats: ConfirmationHeartbeat[] = [];
    const waiting = startWaiting({ hash: signed.hash, raw: signed.raw, confirmations: 2, pollMs: 20, heartbeat: (d) => beats.push(d) });
    try {
      await until(() => beats.some((b) => b.phase === 'dropped'), 'a rebroadcast');
      assert.ok(await provider.getTransaction(signed.hash), 'the same bytes are back in the pool');
      await mine();
      await until(() => beats.some((b) => b.phase === 'mined' && b.confirmations === 1), 'one confirmation');
      await mine();
    } finally {
      setTimeout(waiting.stop, 5000).unref();
    }
    const result = await waiting.promise;
    assert.equal(result.status, 'confirmed');
    assert.equal(result.confirmations, 2);
    assert.ok(result.rebroadcasts >= 1);
    assert.equal(await provider.getTransactionCount(wallet.address, 'latest'), 1);
  });

  test('a reorg that removes the block: noticed, the same bytes rebroadcast, confirmed in the new chain', async () => {
    const wallet = await fundedWallet(provider);
    const signed = await signFrom(wallet);
    await mine(); // the funding lands before the snapshot
    const snapshot = (await provider.send('evm_snapshot', [])) as string;
    await broadcastRaw(provider, signed.raw, signed.hash);
    await mine();
    const firstBlock = (await provider.getTransactionReceipt(signed.hash))!.blockHash;

    const beats: ConfirmationHeartbeat[] = [];
    const waiting = startWaiting({ hash: signed.hash, raw: signed.raw, confirmations: 3, pollMs: 20, heartbeat: (d) => beats.push(d) });
    try {
      await until(() => beats.some((b) => b.phase === 'mined'), 'the first receipt');
      await provider.send('evm_revert', [snapshot]);
      await until(() => beats.some((b) => b.phase === 'reorged'), 'the reorg');
      await until(() => beats.some((b) => b.rebroadcasts >= 1), 'a rebroadcast after the reorg');
      await provider.send('evm_setNextBlockTimestamp', [Math.floor(Date.now() / 1000) + 100]);
      await mine(3);
    } finally {
      setTimeout(waiting.stop, 5000).unref();
    }
    const result = await waiting.promise;
    assert.equal(result.status, 'confirmed');
    assert.ok(result.reorgs >= 1);
    assert.notEqual(result.blockHash, firstBlock.toLowerCase());
    assert.equal(await provider.getTransactionCount(wallet.address, 'latest'), 1);
  });

  test('waiting stops when the signal aborts, with the signal’s reason', async () => {
    const wallet = await fundedWallet(provider);
    const signed = await signFrom(wallet);
    await broadcastRaw(provider, signed.raw, signed.hash);
    const controller = new AbortController();
    const waiting = waitForConfirmation({ provider, hash: signed.hash, raw: signed.raw, confirmations: 1, pollMs: 20, signal: controller.signal });
    const reason = new Error('cancelled by the workflow');
    setTimeout(() => controller.abort(reason), 50);
    await assert.rejects(waiting, (err: unknown) => err === reason);
    await mine();
  });

  test('a node that goes away: tolerated for a while, then a retryable error', async () => {
    const wallet = await fundedWallet(provider);
    const signed = await signFrom(wallet);
    const { createChainClients } = await import('../../domains/chain');
    const clients = createChainClients(new Map([[chain.chainId, 'http://127.0.0.1:9/']]), { timeoutMs: 500 });
    const beats: ConfirmationHeartbeat[] = [];
    try {
      await assert.rejects(
        waitForConfirmation({ provider: clients.get(chain.chainId), hash: signed.hash, raw: signed.raw, confirmations: 1, pollMs: 5, maxConsecutiveErrors: 3, heartbeat: (d) => beats.push(d) }),
        (err: unknown) => err instanceof ChainUnavailableError && err.retryable,
      );
      assert.equal(beats.length, 2);
      assert.ok(beats.every((b) => typeof b.lastError === 'string'));
    } finally {
      clients.destroy();
    }
  });
});
