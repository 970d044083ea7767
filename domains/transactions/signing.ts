/**
 * The custody path: the one place that decides whether a request may be
 * signed, and signs it once.
 *
 * The gate (checkSignable) — every condition, on a row read in the caller's
 * transaction:
 *   - the request is approved (or `signing`: only a failed attempt of this
 *     function, which had passed the gate, writes that status), and inside its
 *     execution window: a cancelled, rejected or expired request is never
 *     signed, whatever Temporal says;
 *   - the wallet exists, is the request's `from`, and is not frozen; nor is
 *     the agent that prepared it (an operator's freeze);
 *   - an approval by the wallet's owner over the digest recomputed from the
 *     frozen columns (digestOf) exists, behind that owner's own TOTP use;
 *   - the preparing agent's execute command is recorded, or the request was
 *     prepared with `auto_execute` (frozen).
 *
 * Then, in the signing transaction only, the owner's current policy
 * (domains/policies): evaluated under the wallet's policy-row lock against
 * what is already signed, so a rule tightened after approval still stops the
 * signature and concurrent signings cannot exceed a limit together. A refusal
 * ends the request `failed` with reason `policy_denied`; it is recorded and
 * audited after the transaction rolls back.
 *
 * signOnce: if bytes are stored for the request, return them (a request is
 * never re-signed, so never with another nonce). Otherwise gate, then fetch
 * fees and (first use) the chain's pending nonce and decrypt the key — all
 * outside any lock — then in one database transaction: lock the request,
 * gate again, check the policy, allocate the nonce under the (wallet, chain) row lock, sign,
 * store the bytes (first writer wins), project `signing`, append the audit
 * entry. The key is zeroed whatever happens.
 *
 * No Temporal here: the activities adapt this to retries and failures.
 */
import type { Clock } from '../../lib/clock';
import type { Db, DbOrTx } from '../../lib/db';
import type { Logger } from '../../lib/logger';
import type { AuditLog } from '../audit';
import { feesWithinCaps } from '../chain';
import type { KeyStore } from '../keystore';
import type { PolicyEngine } from '../policies';
import {
  advanceNonceCounter,
  assignNonce,
  findSignableWallet,
  findSignedTransaction,
  findTransaction,
  findValidApproval,
  findValidCommand,
  freezeWallet,
  insertSignedTransaction,
  isAgentFrozen,
  lockNonceCounter,
  lockTransaction,
  lowestReusableNonce,
  nonceCounterExists,
  projectStatus,
  seedNonceCounter,
  updateDetails,
  voidNonce,
} from './dal';
import { digestOf } from './digest';
import { SigningRefusedError } from './errors';
import type { SigningChain } from './ports';
import type { SignableWallet, SignedTransactionRow, TransactionRow } from './rows';

export interface SigningDeps {
  db: Db;
  clock: Clock;
  logger: Pick<Logger, 'error'>;
  keystore: Pick<KeyStore, 'decrypt'>;
  chain: SigningChain;
  audit: Pick<AuditLog, 'append'>;
  /** The owner's rules, checked again inside the signing transaction. */
  policies: Pick<PolicyEngine, 'checkSigning' | 'recordRefusal'>;
}

export interface SignResult {
  txHash: string;
  /** The agent has an active webhook now (see dal.projectStatus); undefined when this call did not project. */
  agentHasWebhook?: boolean;
  /** False when the bytes were stored by an earlier attempt. */
  signedNow: boolean;
}

/** The gate; throws SigningRefusedError. Returns the wallet (with its key's ciphertext) when the request may be signed. */
export async function checkSignable(db: DbOrTx, tx: TransactionRow, now: Date): Promise<SignableWallet> {
  if (tx.status !== 'approved' && tx.status !== 'signing') throw new SigningRefusedError('not_approved');
  if (!tx.execution_expires_at || tx.execution_expires_at.getTime() <= now.getTime()) throw new SigningRefusedError('execution_window_passed');
  const wallet = await findSignableWallet(db, tx.wallet_id);
  if (!wallet) throw new SigningRefusedError('unknown_transaction');
  if (wallet.frozen_at) throw new SigningRefusedError('wallet_frozen');
  if (tx.agent_id && (await isAgentFrozen(db, tx.agent_id))) throw new SigningRefusedError('agent_frozen');
  const digest = digestOf(tx);
  const approval = digest === tx.digest && wallet.address === tx.from_address ? await findValidApproval(db, { transactionId: tx.id, digest }) : undefined;
  if (!approval) throw new SigningRefusedError('approval_mismatch');
  if (!tx.auto_execute && !(await findValidCommand(db, { transactionId: tx.id, kind: 'execute' }))) throw new SigningRefusedError('execute_not_requested');
  return wallet;
}

