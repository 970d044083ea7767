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
import type { CommandKind } from '../../workflows/definitions';
import { findTransaction, findValidApproval, findValidCommand } from './dal';
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
  };
}
