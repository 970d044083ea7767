/**
 * The transaction workflow's activities: Temporal adapters over the
 * transactions domain (the signing gate, submission, the projection, the
 * message checks). They receive ids and return ids or small strings — never
 * amounts, ABIs, raw bytes or keys — and trust PostgreSQL, not the message
 * that scheduled them. Here: the activity context (attempts, heartbeats,
 * cancellation), the failpoints of the crash tests, and the mapping of
 * failures, kept free of raw errors because Temporal stores them in history.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Config } from '../config/env';
import type { Clock } from '../lib/clock';
import type { Db } from '../lib/db';
import type { Logger } from '../lib/logger';
import { failpoint } from '../lib/failpoints';
import type { KeyStore } from '../domains/keystore';
import { createPolicyEngine, type OnPolicyRefusal } from '../domains/policies';
import {
  createMessageChecks,
  createProjector,
  createSigning,
  createSubmission,
  FinalFailure,
  projectionFields,
  projectStatus,
  updateDetails,
  type AuditSink,
  type Outcome,
  type SigningChain,
} from '../domains/transactions';
import { FAILURE_TYPES, type CommandKind, type ResumePoint, type TransactionResume, type TransactionStatus } from '../workflows/definitions';

export interface TransactionActivityDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  keystore: Pick<KeyStore, 'decrypt'>;
  chain: SigningChain;
  audit: AuditSink;
  config: Pick<Config, 'CONFIRMATIONS' | 'APPROVAL_TTL_MAX' | 'EXECUTION_WINDOW'>;
  /** Called after each applied projection change (webhook delivery). */
  onStatusChange?: (transactionId: string, version: number) => Promise<void>;
  /** Counts workflow messages refused for naming no valid record (the back door). */
  onMessageRefused?: (update: string) => void;
  /** Told of every policy refusal at signing, once recorded (the owner notification channel plugs in here). */
  onPolicyRefusal?: OnPolicyRefusal;
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

export function createTransactionActivities(deps: TransactionActivityDeps) {
  const { db } = deps;
  const now = () => deps.clock.now();
  const recordStatus = createProjector(deps);
  const policies = createPolicyEngine({
    db,
    clock: deps.clock,
    logger: deps.logger,
    audit: deps.audit,
    requestLifetimeSeconds: deps.config.APPROVAL_TTL_MAX + deps.config.EXECUTION_WINDOW,
    onRefused: deps.onPolicyRefusal,
  });
  const signing = createSigning({ ...deps, policies });
  const submission = createSubmission({ db, clock: deps.clock, chain: deps.chain, signing, confirmations: deps.config.CONFIRMATIONS });
  const messages = createMessageChecks({ db, logger: deps.logger, audit: deps.audit, onRefused: deps.onMessageRefused });

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
   * Final failures become non-retryable; anything else is noted on the request (`note`) and
   * retried, with a message free of raw errors.
   */
  async function adapt<T>(transactionId: string, labels: { note: string; attempt: string }, run: () => Promise<T>, signingVersion?: number): Promise<T> {
    try {
      return await final(run);
    } catch (err) {
      if (err instanceof ApplicationFailure) throw err;
      await noteAttemptFailure(transactionId, labels.note, err, signingVersion);
      // No `cause`: Temporal records the whole chain in history, and a key-store or driver error must not land there.
      // eslint-disable-next-line preserve-caught-error
      throw new Error(`${labels.attempt} attempt failed: ${safeReason(err)}`);
    }
  }

  return {
    /** Does the approval an approve message names exist, for this request, over its digest, by its owner? */
    async verifyApproval({ transactionId, approvalId }: { transactionId: string; approvalId: string }): Promise<boolean> {
      return messages.approval(transactionId, approvalId);
    },

    /** Does the command an execute, reject or cancel message names exist, given by someone allowed to? */
    async verifyCommand({ transactionId, kind, commandId }: { transactionId: string; kind: CommandKind; commandId: string | null }): Promise<boolean> {
      return messages.command(transactionId, kind, commandId);
    },

    /** Does PostgreSQL hold the request at the status and version a resumed run begins at? Then what the run needs (null: refused). */
    async verifyResume({ transactionId, resume }: { transactionId: string; resume: TransactionResume }): Promise<ResumePoint | null> {
      return messages.resume(transactionId, resume);
    },

    async projectStatus({ transactionId, status, version, executionDeadlineMs }: { transactionId: string; status: TransactionStatus; version: number; executionDeadlineMs?: number }): Promise<WebhookHint> {
      const result = await recordStatus(transactionId, status, version, projectionFields({ status, executionDeadlineMs }, now()));
      return { notifyWebhooks: result.agentHasWebhook };
    },

    async recordFailure({ transactionId, version, reason }: { transactionId: string; version: number; reason: string }) {
      await recordStatus(transactionId, 'failed', version, { error: reason.slice(0, 200), decided_at: now() });
    },

    /** Signs once (domains/transactions/signing.ts); a retried attempt returns the bytes already stored. */
    async signTransaction({ transactionId, version }: { transactionId: string; version: number }): Promise<{ txHash: string } & WebhookHint> {
      const signed = await adapt(transactionId, { note: 'signing is waiting', attempt: 'signing' }, () => signing.signOnce(transactionId, version), version);
      if (!signed.signedNow) {
        const projected = await recordStatus(transactionId, 'signing', version);
        return { txHash: signed.txHash, notifyWebhooks: projected.agentHasWebhook };
      }
      failpoint('after_sign');
      await deps.onStatusChange?.(transactionId, version);
      return { txHash: signed.txHash, notifyWebhooks: signed.agentHasWebhook ?? true };
    },

    /** Sends the stored bytes; "already known" is success. */
    async broadcastTransaction({ transactionId, version }: { transactionId: string; version: number }): Promise<WebhookHint> {
      await adapt(transactionId, { note: 'broadcast is retrying', attempt: 'broadcast' }, () => submission.broadcast(transactionId));
      failpoint('after_broadcast');
      const projected = await recordStatus(transactionId, 'broadcast', version, { executed_at: now(), last_error: null });
      return { notifyWebhooks: projected.agentHasWebhook };
    },

    /** Waits for the receipt and confirmations; rebroadcasts the same bytes if dropped. */
    async confirmTransaction({ transactionId }: { transactionId: string }): Promise<Outcome> {
      const context = Context.current();
      return final(() => submission.confirm(transactionId, { heartbeat: (details) => context.heartbeat(details), signal: context.cancellationSignal }));
    },
  };
}

/** Runs `run`, turning a FinalFailure into Temporal's non-retryable failure of its type. */
async function final<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof FinalFailure) throw ApplicationFailure.nonRetryable(err.message, FAILURE_TYPES[err.type]);
    throw err;
  }
}

/** A short, secret-free description of why an attempt failed. */
function safeReason(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && /^[A-Za-z_]{2,40}$/.test(code)) return code.toLowerCase();
  const name = err instanceof Error ? err.name : 'error';
  return /^[A-Za-z]{2,40}$/.test(name) ? name : 'error';
}
