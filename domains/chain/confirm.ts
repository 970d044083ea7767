/**
 * Waiting for an on-chain outcome, for one heartbeating activity.
 *
 * Each poll: a receipt whose block is still canonical counts confirmations; a
 * receipt that vanished or moved to another block is a reorg (keep waiting);
 * no receipt and not in the node's mempool means dropped, so the SAME signed
 * bytes are sent again (never a new signature). A revert's reason comes from
 * replaying the call at its block.
 *
 * Everything reported (heartbeat details, result) is JSON-safe: numbers and
 * decimal strings, no bigint.
 */
import { Transaction, type JsonRpcProvider, type TransactionReceipt } from 'ethers';
import { broadcastRaw } from './broadcast';
import {
  BroadcastRejectedError,
  ChainError,
  classifyNodeError,
  describeNodeError,
  NonceConsumedError,
  toChainError,
} from './errors';
import { parseAbi, type Abi } from './request';
import { revertReasonOf } from './revert';

export type ConfirmationPhase = 'pending' | 'dropped' | 'mined' | 'reorged';

export interface ConfirmationHeartbeat {
  phase: ConfirmationPhase;
  confirmations: number;
  blockNumber?: number;
  rebroadcasts: number;
  reorgs: number;
  /** A sanitised description of the last failed poll or rebroadcast. */
  lastError?: string;
}

export interface WaitForConfirmationInput {
  provider: ConfirmProvider;
  hash: string;
  /** The stored signed bytes, rebroadcast if the transaction is dropped. */
  raw: string;
  /** Blocks including the transaction's own; at least 1. */
  confirmations: number;
  pollMs: number;
  heartbeat?: (details: ConfirmationHeartbeat) => void;
  signal?: AbortSignal;
  /** Consecutive failed polls (network) tolerated before giving up with a retryable error. Default 10. */
  maxConsecutiveErrors?: number;
  /** The agent's ABI, to name custom revert errors. */
  abi?: Abi;
}

export interface ConfirmationResult {
  status: 'confirmed' | 'reverted';
  blockNumber: number;
  blockHash: string;
  confirmations: number;
  gasUsed: string;
  effectiveGasPrice: string;
  /** Sanitised; only when reverted. */
  revertReason?: string;
  rebroadcasts: number;
  reorgs: number;
}

export type ConfirmProvider = Pick<
  JsonRpcProvider,
  'getTransactionReceipt' | 'getTransaction' | 'getBlockNumber' | 'getBlock' | 'send' | 'call'
>;

interface WaitState {
  /** Block hash of the receipt last seen on the canonical chain. */
  minedIn?: string;
  blockNumber?: number;
  confirmations: number;
  rebroadcasts: number;
  reorgs: number;
  errors: number;
  lastError?: string;
}

export async function waitForConfirmation(input: WaitForConfirmationInput): Promise<ConfirmationResult> {
  if (!Number.isInteger(input.confirmations) || input.confirmations < 1) {
    throw new ChainError('invalid_transaction', 'confirmations must be a positive integer');
  }
  const state: WaitState = { confirmations: 0, rebroadcasts: 0, reorgs: 0, errors: 0 };
  const maxErrors = input.maxConsecutiveErrors ?? 10;
  for (;;) {
    throwIfAborted(input.signal);
    try {
      const result = await pollOnce(input, state);
      state.errors = 0;
      if (result) return result;
    } catch (err) {
      if (err instanceof NonceConsumedError) throw err;
      if (err instanceof BroadcastRejectedError) {
        // Our bytes were accepted before; a rejected rebroadcast (a replacement in the
        // pool, funds moved) may change, so keep waiting and say why.
        state.lastError = err.message;
      } else if (classifyNodeError(err) === 'network') {
        state.errors += 1;
        state.lastError = describeNodeError(err);
        if (state.errors >= maxErrors) throw toChainError(err, 'waiting for the receipt');
      } else {
        throw toChainError(err, 'waiting for the receipt');
      }
      report(input, state, state.minedIn ? { phase: 'mined', confirmations: state.confirmations, blockNumber: state.blockNumber } : { phase: 'pending', confirmations: 0 });
    }
    await sleep(input.pollMs, input.signal);
  }
}

