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

export async function lastHmac(trx: DbOrTx): Promise<string | undefined> {
  const row = await trx('audit_events').select('hmac').orderBy('id', 'desc').first();
  return row?.hmac as string | undefined;
}

/** Ids are taken under the chain lock, so they increase in chain order. */
export async function nextEventId(trx: DbOrTx): Promise<string> {
  const { rows } = await trx.raw(`SELECT nextval(pg_get_serial_sequence('audit_events', 'id'))::text AS id`);
  return (rows as { id: string }[])[0]!.id;
}

export async function insertEvent(trx: DbOrTx, row: AuditRow): Promise<void> {
  await trx('audit_events').insert({ ...row, data: JSON.stringify(row.data) });
}

/** One page of the chain in id order, after `afterId`. */
export async function readChainPage(db: DbOrTx, afterId: string, limit: number): Promise<AuditRow[]> {
  return (await db('audit_events').where('id', '>', afterId).orderBy('id', 'asc').limit(limit)) as AuditRow[];
}

export async function countEvents(db: Db): Promise<number> {
  const row = await db('audit_events').count<{ count: string }[]>('* as count').first();
  return Number(row?.count ?? 0);
}
