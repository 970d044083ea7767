/**
 * Reads of `transaction_events`. Each read is one indexed range scan:
 * (user_id, id) or (agent_id, id) — see migrations/004_transactions.ts, which
 * also explains why ids become visible in increasing order.
 */
import type { DbOrTx } from '../../lib/db';
import type { EventRow, EventScope } from './types';

const COLUMNS = ['id', 'transaction_id', 'user_id', 'agent_id', 'status', 'version', 'created_at'] as const;

/** Events visible to `scope` with an id above `after`, ascending. */
export async function listEventsAfter(db: DbOrTx, scope: EventScope, after: bigint, limit: number): Promise<EventRow[]> {
  const query = db('transaction_events').select(...COLUMNS).where('id', '>', after.toString()).orderBy('id', 'asc').limit(limit);
  if (scope.type === 'user') query.where('user_id', scope.userId);
  else query.where('agent_id', scope.agentId);
  return (await query) as EventRow[];
}

/** The newest event id overall (0 when there is none): a stream without a cursor starts after it. */
export async function latestEventId(db: DbOrTx): Promise<bigint> {
  const row = (await db('transaction_events').max('id as id').first()) as { id: string | null } | undefined;
  return row?.id ? BigInt(row.id) : 0n;
}

/** The event of one status change, as the workflow's version numbers it. */
export async function findEvent(db: DbOrTx, transactionId: string, version: number): Promise<EventRow | undefined> {
  return (await db('transaction_events').select(...COLUMNS).where({ transaction_id: transactionId, version }).first()) as EventRow | undefined;
}
