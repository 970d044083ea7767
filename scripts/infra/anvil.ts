/**
 * A local EVM chain: `anvil` from the npm package @foundry-rs/anvil, chain id 31337.
 * Dev keeps its state in .data/anvil-state.json; anvil writes `--state` only on a clean
 * exit, so `--state-interval 5` also dumps it every 5 s in case we are killed.
 */
import path from 'node:path';
import { anvilBinary } from './paths';
import { abortStart, assertPortsFree, getFreePort, spawnManaged, waitUntilReady, type Handle } from './process';

export const DEV_ANVIL_PORT = 8545;
export const CHAIN_ID = 31337;

export interface AnvilOptions {
  mode: 'dev' | 'test';
  dataDir: string;
  runDir: string;
  logDir: string;
  console?: boolean;
  port?: number;
  chainId?: number;
  /** Dev only: an existing WEB3_PROVIDER_URI — then nothing is started. */
  external?: string;
  readyTimeoutMs?: number;
}

export interface AnvilHandle extends Handle {
  url: string;
}

/** eth_chainId over JSON-RPC, as a number. */
export async function rpcChainId(url: string, timeoutMs = 2000): Promise<number> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await response.json()) as { result?: string; error?: { message: string } };
  if (!body.result) throw new Error(body.error?.message ?? `eth_chainId answered HTTP ${response.status}`);
  return Number.parseInt(body.result, 16);
}

export async function startAnvil(options: AnvilOptions): Promise<AnvilHandle> {
  const name = 'anvil';
  const chainId = options.chainId ?? CHAIN_ID;
  if (options.external) {
    return { name, url: options.external, env: { WEB3_PROVIDER_URI: options.external, CHAIN_ID: String(chainId) }, stop: async () => {}, logTail: () => '' };
  }
  const dev = options.mode === 'dev';
  const port = options.port ?? (dev ? DEV_ANVIL_PORT : await getFreePort());
  await assertPortsFree(name, [port], '127.0.0.1', dev ? 'or set WEB3_PROVIDER_URI to use another chain' : undefined);
  const args = [
    '--host', '127.0.0.1',
    '--port', String(port),
    '--chain-id', String(chainId),
    ...(dev ? ['--state', path.join(options.dataDir, 'anvil-state.json'), '--state-interval', '5'] : []),
  ];
  const proc = spawnManaged({ name, command: anvilBinary(), args, logDir: options.logDir, runDir: options.runDir, console: options.console ?? false });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await proc.stop();
  };
  try {
    await waitUntilReady(
      proc,
      async () => {
        const answered = await rpcChainId(url);
        if (answered !== chainId) throw new Error(`chain id ${answered}, expected ${chainId}`);
        return true;
      },
      { timeoutMs: options.readyTimeoutMs ?? 30_000, what: `eth_chainId on ${url}` },
    );
  } catch (error) {
    return abortStart(name, proc, stop, error);
  }
  return {
    name,
    url,
    env: { WEB3_PROVIDER_URI: url, CHAIN_ID: String(chainId) },
    stop,
    logTail: (lines?: number) => proc.logTail(lines),
    exited: proc.exited,
  };
}
