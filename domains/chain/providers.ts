/**
 * One JSON-RPC provider per configured chain.
 *
 * - staticNetwork: no eth_chainId probing before each call and no start-up
 *   retry loop printing to the console; `ping` checks the chain id instead.
 * - batchMaxCount 1: each request is its own HTTP call, so one node error maps to one call.
 * - cacheTimeout -1: confirmation polling must see fresh block numbers.
 * - short timeouts and few 429 retries: activities retry, not the HTTP layer.
 * - never subscribe (`provider.on`) or `tx.wait()`: those start hidden pollers.
 *
 * RPC URLs often carry credentials (user:pass@, or an API key in the path or
 * query), so only `describeRpcUrl` (scheme + host) ever reaches a log or an
 * error — stricter than lib/logger's redactUrl, which keeps the path.
 */
import { FetchRequest, JsonRpcProvider, Network } from 'ethers';
import { ChainError, describeRpcUrl, toChainError } from './errors';

export interface ChainClientOptions {
  /** Per-request timeout. Default 10 s. */
  timeoutMs?: number;
}

export interface PingResult {
  chainId: number;
  blockNumber: number;
  latencyMs: number;
}

export interface ChainClients {
  /** The provider for a configured chain; an unknown chain id throws `unknown_chain`. */
  get(chainId: number): JsonRpcProvider;
  has(chainId: number): boolean;
  /** Configured chain ids, ascending. */
  chainIds(): number[];
  /** The RPC endpoint without credentials, path or query: safe to log. */
  describe(chainId: number): string;
  /** Reachability and chain-id check (for /readyz and start-up). */
  ping(chainId: number): Promise<PingResult>;
  destroy(): void;
}

export const DEFAULT_RPC_TIMEOUT_MS = 10_000;

/** A provider for one chain, configured as described above. */
export function createProvider(url: string, chainId: number, options: ChainClientOptions = {}): JsonRpcProvider {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ChainError('invalid_config', `chain ${chainId}: the RPC URL is not a valid URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ChainError('invalid_config', `chain ${chainId}: the RPC URL must be http(s), got ${describeRpcUrl(url)}`);
  }
  const request = new FetchRequest(url);
  request.timeout = options.timeoutMs ?? DEFAULT_RPC_TIMEOUT_MS;
  // ethers retries HTTP 429 up to 12 times by default; the caller's retry policy decides instead.
  request.setThrottleParams({ maxAttempts: 2 });
  const network = Network.from(chainId);
  return new JsonRpcProvider(request, network, { staticNetwork: network, batchMaxCount: 1, cacheTimeout: -1 });
}

export function createChainClients(chains: ReadonlyMap<number, string>, options: ChainClientOptions = {}): ChainClients {
  const providers = new Map<number, JsonRpcProvider>();
  const labels = new Map<number, string>();
  for (const [chainId, url] of chains) {
    if (!Number.isSafeInteger(chainId) || chainId <= 0) throw new ChainError('invalid_config', `invalid chain id ${chainId}`);
    providers.set(chainId, createProvider(url, chainId, options));
    labels.set(chainId, describeRpcUrl(url));
  }

  const get = (chainId: number): JsonRpcProvider => {
    const provider = providers.get(chainId);
    if (!provider) throw new ChainError('unknown_chain', `chain ${chainId} is not configured`);
    return provider;
  };

  return {
    get,
    has: (chainId) => providers.has(chainId),
    chainIds: () => [...providers.keys()].sort((a, b) => a - b),
    describe: (chainId) => labels.get(chainId) ?? 'unconfigured chain',
    async ping(chainId) {
      const provider = get(chainId);
      const started = performance.now();
      let reported: unknown;
      let blockNumber: number;
      try {
        [reported, blockNumber] = await Promise.all([provider.send('eth_chainId', []), provider.getBlockNumber()]);
      } catch (err) {
        throw toChainError(err, `chain ${chainId} at ${labels.get(chainId)}`);
      }
      const actual = typeof reported === 'string' ? Number(BigInt(reported)) : NaN;
      if (actual !== chainId) {
        throw new ChainError('chain_mismatch', `chain ${chainId}: the node at ${labels.get(chainId)} reports chain id ${String(actual)}`);
      }
      return { chainId, blockNumber, latencyMs: Math.round(performance.now() - started) };
    },
    destroy() {
      for (const provider of providers.values()) provider.destroy();
      providers.clear();
    },
  };
}
