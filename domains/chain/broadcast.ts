/**
 * Sends stored signed bytes. Safe to repeat: the same bytes always have the
 * same hash and nonce, so a retry can never create a second transaction.
 *
 *   accepted                 the node took them, or already had them ("already known",
 *                            "transaction already imported"), or they are mined
 *   ChainUnavailableError    network trouble: retry with backoff (maybe a node accepted them)
 *   NonceConsumedError       "nonce too low" and our hash is unknown: someone else used the key
 *   BroadcastRejectedError   underpriced / insufficient funds / invalid: the same bytes will
 *                            not be accepted; if no node ever accepted them the caller voids the nonce
 */
import type { JsonRpcProvider } from 'ethers';
import { BroadcastRejectedError, classifyNodeError, describeNodeError, NonceConsumedError, ChainError, toChainError } from './errors';
import { transactionHash } from './sign';

export interface BroadcastResult {
  outcome: 'accepted';
  /** How we know: the node took them now, already had them, or knows the hash (pending or mined). */
  via: 'sent' | 'already_known' | 'hash_known';
}

type BroadcastProvider = Pick<JsonRpcProvider, 'send' | 'getTransaction' | 'getTransactionReceipt'>;

export interface BroadcastOptions {
  /** Pause before the second look-up of our hash after "nonce too low". Default 1000 ms. */
  recheckMs?: number;
}

export const DEFAULT_RECHECK_MS = 1000;

export async function broadcastRaw(provider: BroadcastProvider, raw: string, hash: string, options: BroadcastOptions = {}): Promise<BroadcastResult> {
  if (transactionHash(raw) !== hash.toLowerCase()) {
    throw new ChainError('invalid_transaction', 'the stored hash does not match the stored signed bytes');
  }
  try {
    await provider.send('eth_sendRawTransaction', [raw]);
    return { outcome: 'accepted', via: 'sent' };
  } catch (err) {
    const kind = classifyNodeError(err);
    switch (kind) {
      case 'already_known':
        return { outcome: 'accepted', via: 'already_known' };
      case 'nonce_too_low':
        // Our own transaction mined earlier also says "nonce too low". Look twice,
        // a moment apart: a node may answer before it has indexed a fresh block,
        // and a false "someone else has the key" freezes the wallet.
        if (await isTransactionKnown(provider, hash)) return { outcome: 'accepted', via: 'hash_known' };
        await new Promise((resolve) => setTimeout(resolve, options.recheckMs ?? DEFAULT_RECHECK_MS));
        if (await isTransactionKnown(provider, hash)) return { outcome: 'accepted', via: 'hash_known' };
        throw new NonceConsumedError(hash.toLowerCase());
      case 'network':
        throw toChainError(err, 'broadcasting the transaction');
      default:
        throw new BroadcastRejectedError(kind, `the node rejected the transaction: ${describeNodeError(err)}`);
    }
  }
}

/** True when the node has the transaction, pending or mined. */
export async function isTransactionKnown(provider: Pick<JsonRpcProvider, 'getTransaction' | 'getTransactionReceipt'>, hash: string): Promise<boolean> {
  try {
    if (await provider.getTransaction(hash)) return true;
    return (await provider.getTransactionReceipt(hash)) !== null;
  } catch (err) {
    throw toChainError(err, 'looking up the transaction');
  }
}
