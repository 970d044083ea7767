import { proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../activities';

const { reconcileTransactions } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
});

/**
 * One pass of the reconciler (domains/transactions/reconcile.ts): started by
 * the worker's schedule (worker/reconciler.ts), or by an operator. `graceMs`:
 * how old a request must be to count as unstarted (default RECONCILE_GRACE_MS).
 */
export async function reconcileWorkflow(options: { graceMs?: number } = {}): Promise<{ checked: number; started: string[]; resumed: string[] }> {
  return reconcileTransactions(options);
}
