/**
 * A dev chain for tests: the harness's anvil (WEB3_PROVIDER_URI) or a private
 * one started here on a free loopback port. Tests that stop automine or drop
 * transactions must use a private one (`exclusive: true`): the shared chain
 * serves other test files at the same time.
 *
 * Test wallets are fresh random keys funded with anvil_setBalance, so parallel
 * tests never race for the nonce of a shared dev account.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import { JsonRpcProvider, Network, toQuantity, Wallet } from 'ethers';

export const ANVIL_BIN = resolve('node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil');

export interface DevChain {
  url: string;
  chainId: number;
  provider: JsonRpcProvider;
  /** True when this process started the node (and may change its mining). */
  exclusive: boolean;
  stop(): Promise<void>;
}

/** Starts anvil on 127.0.0.1 with an OS-chosen port; resolves once it listens. */
export async function startAnvil(extraArgs: string[] = []): Promise<{ url: string; process: ChildProcess; stop(): Promise<void> }> {
  const child = spawn(ANVIL_BIN, ['--host', '127.0.0.1', '--port', '0', '--chain-id', '31337', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stop = () =>
    new Promise<void>((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once('exit', () => done());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    });
  const url = await new Promise<string>((ready, fail) => {
    const timer = setTimeout(() => fail(new Error('anvil did not start within 15 s')), 15_000);
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`anvil exited early with code ${code}`)));
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const match = /Listening on (127\.0\.0\.1:\d+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        ready(`http://${match[1]}`);
      }
    });
    child.stderr!.resume();
  });
  return { url, process: child, stop };
}

function providerFor(url: string, chainId: number): JsonRpcProvider {
  const network = Network.from(chainId);
  return new JsonRpcProvider(url, network, { staticNetwork: network, batchMaxCount: 1, cacheTimeout: -1 });
}

export async function devChain(options: { exclusive?: boolean } = {}): Promise<DevChain> {
  const shared = process.env.WEB3_PROVIDER_URI;
  if (shared && !options.exclusive) {
    const probe = new JsonRpcProvider(shared, undefined, { staticNetwork: true, batchMaxCount: 1 });
    const chainId = Number(BigInt((await probe.send('eth_chainId', [])) as string));
    probe.destroy();
    const provider = providerFor(shared, chainId);
    return { url: shared, chainId, provider, exclusive: false, stop: async () => provider.destroy() };
  }
  const anvil = await startAnvil();
  const provider = providerFor(anvil.url, 31337);
  return {
    url: anvil.url,
    chainId: 31337,
    provider,
    exclusive: true,
    stop: async () => {
      provider.destroy();
      await anvil.stop();
    },
  };
}

/** A fresh random wallet holding `ether` ETH, connected to the provider. */
export async function fundedWallet(provider: JsonRpcProvider, ether = 100n): Promise<Wallet> {
  const wallet = Wallet.createRandom().connect(provider);
  await provider.send('anvil_setBalance', [wallet.address, toQuantity(ether * 10n ** 18n)]);
  return new Wallet(wallet.privateKey, provider);
}

/** Polls for a receipt without ethers' event machinery. */
export async function receiptOf(provider: JsonRpcProvider, hash: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const receipt = await provider.getTransactionReceipt(hash);
    if (receipt) return receipt;
    if (Date.now() > deadline) throw new Error(`no receipt for ${hash} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
