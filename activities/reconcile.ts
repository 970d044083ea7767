/**
 * The reconciler's activity (domains/transactions/reconcile.ts does the work):
 * it starts missing workflows through the worker's own Temporal client, on
 * the task queue it runs on, and heartbeats while it pages through the
 * waiting requests.
 */
import { Context } from '@temporalio/activity';
import type { Config } from '../config/env';
import type { Clock } from '../lib/clock';
import type { Db } from '../lib/db';
import type { Logger } from '../lib/logger';
import { createTransactionWorkflows, startMissingWorkflows, type ReconcileReport } from '../domains/transactions';

export interface ReconcileActivityDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  config: Pick<Config, 'EXECUTION_WINDOW'>;
}

export function createReconcileActivities(deps: ReconcileActivityDeps) {
  return {
    async reconcileTransactions(options: { graceMs?: number } = {}): Promise<ReconcileReport> {
      const context = Context.current();
      const workflows = createTransactionWorkflows({ client: context.client, taskQueue: context.info.taskQueue });
      return startMissingWorkflows({
        db: deps.db,
        workflows,
        now: () => deps.clock.now(),
        logger: deps.logger,
        executionWindowMs: deps.config.EXECUTION_WINDOW * 1000,
        onProgress: (checked) => context.heartbeat(checked),
      }, options);
    },
  };
}
