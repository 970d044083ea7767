/**
 * The workflow's checks of the messages it receives. Every approve, execute,
 * reject and cancel names a record the API wrote in PostgreSQL after it had
 * authenticated and authorised the caller; a message naming no valid record
 * was sent to Temporal directly (UI, CLI, a stolen client certificate). It is
 * refused, audited as `transaction.message_refused` and raised to the
 * operator (a warn-level ALERT log line).
 */
import type { Db } from '../../lib/db';
import type { Logger } from '../../lib/logger';
import { isUuid } from '../../lib/schemas';
import type { AuditLog } from '../audit';
import type { CommandKind, ResumePoint, TransactionResume } from '../../workflows/definitions';
import { findSignedTransaction, findTransaction, findValidApproval, findValidCommand } from './dal';
import { digestOf } from './digest';

export interface MessageCheckDeps {
  db: Db;
  logger: Pick<Logger, 'warn'>;
  audit: Pick<AuditLog, 'append'>;
  /** Counts each refusal (the metrics registry's back-door counter). */
  onRefused?: ((update: string) => void) | undefined;
}

export function createMessageChecks(deps: MessageCheckDeps) {
  async function refused(transactionId: string, update: string, recordId: unknown): Promise<false> {
    // Message arguments come from anyone who reaches Temporal: only a well-formed id is repeated.
    const named = isUuid(recordId) ? recordId : null;
    deps.logger.warn({ transactionId, update, recordId: named }, 'ALERT: a workflow message named no valid record and was refused (sent to Temporal directly?)');
    deps.onRefused?.(update);
    await deps.audit.append({ action: 'transaction.message_refused', actorType: 'system', subjectType: 'transaction', subjectId: transactionId, data: { update, record_id: named } });
    return false;
  }

  return {
    /** Is `approvalId` a valid approval of this request (findValidApproval over the recomputed digest)? */
    async approval(transactionId: string, approvalId: unknown): Promise<boolean> {
      if (!isUuid(approvalId)) return refused(transactionId, 'approve', approvalId);
      const tx = await findTransaction(deps.db, transactionId);
      const digest = tx ? digestOf(tx) : undefined;
      const found = tx && digest === tx.digest ? await findValidApproval(deps.db, { transactionId, digest, approvalId }) : undefined;
      return found ? true : refused(transactionId, 'approve', approvalId);
    },

    /** Is `commandId` a command of this kind for this request, given by someone allowed to (findValidCommand)? */
    async command(transactionId: string, kind: CommandKind, commandId: unknown): Promise<boolean> {
      const found = isUuid(commandId) ? await findValidCommand(deps.db, { transactionId, kind, commandId }) : undefined;
      return found ? true : refused(transactionId, kind, commandId);
    },

    /**
     * A workflow started at `resume` (the reconciler, for a request with no workflow): does
     * PostgreSQL hold this request at exactly that status and version? Then what the run needs
     * from it. Anything else was not started by the reconciler — refused like a message naming
     * no record. (Authority stays with the signing gate: this only keeps a crafted start from
     * projecting anything.)
     */
    async resume(transactionId: string, resume: TransactionResume): Promise<ResumePoint | null> {
      const tx = await findTransaction(deps.db, transactionId);
      if (!tx || tx.status !== resume?.status || tx.version !== resume?.version) {
        await refused(transactionId, 'resume', null);
        return null;
      }
      const [execute, signed] = await Promise.all([findValidCommand(deps.db, { transactionId, kind: 'execute' }), findSignedTransaction(deps.db, transactionId)]);
      return { executionDeadlineMs: tx.execution_expires_at?.getTime() ?? null, executeCommandId: execute?.id ?? null, txHash: signed?.tx_hash ?? null };
    },
  };
}
