/**
 * The audit log: an append-only HMAC chain in `audit_events`.
 *
 * Invariants:
 * * The chain never forks: every append takes one transaction-scoped advisory
 *   lock before reading the last HMAC, and `prev_hmac` is UNIQUE, so even a
 *   caller whose snapshot predates the lock cannot link two rows to one parent.
 * * Rows are never changed: triggers refuse UPDATE, DELETE and TRUNCATE
 *   (migrations/002_accounts.ts); anything done behind the triggers' back
 *   breaks an HMAC that only the holder of AUDIT_HMAC_KEY can recompute.
 * * Callers appending inside their own transaction (`trx`) hold the chain lock
 *   until they commit, so they append last, after their slow work.
 */
import type { Knex } from 'knex';
import type { Db, DbOrTx } from '../../lib/db';
import { systemClock, type Clock } from '../../lib/clock';
import { GENESIS_HMAC, chainHmac, hmacEquals, toJsonValue } from './chain';
import { chainTail, insertEvents, lockChain, readChainPage } from './dal';
import type { AuditEvent, AuditLog, AuditRow, ChainVerification } from './types';

export interface AuditLogDeps {
  db: Db;
  /** AUDIT_HMAC_KEY */
  hmacKey: string;
  clock?: Clock;
}

const isTransaction = (db: DbOrTx): db is Knex.Transaction => 'isTransaction' in db && (db as Knex.Transaction).isTransaction === true;

export function createAuditLog(deps: AuditLogDeps): AuditLog {
  const key = Buffer.from(deps.hmacKey, 'utf8');
  const clock = deps.clock ?? systemClock;

  /** Lock, read the tail and take ids (one round trip), insert (one more): 3 statements for any number of events. */
  async function appendIn(trx: Knex.Transaction, events: readonly AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    const data = events.map((event) => toJsonValue(event.data ?? {}));
    await lockChain(trx);
    const tail = await chainTail(trx, events.length);
    let prev = tail.lastHmac ?? GENESIS_HMAC;
    const createdAt = clock.now();
    const rows: AuditRow[] = events.map((event, i) => {
      const fields = {
        id: tail.ids[i]!,
        created_at: createdAt,
        action: event.action,
        actor_type: event.actorType,
        actor_id: event.actorId ?? null,
        subject_type: event.subjectType ?? null,
        subject_id: event.subjectId ?? null,
        ip: event.ip ?? null,
        request_id: event.requestId ?? null,
        data: data[i]!,
      };
      const row = { ...fields, prev_hmac: prev, hmac: chainHmac(key, prev, fields) };
      prev = row.hmac;
      return row;
    });
    await insertEvents(trx, rows);
  }

  async function appendAll(events: readonly AuditEvent[], trx?: DbOrTx): Promise<void> {
    if (trx && isTransaction(trx)) return appendIn(trx, events);
    await (trx ?? deps.db).transaction((own) => appendIn(own, events));
  }

  return {
    append: (event, trx) => appendAll([event], trx),
    appendMany: appendAll,
  };
}

const PAGE = 1000;

/**
 * Recomputes the whole chain in id order. Names the first row whose link or
 * HMAC does not hold. (Rows cut from the *end* leave a valid shorter chain;
 * compare `count` with an externally kept value to notice that.)
 */
export async function verifyChain(db: Db, hmacKey: string): Promise<ChainVerification> {
  const key = Buffer.from(hmacKey, 'utf8');
  // One snapshot for the whole walk, so concurrent appends cannot confuse it.
  return db.transaction(
    async (trx) => {
      let prev = GENESIS_HMAC;
      let afterId = '0';
      let count = 0;
      for (;;) {
        const rows: AuditRow[] = await readChainPage(trx, afterId, PAGE);
        for (const row of rows) {
          if (!hmacEquals(row.prev_hmac, prev)) return { ok: false, brokenId: String(row.id), reason: 'prev_mismatch', count };
          const { prev_hmac: _prev, hmac, ...fields } = row;
          void _prev;
          if (!hmacEquals(hmac, chainHmac(key, prev, fields))) return { ok: false, brokenId: String(row.id), reason: 'hmac_mismatch', count };
          prev = hmac;
          count += 1;
        }
        if (rows.length < PAGE) return { ok: true, count };
        afterId = String(rows[rows.length - 1]!.id);
      }
    },
    { isolationLevel: 'repeatable read', readOnly: true },
  );
}
