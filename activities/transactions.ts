/**
 * The transaction workflow's activities. They receive ids and return ids or
 * small strings — never amounts, ABIs, raw bytes or keys — and trust
 * PostgreSQL, not the message that scheduled them.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Config } from '../config/env';
import type { Clock } from '../lib/clock';
import type { Db } from '../lib/db';
import type { Logger } from '../lib/logger';
import { approvalDigest } from '../domains/chain/digest';
import { feesWithinCaps } from '../domains/chain/fees';
import { BroadcastRejectedError, NonceConsumedError } from '../domains/chain/errors';
import type { KeyStore } from '../domains/keystore/types';
import { findTransaction, projectStatus, updateDetails, type ProjectionResult, type TransactionRow } from '../domains/transactions/dal';
import { projectionFields } from '../domains/transactions/projection';
import type { AuditSink } from '../domains/transactions/service';
import { FAILURE_TYPES, type CommandKind, type SigningRefusal, type TransactionStatus } from '../workflows/definitions';
import type { SigningChain } from './chain-port';
import { failpoint } from '../lib/failpoints';

export interface TransactionActivityDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  keystore: Pick<KeyStore, 'decrypt'>;
  chain: SigningChain;
  audit: AuditSink;
  config: Pick<Config, 'CONFIRMATIONS'>;
  /** Called after each applied projection change (webhook delivery). */
  onStatusChange?: (transactionId: string, version: number) => Promise<void>;
}


/**
 * Returned with every status change the workflow is told about: schedule
 * `notifyWebhooks` for it only if true (the agent has an active webhook now,
 * read in the projection's own statement). A webhook registered while a
 * transaction is in flight is told from the next status change on.
 */
export interface WebhookHint {
  notifyWebhooks: boolean;
}

interface SignableWallet {
  id: string;
  user_id: string;
  address: string;
  frozen_at: Date | null;
  key_ciphertext: string;
}

/** Non-retryable: the database says this request may not be signed. Nothing was signed. */
const refuse = (reason: SigningRefusal) => ApplicationFailure.nonRetryable(reason, FAILURE_TYPES.signingRefused);