async function pollOnce(input: WaitForConfirmationInput, state: WaitState): Promise<ConfirmationResult | undefined> {
  const { provider, hash } = input;
  const receipt = await provider.getTransactionReceipt(hash);
  if (receipt) {
    const [head, block] = await Promise.all([provider.getBlockNumber(), provider.getBlock(receipt.blockNumber)]);
    if (!block || block.hash !== receipt.blockHash) {
      // The node's receipt index lags a reorg: its block is no longer canonical.
      noteReorg(state);
      report(input, state, { phase: 'reorged', confirmations: 0 });
      return undefined;
    }
    if (state.minedIn !== undefined && state.minedIn !== receipt.blockHash) state.reorgs += 1;
    state.minedIn = receipt.blockHash;
    const confirmations = Math.max(0, head - receipt.blockNumber + 1);
    state.blockNumber = receipt.blockNumber;
    state.confirmations = confirmations;
    report(input, state, { phase: 'mined', confirmations, blockNumber: receipt.blockNumber });
    if (confirmations < input.confirmations) return undefined;
    return finish(input, state, receipt, confirmations);
  }
  if (noteReorg(state)) report(input, state, { phase: 'reorged', confirmations: 0 });
  if (await provider.getTransaction(hash)) {
    report(input, state, { phase: 'pending', confirmations: 0 });
    return undefined;
  }
  // Dropped from the mempool (or never reached this node): the same bytes again.
  await broadcastRaw(provider, input.raw, hash, { recheckMs: Math.min(input.pollMs, 1000) });
  state.rebroadcasts += 1;
  state.lastError = undefined;
  report(input, state, { phase: 'dropped', confirmations: 0 });
  return undefined;
}

/** Forgets a receipt we had seen; true if there was one (a reorg took it away). */
function noteReorg(state: WaitState): boolean {
  if (state.minedIn === undefined) return false;
  state.minedIn = undefined;
  state.blockNumber = undefined;
  state.confirmations = 0;
  state.reorgs += 1;
  return true;
}

async function finish(
  input: WaitForConfirmationInput,
  state: WaitState,
  receipt: TransactionReceipt,
  confirmations: number,
): Promise<ConfirmationResult> {
  const base = {
    blockNumber: receipt.blockNumber,
    blockHash: receipt.blockHash.toLowerCase(),
    confirmations,
    gasUsed: receipt.gasUsed.toString(),
    effectiveGasPrice: receipt.gasPrice.toString(),
    rebroadcasts: state.rebroadcasts,
    reorgs: state.reorgs,
  };
  if (receipt.status !== 0) return { status: 'confirmed', ...base };
  return { status: 'reverted', ...base, revertReason: await replayRevertReason(input, receipt) };
}

/**
 * Replays the transaction as a call on the state at its block. Not exact
 * (later transactions of that block are applied), but the usual way to learn
 * a reason that receipts do not carry.
 */
export async function replayRevertReason(
  input: Pick<WaitForConfirmationInput, 'provider' | 'raw' | 'abi'>,
  receipt: Pick<TransactionReceipt, 'blockNumber' | 'gasUsed'>,
): Promise<string> {
  const tx = Transaction.from(input.raw);
  const iface = input.abi === undefined ? undefined : safeInterface(input.abi);
  try {
    await input.provider.call({
      from: tx.from ?? undefined,
      to: tx.to ?? undefined,
      data: tx.data,
      value: tx.value,
      gasLimit: tx.gasLimit,
      blockTag: receipt.blockNumber,
    });
  } catch (err) {
    if (classifyNodeError(err) === 'network') throw toChainError(err, 'replaying the reverted call');
    return revertReasonOf(err, iface);
  }
  return receipt.gasUsed >= tx.gasLimit ? 'out of gas' : 'execution reverted (reason unavailable)';
}

function safeInterface(abi: Abi) {
  try {
    return parseAbi(abi);
  } catch {
    return undefined;
  }
}

function report(input: WaitForConfirmationInput, state: WaitState, details: Omit<ConfirmationHeartbeat, 'rebroadcasts' | 'reorgs'>): void {
  input.heartbeat?.({
    phase: details.phase,
    confirmations: details.confirmations,
    ...(details.blockNumber === undefined ? {} : { blockNumber: details.blockNumber }),
    rebroadcasts: state.rebroadcasts,
    reorgs: state.reorgs,
    ...(state.lastError ? { lastError: state.lastError } : {}),
  });
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  // Rethrow the signal's own reason: under Temporal it is the CancelledFailure.
  if (signal?.aborted) throw signal.reason ?? new ChainError('node_error', 'aborted');
}

/** Resolves after `ms`, or rejects with the signal's reason when aborted. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The next nonce the node would accept, counting its pending transactions. */
export async function pendingNonce(provider: Pick<JsonRpcProvider, 'getTransactionCount'>, address: string): Promise<number> {
  try {
    return await provider.getTransactionCount(address.toLowerCase(), 'pending');
  } catch (err) {
    throw toChainError(err, 'reading the pending nonce');
  }
}

/** The genesis block's hash, lowercase: a changed value means the chain was reset. */
export async function genesisHash(provider: Pick<JsonRpcProvider, 'getBlock'>): Promise<string> {
  let block;
  try {
    block = await provider.getBlock(0);
  } catch (err) {
    throw toChainError(err, 'reading the genesis block');
  }
  if (!block?.hash) throw new ChainError('node_error', 'the node returned no genesis block', { retryable: true });
  return block.hash.toLowerCase();
}
