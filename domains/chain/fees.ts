/**
 * EIP-1559 fees. At prepare time we compute fee CAPS (they go into the approval
 * digest, so they must leave room for the base fee to rise while the request
 * waits for its human); at signing the network's current suggestion is used,
 * never above the approved caps (docs/http-contract.md: "signing uses the lower of the
 * cap and the network's suggestion").
 */
import type { JsonRpcProvider } from 'ethers';
import { ChainError, throwIfNetwork, toChainError } from './errors';
import type { FeeCaps } from './types';

export interface FeeMarket {
  baseFeePerGas: bigint;
  priorityFeePerGas: bigint;
  /** The latest block's gas limit: no transaction can use more. */
  blockGasLimit?: bigint;
}

export interface FeeOptions {
  /** maxFee = base × multiplier + tip. 2 survives six full blocks of base-fee growth. */
  baseFeeMultiplier?: bigint;
  /** A floor for the tip, for nodes that suggest 0. */
  minPriorityFeePerGas?: bigint;
}

/** ethers' own fallback when a node has no eth_maxPriorityFeePerGas. */
const DEFAULT_PRIORITY_FEE = 1_000_000_000n;

/** The latest base fee and the node's tip suggestion. Type 2 only: a chain without a base fee is refused. */
export async function readFeeMarket(provider: Pick<JsonRpcProvider, 'getBlock' | 'send'>): Promise<FeeMarket> {
  const [block, tip] = await Promise.all([
    provider.getBlock('latest').catch((err: unknown) => {
      throw toChainError(err, 'reading the latest block');
    }),
    provider.send('eth_maxPriorityFeePerGas', []).then(
      (hex: unknown) => (typeof hex === 'string' ? BigInt(hex) : DEFAULT_PRIORITY_FEE),
      (err: unknown) => {
        throwIfNetwork(err, 'eth_maxPriorityFeePerGas');
        return DEFAULT_PRIORITY_FEE;
      },
    ),
  ]);
  if (!block) throw new ChainError('node_error', 'the node returned no latest block', { retryable: true });
  if (block.baseFeePerGas === null) {
    throw new ChainError('unsupported_chain', 'the chain has no EIP-1559 base fee; only type 2 transactions are signed');
  }
  return { baseFeePerGas: block.baseFeePerGas, priorityFeePerGas: tip, blockGasLimit: block.gasLimit };
}

/** Pure: caps with headroom, maxFee = base × multiplier + tip. */
export function feeCapsFor(market: FeeMarket, options: FeeOptions = {}): FeeCaps {
  const multiplier = options.baseFeeMultiplier ?? 2n;
  const floor = options.minPriorityFeePerGas ?? 0n;
  const tip = market.priorityFeePerGas > floor ? market.priorityFeePerGas : floor;
  return { maxFeePerGas: market.baseFeePerGas * multiplier + tip, maxPriorityFeePerGas: tip };
}

export interface FeeSuggestion extends FeeCaps {
  baseFeePerGas: bigint;
  blockGasLimit?: bigint;
}

/** The network's suggestion now: caps with headroom over the latest base fee. */
export async function suggestFees(provider: Pick<JsonRpcProvider, 'getBlock' | 'send'>, options: FeeOptions = {}): Promise<FeeSuggestion> {
  const market = await readFeeMarket(provider);
  return { ...feeCapsFor(market, options), baseFeePerGas: market.baseFeePerGas, ...(market.blockGasLimit ? { blockGasLimit: market.blockGasLimit } : {}) };
}

const min = (a: bigint, b: bigint) => (a < b ? a : b);

/**
 * Pure: the fees to sign with, each the lower of the suggestion and the
 * approved cap, the tip never above the max fee. `belowBaseFee` says the
 * transaction cannot be included until the base fee falls (a new approval
 * with higher caps is the only way to go above them).
 */
export function feesWithinCaps(suggested: FeeCaps, caps: FeeCaps, baseFeePerGas?: bigint): FeeCaps & { belowBaseFee: boolean } {
  const maxFeePerGas = min(suggested.maxFeePerGas, caps.maxFeePerGas);
  const maxPriorityFeePerGas = min(min(suggested.maxPriorityFeePerGas, caps.maxPriorityFeePerGas), maxFeePerGas);
  return { maxFeePerGas, maxPriorityFeePerGas, belowBaseFee: baseFeePerGas !== undefined && maxFeePerGas < baseFeePerGas };
}
