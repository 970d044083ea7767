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
 *
 * Requests past approval and not final (approved, signing, broadcast) without
 * a workflow exist only after PostgreSQL was restored into a Temporal that
 * never ran them (docs/operations.md "Backup and restore"): their workflow is
 * started to resume at the stored status and version (TransactionResume).
 * Signing is once (the stored bytes are returned, never re-signed), a
 * broadcast of the same bytes is "already known", and every gate is checked
 * again at signing — so a resumed request still yields at most one on-chain
 * transaction.
 */
import type { Db } from '../../lib/db';
import type { Logger } from '../../lib/logger';
import { findInFlightRequests, findWaitingRequests, type TransactionRow } from './dal';
import { RESUMABLE_STATUSES, type ResumableStatus } from '../../workflows/definitions';
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
  /** Waiting and in-flight requests looked at. */
  checked: number;
  /** The ids of those whose workflow this run started (resumed ones included). */
  started: string[];
  /** Of `started`, those resumed past approval (after a restore). */
  resumed: string[];
}

type Cursor = { createdAt: Date; id: string };
const isResumable = (status: string): status is ResumableStatus => (RESUMABLE_STATUSES as readonly string[]).includes(status);

/**
 * Starts the workflow of every waiting request old enough to have had one and without one, and
 * resumes that of every in-flight request (approved, signing, broadcast) whose status has not
 * moved within the grace and that has none.
 */
export async function startMissingWorkflows(deps: ReconcileDeps, options: { graceMs?: number } = {}): Promise<ReconcileReport> {
  const now = deps.now();
  const before = new Date(now.getTime() - Math.max(0, options.graceMs ?? RECONCILE_GRACE_MS));
  const report: ReconcileReport = { checked: 0, started: [], resumed: [] };
  await eachPage(deps, report, (after) => findWaitingRequests(deps.db, { now, createdBefore: before, limit: PAGE, ...(after ? { after } : {}) }));
  await eachPage(deps, report, (after) => findInFlightRequests(deps.db, { now, movedBefore: before, limit: PAGE, ...(after ? { after } : {}) }));
  return report;
}

async function eachPage(deps: ReconcileDeps, report: ReconcileReport, read: (after: Cursor | undefined) => Promise<TransactionRow[]>): Promise<void> {
  let after: Cursor | undefined;
  for (;;) {
    const page = await read(after);
    for (const row of page) {
      const resume = isResumable(row.status) ? { status: row.status, version: row.version } : undefined;
      // Nearly every start here finds its workflow running, so the API's webhook hint (a query,
      // context.ts) is not read for it: the rare workflow started here notifies, and the activity decides.
      const { input, attributes } = workflowStartOf(row, { executionWindowMs: deps.executionWindowMs, notifyWebhooks: true, ...(resume ? { resume } : {}) });
      if ((await deps.workflows.start(input, attributes)) === 'started') {
        report.started.push(row.id);
        if (resume) report.resumed.push(row.id);
        deps.logger.warn(
          { transactionId: row.id, createdAt: row.created_at.toISOString(), ...(resume ? { resumedAt: resume.status, version: resume.version } : {}) },
          resume ? 'reconciler resumed a missing transaction workflow' : 'reconciler started a missing transaction workflow',
        );
      }
    }
    report.checked += page.length;
    deps.onProgress?.(report.checked);
    if (page.length < PAGE) return;
    const last = page[page.length - 1]!;
    after = { createdAt: last.created_at, id: last.id };
  }
}