export function createTransactionActivities(deps: TransactionActivityDeps) {
  const { db } = deps;
  const now = () => deps.clock.now();

  async function project(
    transactionId: string,
    status: TransactionStatus,
    version: number,
    fields: Parameters<typeof projectStatus>[1]['fields'] = {},
  ): Promise<ProjectionResult> {
    // The status, its event row and its audit entry commit together (the audit append goes last:
    // it holds the chain lock until the commit).
    const result = await db.transaction(async (trx) => {
      const projected = await projectStatus(trx, { transactionId, status, version, at: now(), fields });
      if (projected.applied) {
        await deps.audit.append({ action: `transaction.${status}`, actorType: 'system', subjectType: 'transaction', subjectId: transactionId, data: { version } }, trx);
      }
      return projected;
    });
    if (result.applied) await deps.onStatusChange?.(transactionId, version);
    return result;
  }

  /**
   * Records why an attempt failed, without secrets or node URLs, so the status can say why it
   * waits. A signing attempt also projects `signing` (the workflow's status since it began), so
   * the owner does not read `approved` while the worker waits for the key store.
   */
  async function noteAttemptFailure(transactionId: string, what: string, err: unknown, signingVersion?: number) {
    const reason = `${what}: ${safeReason(err)}`;
    deps.logger.warn({ transactionId, reason, attempt: Context.current().info.attempt }, 'activity attempt failed');
    const at = now();
    const projected =
      signingVersion === undefined
        ? { applied: false }
        : await projectStatus(db, { transactionId, status: 'signing', version: signingVersion, at, fields: { last_error: reason } }).catch(() => ({ applied: false }));
    if (!projected.applied) await updateDetails(db, transactionId, { last_error: reason }, at).catch(() => undefined);
  }

  /**
   * Everything the signing gate checks, on a row read in the current
   * transaction: approved, inside the execution window, wallet not frozen, an
   * approval by the wallet's current owner over the digest recomputed from
   * the frozen request.
   */
  async function assertSignable(trx: Db | Parameters<Parameters<Db['transaction']>[0]>[0], tx: TransactionRow) {
    // `signing` is projected only by a failed attempt of this activity that had passed this check.
    if (tx.status !== 'approved' && tx.status !== 'signing') throw refuse('not_approved');
    if (!tx.execution_expires_at || tx.execution_expires_at.getTime() <= now().getTime()) throw refuse('execution_window_passed');
    const wallet = (await trx('wallets').where({ id: tx.wallet_id }).first('id', 'user_id', 'address', 'frozen_at', 'key_ciphertext')) as
      | SignableWallet
      | undefined;
    if (!wallet) throw refuse('unknown_transaction');
    if (wallet.frozen_at) throw refuse('wallet_frozen');
    const recomputed = approvalDigest({
      transaction_id: tx.id,
      chain_id: tx.chain_id,
      from: tx.from_address,
      to: tx.to_address,
      value: tx.value,
      data: tx.data,
      gas_limit: tx.gas_limit,
      max_fee_per_gas: tx.max_fee_per_gas,
      max_priority_fee_per_gas: tx.max_priority_fee_per_gas,
      approval_expires_at: tx.approval_expires_at,
    });
    const approval = await trx('approvals')
      .join('mfa_uses', 'mfa_uses.id', 'approvals.mfa_use_id')
      .where({ 'approvals.transaction_id': tx.id, 'approvals.digest': recomputed, 'approvals.user_id': wallet.user_id })
      .whereRaw('mfa_uses.user_id = approvals.user_id')
      .first('approvals.id');
    if (recomputed !== tx.digest || !approval || wallet.address !== tx.from_address) throw refuse('approval_mismatch');
    // Executing is the preparing agent's decision (recorded by the API), or was made at prepare time (frozen).
    if (!tx.auto_execute) {
      const command = await trx('transaction_commands').where({ transaction_id: tx.id, kind: 'execute', actor_type: 'agent', actor_id: tx.agent_id }).first('id');
      if (!command) throw refuse('execute_not_requested');
    }
    return wallet;
  }

  /**
   * A message named a record that is not there: someone sent it to Temporal
   * directly. Refused by the workflow; audited and raised to the operator.
   */
  async function alertRefusedMessage(transactionId: string, update: string, recordId: string | null) {
    deps.logger.warn({ transactionId, update, recordId }, 'ALERT: a workflow message named no valid record and was refused (sent to Temporal directly?)');
    await deps.audit.append({ action: 'transaction.message_refused', actorType: 'system', subjectType: 'transaction', subjectId: transactionId, data: { update, record_id: recordId } });
  }

  return {
    /** Does the approval the API wrote exist, for this request and its digest? */
    async verifyApproval({ transactionId, approvalId }: { transactionId: string; approvalId: string }): Promise<boolean> {
      const row = isUuid(approvalId)
        ? await db('approvals')
            .join('transactions', 'transactions.id', 'approvals.transaction_id')
            .where({ 'approvals.id': approvalId, 'approvals.transaction_id': transactionId })
            .whereRaw('approvals.digest = transactions.digest')
            .whereRaw('approvals.user_id = transactions.user_id')
            .first('approvals.id')
        : undefined;
      if (!row) await alertRefusedMessage(transactionId, 'approve', isUuid(approvalId) ? approvalId : null);
      return row !== undefined;
    },

    /**
     * Does the command a message names exist, for this request, recorded by
     * someone allowed to give it? Execute: the preparing agent. Reject: the
     * owner. Cancel: the owner or the preparing agent.
     */
    async verifyCommand({ transactionId, kind, commandId }: { transactionId: string; kind: CommandKind; commandId: string | null }): Promise<boolean> {
      const row = commandId !== null && isUuid(commandId)
        ? await db('transaction_commands as c')
            .join('transactions as t', 't.id', 'c.transaction_id')
            .where({ 'c.id': commandId, 'c.transaction_id': transactionId, 'c.kind': kind })
            .andWhere((q) => {
              if (kind !== 'execute') q.orWhere((o) => o.where('c.actor_type', 'user').whereRaw('c.actor_id = t.user_id'));
              if (kind !== 'reject') q.orWhere((o) => o.where('c.actor_type', 'agent').whereRaw('c.actor_id = t.agent_id'));
            })
            .first('c.id')
        : undefined;
      if (!row) await alertRefusedMessage(transactionId, kind, commandId !== null && isUuid(commandId) ? commandId : null);
      return row !== undefined;
    },

    async projectStatus({
      transactionId,
      status,
      version,
      executionDeadlineMs,
    }: {
      transactionId: string;
      status: TransactionStatus;
      version: number;
      executionDeadlineMs?: number;
    }): Promise<WebhookHint> {
      const result = await project(transactionId, status, version, projectionFields({ status, executionDeadlineMs }, now()));
      return { notifyWebhooks: result.agentHasWebhook };
    },

    async recordFailure({ transactionId, version, reason }: { transactionId: string; version: number; reason: string }) {
      await project(transactionId, 'failed', version, { error: reason.slice(0, 200), decided_at: now() });
    },

    /**
     * Signs once. If bytes are already stored for this request, returns them:
     * a request is never re-signed, so never with another nonce.
     */
    async signTransaction({ transactionId, version }: { transactionId: string; version: number }): Promise<{ txHash: string } & WebhookHint> {
      const stored = await db('signed_transactions').where({ transaction_id: transactionId }).first('tx_hash');
      if (stored) {
        const projected = await project(transactionId, 'signing', version);
        return { txHash: (stored as { tx_hash: string }).tx_hash, notifyWebhooks: projected.agentHasWebhook };
      }
      const tx = await findTransaction(db, transactionId);
      if (!tx) throw refuse('unknown_transaction');
      const wallet = await assertSignable(db, tx);

      let key: Buffer | undefined;
      try {
        // Network and Vault first, outside the row lock.
        const [fees, pendingNonce] = await Promise.all([
          deps.chain.feeSuggestion(tx.chain_id),
          nonceRowExists(tx).then((exists) => (exists ? undefined : deps.chain.pendingNonce(tx.chain_id, tx.from_address))),
        ]);
        key = await deps.keystore.decrypt('wallet', wallet.id, wallet.key_ciphertext);
        const signingKey = key;

        const { txHash, notifyWebhooks } = await db.transaction(async (trx) => {
          const locked = (await trx('transactions').where({ id: transactionId }).forUpdate().first()) as TransactionRow;
          const again = await trx('signed_transactions').where({ transaction_id: transactionId }).first('tx_hash');
          // A concurrent attempt signed first (rare): no projection read here, so let the activity decide.
          if (again) return { txHash: (again as { tx_hash: string }).tx_hash, notifyWebhooks: true };
          await assertSignable(trx, locked);

          const nonce = await allocateNonce(trx, locked, pendingNonce);
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
          await trx('signed_transactions').insert({
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
          return { txHash: signed.hash, notifyWebhooks: projected.agentHasWebhook };
        });
        failpoint('after_sign');
        await deps.onStatusChange?.(transactionId, version);
        return { txHash, notifyWebhooks };
      } catch (err) {
        if (err instanceof ApplicationFailure) throw err;
        await noteAttemptFailure(transactionId, 'signing is waiting', err, version);
        // No `cause`: Temporal records the whole chain in history, and a key-store or driver error must not land there.
        // eslint-disable-next-line preserve-caught-error
        throw new Error(`signing attempt failed: ${safeReason(err)}`);
      } finally {
        key?.fill(0);
      }
    },

    /** Sends the stored bytes; "already known" is success. */
    async broadcastTransaction({ transactionId, version }: { transactionId: string; version: number }): Promise<WebhookHint> {
      const signed = await loadSigned(transactionId);
      try {
        await deps.chain.broadcast(signed.chain_id, signed.raw, signed.tx_hash);
      } catch (err) {
        if (err instanceof NonceConsumedError) {
          // Someone else used this key: stop signing for the wallet and alert.
          await db('wallets').where({ id: signed.wallet_id }).whereNull('frozen_at').update({ frozen_at: now(), frozen_reason: 'nonce used by an unknown transaction' });
          deps.logger.error({ transactionId, walletId: signed.wallet_id, nonce: signed.nonce }, 'ALERT: wallet nonce consumed by an unknown transaction; wallet frozen');
          await deps.audit.append({ action: 'wallet.frozen', actorType: 'system', subjectType: 'wallet', subjectId: signed.wallet_id, data: { reason: 'nonce_consumed', transaction_id: transactionId, nonce: signed.nonce } });
          throw ApplicationFailure.nonRetryable('nonce_consumed', 'NonceConsumed');
        }
        if (err instanceof BroadcastRejectedError) {
          // No node accepted these bytes: give the nonce back so no gap remains.
          await db('nonce_assignments').where({ transaction_id: transactionId }).whereNull('voided_at').update({ voided_at: now() });
          throw ApplicationFailure.nonRetryable(`broadcast_rejected: ${err.kind}`, 'BroadcastRejected');
        }
        await noteAttemptFailure(transactionId, 'broadcast is retrying', err);
        // eslint-disable-next-line preserve-caught-error -- see above: keep history free of raw errors
        throw new Error(`broadcast attempt failed: ${safeReason(err)}`);
      }
      failpoint('after_broadcast');
      const projected = await project(transactionId, 'broadcast', version, { executed_at: now(), last_error: null });
      return { notifyWebhooks: projected.agentHasWebhook };
    },

    /** Waits for the receipt and confirmations; rebroadcasts the same bytes if dropped. */
    async confirmTransaction({ transactionId }: { transactionId: string }): Promise<{ status: 'confirmed' | 'failed'; reason?: string }> {
      const signed = await loadSigned(transactionId);
      const context = Context.current();
      const result = await deps.chain.waitForConfirmation(signed.chain_id, {
        hash: signed.tx_hash,
        raw: signed.raw,
        confirmations: deps.config.CONFIRMATIONS,
        heartbeat: (details) => context.heartbeat(details),
        signal: context.cancellationSignal,
      });
      await updateDetails(db, transactionId, { block_number: result.blockNumber.toString(), confirmations: result.confirmations, last_error: null }, now());
      if (result.status === 'reverted') return { status: 'failed', reason: `reverted${result.revertReason ? `: ${result.revertReason}` : ''}`.slice(0, 200) };
      return { status: 'confirmed' };
    },
  };

  async function nonceRowExists(tx: TransactionRow) {
    return (await db('wallet_nonces').where({ wallet_id: tx.wallet_id, chain_id: tx.chain_id }).first('next_nonce')) !== undefined;
  }

  /**
   * Under the (wallet, chain) row lock: reuse the lowest voided nonce that no
   * live request holds (it never reached a node), else take the next one.
   * PostgreSQL is authoritative after the first use; the chain's pending count
   * only seeds it.
   */
  async function allocateNonce(trx: Parameters<Parameters<Db['transaction']>[0]>[0], tx: TransactionRow, pendingNonce: number | undefined): Promise<number> {
    if (pendingNonce !== undefined) {
      await trx('wallet_nonces').insert({ wallet_id: tx.wallet_id, chain_id: tx.chain_id, next_nonce: pendingNonce }).onConflict(['wallet_id', 'chain_id']).ignore();
    }
    const counter = (await trx('wallet_nonces').where({ wallet_id: tx.wallet_id, chain_id: tx.chain_id }).forUpdate().first('next_nonce')) as { next_nonce: string } | undefined;
    if (!counter) throw new Error('nonce counter missing');
    const voided = (await trx('nonce_assignments as v')
      .where({ 'v.wallet_id': tx.wallet_id, 'v.chain_id': tx.chain_id })
      .whereNotNull('v.voided_at')
      .whereNotExists((q) =>
        q.select(trx.raw('1')).from('nonce_assignments as l').whereRaw('l.wallet_id = v.wallet_id AND l.chain_id = v.chain_id AND l.nonce = v.nonce AND l.voided_at IS NULL'),
      )
      .min('v.nonce as nonce')
      .first()) as { nonce: string | null } | undefined;
    let nonce: number;
    if (voided?.nonce != null) {
      nonce = Number(voided.nonce);
    } else {
      nonce = Number(counter.next_nonce);
      await trx('wallet_nonces').where({ wallet_id: tx.wallet_id, chain_id: tx.chain_id }).update({ next_nonce: nonce + 1 });
    }
    await trx('nonce_assignments').insert({ wallet_id: tx.wallet_id, chain_id: tx.chain_id, nonce, transaction_id: tx.id, created_at: now() });
    return nonce;
  }

  async function loadSigned(transactionId: string) {
    const signed = (await db('signed_transactions').where({ transaction_id: transactionId }).first()) as
      | { wallet_id: string; chain_id: number; nonce: string; raw: string; tx_hash: string }
      | undefined;
    if (!signed) throw ApplicationFailure.nonRetryable('no signed transaction stored', 'NotSigned');
    return signed;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Message arguments come from anyone who reaches Temporal: only a well-formed id is looked up. */
const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);

/** A short, secret-free description of why an attempt failed. */
function safeReason(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && /^[A-Za-z_]{2,40}$/.test(code)) return code.toLowerCase();
  const name = err instanceof Error ? err.name : 'error';
  return /^[A-Za-z]{2,40}$/.test(name) ? name : 'error';
}
