/**
 * The reconciler: starts the workflow of a request that PostgreSQL holds but
 * Temporal never heard of. The API commits a request, then starts its
 * workflow; if it dies in between, the request waits for an approval that
 * cannot be given — the workflow is what an approval is sent to. Run by a
 * Temporal schedule (worker/reconciler.ts) every RECONCILE_EVERY_SECONDS.
 *
 * Safe to run at any time, on any number of workers: a workflow id is its
 * request's, and a start never reuses an id that ran before (REJECT_DUPLICATE),
 * so a running workflow is left alone and a finished, cancelled or terminated
 * one is not run again. A started workflow grants nothing: signing still
 * needs an approval the owner recorded over the digest (signing.ts).
 */
import type { Db } from '../../lib/db';
import type { Logger } from '../../lib/logger';
import { findWaitingRequests } from './dal';
import { workflowStartOf, type TransactionWorkflows } from './workflow-client';

/** How often the schedule runs the reconciler. */
export const RECONCILE_EVERY_SECONDS = 30;
/** A request younger than this is still being started by the API that took it. */
export const RECONCILE_GRACE_MS = 15_000;
const PAGE = 200;

export interface ReconcileDeps {
  db: Db;
  workflows: Pick<TransactionWorkflows, 'start'>;
  now: () => Date;
  logger: Logger;
  executionWindowMs: number;
  /** Called after each page, so an activity can heartbeat. */
  onProgress?: (checked: number) => void;
}

export interface ReconcileReport {
  /** Waiting requests looked at. */
  checked: number;
  /** The ids of those whose workflow this run started. */
  started: string[];
}

/** Starts the workflow of every waiting request old enough to have had one and without one. */
export async function startMissingWorkflows(deps: ReconcileDeps, options: { graceMs?: number } = {}): Promise<ReconcileReport> {
  const now = deps.now();
  const createdBefore = new Date(now.getTime() - Math.max(0, options.graceMs ?? RECONCILE_GRACE_MS));
  const report: ReconcileReport = { checked: 0, started: [] };
  let after: { createdAt: Date; id: string } | undefined;
  for (;;) {
    const page = await findWaitingRequests(deps.db, { now, createdBefore, limit: PAGE, ...(after ? { after } : {}) });
    for (const row of page) {
      // Nearly every start here finds its workflow running, so the API's webhook hint (a query,
      // context.ts) is not read for it: the rare workflow started here notifies, and the activity decides.
      const { input, attributes } = workflowStartOf(row, { executionWindowMs: deps.executionWindowMs, notifyWebhooks: true });
      if ((await deps.workflows.start(input, attributes)) === 'started') {
        report.started.push(row.id);
        deps.logger.warn({ transactionId: row.id, createdAt: row.created_at.toISOString() }, 'reconciler started a missing transaction workflow');
      }
    }
    report.checked += page.length;
    deps.onProgress?.(report.checked);
    if (page.length < PAGE) return report;
    const last = page[page.length - 1]!;
    after = { createdAt: last.created_at, id: last.id };
  }
}