export function createSigning(deps: SigningDeps) {
  const { db } = deps;
  const now = () => deps.clock.now();

  /**
   * Under the (wallet, chain) row lock: reuse the lowest voided nonce that no
   * live request holds (it never reached a node), else take the next one.
   * PostgreSQL is authoritative after the first use; the chain's pending count
   * only seeds it.
   */
  async function allocateNonce(trx: DbOrTx, tx: TransactionRow, chainPending: number | undefined): Promise<number> {
    if (chainPending !== undefined) await seedNonceCounter(trx, tx.wallet_id, tx.chain_id, chainPending);
    const next = await lockNonceCounter(trx, tx.wallet_id, tx.chain_id);
    if (next === undefined) throw new Error('nonce counter missing');
    const reusable = await lowestReusableNonce(trx, tx.wallet_id, tx.chain_id);
    const nonce = reusable ?? next;
    if (reusable === undefined) await advanceNonceCounter(trx, tx.wallet_id, tx.chain_id, next + 1);
    await assignNonce(trx, { walletId: tx.wallet_id, chainId: tx.chain_id, nonce, transactionId: tx.id, at: now() });
    return nonce;
  }

  async function signOnce(transactionId: string, version: number): Promise<SignResult> {
    const stored = await findSignedTransaction(db, transactionId);
    if (stored) return { txHash: stored.tx_hash, signedNow: false };
    const tx = await findTransaction(db, transactionId);
    if (!tx) throw new SigningRefusedError('unknown_transaction');
    const wallet = await checkSignable(db, tx, now());

    let key: Buffer | undefined;
    try {
      // Network and key store first, outside the row locks.
      const [fees, chainPending] = await Promise.all([
        deps.chain.feeSuggestion(tx.chain_id),
        nonceCounterExists(db, tx.wallet_id, tx.chain_id).then((exists) => (exists ? undefined : deps.chain.pendingNonce(tx.chain_id, tx.from_address))),
      ]);
      key = await deps.keystore.decrypt('wallet', wallet.id, wallet.key_ciphertext);
      const signingKey = key;

      return await db.transaction(async (trx): Promise<SignResult> => {
        const locked = await lockTransaction(trx, transactionId);
        if (!locked) throw new SigningRefusedError('unknown_transaction');
        const again = await findSignedTransaction(trx, transactionId);
        // A concurrent attempt signed first (rare).
        if (again) return { txHash: again.tx_hash, signedNow: false };
        await checkSignable(trx, locked, now());
        // Holds the wallet's policy row until the signature is stored: signings on one wallet are counted one at a time.
        const verdict = await deps.policies.checkSigning(trx, locked, now());
        if (!verdict.allowed) throw new SigningRefusedError('policy_denied', verdict);

        const nonce = await allocateNonce(trx, locked, chainPending);
        // Fee caps were approved; sign with the lower of cap and network suggestion, never above the cap.
        const { maxFeePerGas, maxPriorityFeePerGas } = feesWithinCaps(fees, {
          maxFeePerGas: BigInt(locked.max_fee_per_gas),
          maxPriorityFeePerGas: BigInt(locked.max_priority_fee_per_gas),
        });
        const signed = await deps.chain.sign({
          privateKey: signingKey,
          chainId: locked.chain_id,
          nonce,
          to: locked.to_address,
          value: BigInt(locked.value),
          data: locked.data,
          gasLimit: BigInt(locked.gas_limit),
          maxFeePerGas,
          maxPriorityFeePerGas,
        });
        await insertSignedTransaction(trx, {
          transaction_id: transactionId,
          wallet_id: locked.wallet_id,
          chain_id: locked.chain_id,
          nonce: nonce.toString(),
          raw: signed.raw,
          tx_hash: signed.hash,
          max_fee_per_gas: maxFeePerGas.toString(),
          max_priority_fee_per_gas: maxPriorityFeePerGas.toString(),
          created_at: now(),
        });
        const signature = { nonce: nonce.toString(), tx_hash: signed.hash, last_error: null };
        const projected = await projectStatus(trx, { transactionId, status: 'signing', version, at: now(), fields: signature });
        // A failed attempt may have projected `signing` already: the signature's columns are written either way.
        if (!projected.applied) await updateDetails(trx, transactionId, signature, now());
        // Commits with the bytes: exactly one `transaction.signed` entry per signature, even across crashes.
        await deps.audit.append({ action: 'transaction.signed', actorType: 'system', subjectType: 'transaction', subjectId: transactionId, data: { tx_hash: signed.hash } }, trx);
        return { txHash: signed.hash, agentHasWebhook: projected.agentHasWebhook, signedNow: true };
      });
    } catch (err) {
      if (err instanceof SigningRefusedError && err.verdict) {
        // Rolled back with the signing transaction: recorded on its own, then the workflow fails the request (the owner sees it).
        await deps.policies.recordRefusal({ stage: 'signing', walletId: tx.wallet_id, userId: tx.user_id, agentId: tx.agent_id, transactionId, verdict: err.verdict });
      }
      throw err;
    } finally {
      key?.fill(0);
    }
  }

  /** No node accepted these bytes: give the nonce back so no gap remains (the next signing reuses it). */
  async function releaseNonce(transactionId: string): Promise<void> {
    await voidNonce(db, transactionId, now());
  }

  /**
   * "Nonce too low" for bytes no node knows: someone else used this wallet's
   * key. Stop all signing for the wallet, alert the operator, audit it.
   */
  async function freezeForForeignNonce(signed: SignedTransactionRow): Promise<void> {
    await freezeWallet(db, signed.wallet_id, 'nonce used by an unknown transaction', now());
    deps.logger.error({ transactionId: signed.transaction_id, walletId: signed.wallet_id, nonce: signed.nonce }, 'ALERT: wallet nonce consumed by an unknown transaction; wallet frozen');
    await deps.audit.append({
      action: 'wallet.frozen',
      actorType: 'system',
      subjectType: 'wallet',
      subjectId: signed.wallet_id,
      data: { reason: 'nonce_consumed', transaction_id: signed.transaction_id, nonce: signed.nonce },
    });
  }

  return { signOnce, allocateNonce, releaseNonce, freezeForForeignNonce };
}

export type Signing = ReturnType<typeof createSigning>;
