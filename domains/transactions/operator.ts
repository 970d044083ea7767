/**
 * What an operator may do to a request (`npm run admin`, docs/operations.md):
 * stop it. An operator's cancel is a command like the owner's — recorded in
 * PostgreSQL first, named by the Update, verified by the workflow — and, like
 * the owner's, only until signing starts. No operator command moves a request
 * forward: approving stays the owner's, behind their TOTP.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from '../../lib/db';
import { notFound, unavailable } from '../../lib/errors';
import type { AuditLog } from '../audit';
import { cancelUpdate, type TransactionState } from '../../workflows/definitions';
import { findTransaction, projectStatus, recordCommand } from './dal';
import { assertCancellable } from './decide';
import { projectionFields } from './projection';
import { WorkflowGoneError, type TransactionWorkflows } from './workflow-client';

/** `transaction_commands.actor_id` of an operator's command (who it was is in the reason and the audit log). */
export const OPERATOR_ACTOR_ID = '00000000-0000-0000-0000-000000000000';
export const OPERATOR_REASON_MAX = 500;

export interface OperatorDeps {
  db: Db;
  workflows: Pick<TransactionWorkflows, 'update'>;
  audit: Pick<AuditLog, 'append'>;
  now: () => Date;
}

/** Cancels a request that has not begun signing; the reason and the operator's name go to the audit log. */
export async function cancelAsOperator(deps: OperatorDeps, transactionId: string, by: { operator: string; reason: string }): Promise<TransactionState> {
  const row = await findTransaction(deps.db, transactionId);
  if (!row) throw notFound('transaction');
  assertCancellable(row, deps.now());
  const reason = `${by.operator}: ${by.reason}`.slice(0, OPERATOR_REASON_MAX);
  const commandId = await deps.db.transaction(async (trx) => {
    const recorded = await recordCommand(trx, { id: randomUUID(), transaction_id: row.id, kind: 'cancel', actor_type: 'operator', actor_id: OPERATOR_ACTOR_ID, reason, created_at: deps.now() });
    if (recorded.created) {
      await deps.audit.append(
        { action: 'transaction.cancelled_by_operator', actorType: 'operator', subjectType: 'transaction', subjectId: row.id, data: { operator: by.operator, reason: by.reason.slice(0, OPERATOR_REASON_MAX) } },
        trx,
      );
    }
    return recorded.id;
  });
  let state: TransactionState;
  try {
    state = await deps.workflows.update(row.id, cancelUpdate, { commandId }, commandId);
  } catch (err) {
    // The command is recorded either way; a workflow started later (the reconciler) still needs the Update.
    if (err instanceof WorkflowGoneError) throw unavailable('the request has no running workflow: re-drive it (admin redrive), then cancel again');
    throw err;
  }
  await projectStatus(deps.db, { transactionId: row.id, status: state.status, version: state.version, at: deps.now(), fields: projectionFields(state, deps.now()) });
  return state;
}
