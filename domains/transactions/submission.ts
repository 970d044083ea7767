/**
 * After signing: broadcast the stored bytes and wait for the outcome. Only
 * ever the bytes in `signed_transactions` — never anything re-signed.
 *
 * Broadcast: "already known" is success (the chain domain says so). "Nonce too
 * low" for bytes no node knows means someone else used the key: the wallet is
 * frozen and the request fails. A permanent refusal before any node accepted
 * the bytes gives the nonce back. Anything else is retried.
 */
import type { Clock } from '../../lib/clock';
import type { Db } from '../../lib/db';
import { BroadcastRejectedError, NonceConsumedError } from '../chain';
import { findSignedTransaction, updateDetails } from './dal';
import { FinalFailure } from './errors';
import type { SigningChain } from './ports';
import type { SignedTransactionRow } from './rows';
import type { Signing } from './signing';

export interface SubmissionDeps {
  db: Db;
  clock: Clock;
  chain: SigningChain;
  signing: Pick<Signing, 'releaseNonce' | 'freezeForForeignNonce'>;
  confirmations: number;
}

export type Outcome = { status: 'confirmed' } | { status: 'failed'; reason: string };

export function createSubmission(deps: SubmissionDeps) {
  async function loadSigned(transactionId: string): Promise<SignedTransactionRow> {
    const signed = await findSignedTransaction(deps.db, transactionId);
    if (!signed) throw new FinalFailure('notSigned', 'no signed transaction stored');
    return signed;
  }

  async function broadcast(transactionId: string): Promise<void> {
    const signed = await loadSigned(transactionId);
    try {
      await deps.chain.broadcast(signed.chain_id, signed.raw, signed.tx_hash);
    } catch (err) {
      if (err instanceof NonceConsumedError) {
        await deps.signing.freezeForForeignNonce(signed);
        throw new FinalFailure('nonceConsumed', 'nonce_consumed');
      }
      if (err instanceof BroadcastRejectedError) {
        await deps.signing.releaseNonce(transactionId);
        throw new FinalFailure('broadcastRejected', `broadcast_rejected: ${err.kind}`);
      }
      throw err;
    }
  }

  /** Waits for the receipt and confirmations (rebroadcasting the same bytes if dropped); records block and count. */
  async function confirm(transactionId: string, watch: { heartbeat: (details: unknown) => void; signal: AbortSignal }): Promise<Outcome> {
    const signed = await loadSigned(transactionId);
    const result = await deps.chain.waitForConfirmation(signed.chain_id, { hash: signed.tx_hash, raw: signed.raw, confirmations: deps.confirmations, ...watch });
    await updateDetails(deps.db, transactionId, { block_number: result.blockNumber.toString(), confirmations: result.confirmations, last_error: null }, deps.clock.now());
    if (result.status === 'reverted') return { status: 'failed', reason: `reverted${result.revertReason ? `: ${result.revertReason}` : ''}`.slice(0, 200) };
    return { status: 'confirmed' };
  }

  return { broadcast, confirm };
}
