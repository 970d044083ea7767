/**
 * The transaction metrics (lib/metrics.ts) from projection writes: every status
 * change passes through `projectStatus` (API and worker alike), so counting
 * there covers them all. Counted once the write commits — a write inside a
 * transaction that rolls back (a crash, a failed signature) is not counted.
 */
import type { Knex } from 'knex';
import type { DbOrTx } from '../../lib/db';
import { approveToBroadcast, timeToApproval, transactionTransitions } from '../../lib/metrics';

export interface Transition {
  from: string;
  to: string;
  at: Date;
  createdAt?: Date | null;
  approvedAt?: Date | null;
}

export function recordTransition(db: DbOrTx, transition: Transition): void {
  afterCommit(db, () => {
    transactionTransitions.inc({ from: transition.from, to: transition.to });
    if (transition.to === 'approved' && transition.createdAt) timeToApproval.observe(seconds(transition.createdAt, transition.at));
    if (transition.to === 'broadcast' && transition.approvedAt) approveToBroadcast.observe(seconds(transition.approvedAt, transition.at));
  });
}

function afterCommit(db: DbOrTx, fn: () => void): void {
  if (!(db as Knex.Transaction).isTransaction) return fn();
  (db as Knex.Transaction).executionPromise.then(fn, () => undefined);
}

const seconds = (from: Date, to: Date) => Math.max(0, (to.getTime() - from.getTime()) / 1000);
