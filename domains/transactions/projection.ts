/**
 * The PostgreSQL projection of a workflow's state: which columns a state
 * sets, and the write of a status change with its event row and audit entry.
 */
import type { Clock } from '../../lib/clock';
import type { Db } from '../../lib/db';
import type { AuditLog } from '../audit';
import type { TransactionState, TransactionStatus } from '../../workflows/definitions';
import { projectStatus, type ProjectionResult, type ProjectionUpdate } from './dal';

/** Which projection columns a workflow state sets, beside status and version. */
export function projectionFields(state: Pick<TransactionState, 'status' | 'executionDeadlineMs'>, at: Date): ProjectionUpdate['fields'] {
  switch (state.status) {
    case 'approved':
      return { approved_at: at, ...(state.executionDeadlineMs ? { execution_expires_at: new Date(state.executionDeadlineMs) } : {}) };
    case 'rejected':
    case 'cancelled':
    case 'expired':
      return { decided_at: at };
    default:
      return {};
  }
}

export interface ProjectorDeps {
  db: Db;
  clock: Clock;
  audit: Pick<AuditLog, 'append'>;
  /** Called after each applied change (webhook delivery). */
  onStatusChange?: ((transactionId: string, version: number) => Promise<void>) | undefined;
}

/** Writes status changes the workflow reports: never backwards, each with its event row and `transaction.<status>` audit entry. */
export function createProjector(deps: ProjectorDeps) {
  return async function recordStatus(transactionId: string, status: TransactionStatus, version: number, fields: ProjectionUpdate['fields'] = {}): Promise<ProjectionResult> {
    const at = deps.clock.now();
    // The status, its event row and its audit entry commit together (the audit append goes last:
    // it holds the chain lock until the commit).
    const result = await deps.db.transaction(async (trx) => {
      const projected = await projectStatus(trx, { transactionId, status, version, at, fields });
      if (projected.applied) {
        await deps.audit.append({ action: `transaction.${status}`, actorType: 'system', subjectType: 'transaction', subjectId: transactionId, data: { version } }, trx);
      }
      return projected;
    });
    if (result.applied) await deps.onStatusChange?.(transactionId, version);
    return result;
  };
}
