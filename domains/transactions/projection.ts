/** Which projection columns a workflow state sets, beside status and version. */
import type { TransactionState } from '../../workflows/definitions';
import type { ProjectionUpdate } from './dal';

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
