/** Data access for `audit_events`. Appends only: the table refuses UPDATE, DELETE and TRUNCATE. */
import type { Knex } from 'knex';
import type { Db, DbOrTx } from '../../lib/db';
import type { AuditRow } from './types';

/** pg_advisory_xact_lock key that serialises appends ('audi'). */
export const AUDIT_CHAIN_LOCK = 0x61756469;

/** Held until the surrounding transaction ends, so the next append sees this one committed. */
export async function lockChain(trx: Knex.Transaction): Promise<void> {
  await trx.raw('SELECT pg_advisory_xact_lock(?)', [AUDIT_CHAIN_LOCK]);
}

/**
 * The chain's last HMAC and `count` fresh ids, in one round trip. Call it under the chain
 * lock: the ids then increase in chain order, and the last HMAC cannot move.
 */
export async function chainTail(trx: DbOrTx, count: number): Promise<{ lastHmac: string | undefined; ids: string[] }> {
  const { rows } = await trx.raw(
    `SELECT (SELECT hmac FROM audit_events ORDER BY id DESC LIMIT 1) AS last_hmac,
            ARRAY(SELECT nextval(pg_get_serial_sequence('audit_events', 'id'))::text FROM generate_series(1, ?::int)) AS ids`,
    [count],
  );
  const row = (rows as { last_hmac: string | null; ids: string[] }[])[0]!;
  // nextval over a series hands out increasing values, but order them rather than rely on it.
  const ids = [...row.ids].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : BigInt(a) > BigInt(b) ? 1 : 0));
  return { lastHmac: row.last_hmac ?? undefined, ids };
}

export async function insertEvents(trx: DbOrTx, rows: readonly AuditRow[]): Promise<void> {
  await trx('audit_events').insert(rows.map((row) => ({ ...row, data: JSON.stringify(row.data) })));
}

/** One page of the chain in id order, after `afterId`. */
export async function readChainPage(db: DbOrTx, afterId: string, limit: number): Promise<AuditRow[]> {
  return (await db('audit_events').where('id', '>', afterId).orderBy('id', 'asc').limit(limit)) as AuditRow[];
}

export async function countEvents(db: Db): Promise<number> {
  const row = await db('audit_events').count<{ count: string }[]>('* as count').first();
  return Number(row?.count ?? 0);
}
