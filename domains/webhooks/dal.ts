/** Data access for webhooks and their deliveries; every function takes an optional transaction. */
import type { Knex } from 'knex';
import type { DbOrTx } from '../../lib/db';
import type { DeliveryRow, DeliveryState, WebhookRow } from './types';

export async function insertWebhook(db: DbOrTx, row: Omit<WebhookRow, 'deleted_at'>): Promise<void> {
  await db('webhooks').insert(row);
}

export async function countActiveWebhooks(db: DbOrTx, agentId: string): Promise<number> {
  const row = (await db('webhooks').where({ agent_id: agentId }).whereNull('deleted_at').count<{ count: string }[]>('* as count').first()) as
    | { count: string | number }
    | undefined;
  return Number(row?.count ?? 0);
}

/** Serialises webhook creation per agent (the limit is counted under this lock). */
export async function lockAgent(db: DbOrTx, agentId: string): Promise<boolean> {
  return (await db('agents').where({ id: agentId }).forUpdate().first('id')) !== undefined;
}

/** The webhooks the `notifyWebhooks` activity delivers to (if their agent is active): not deleted. */
export async function listActiveWebhooks(db: DbOrTx, agentId: string): Promise<WebhookRow[]> {
  return (await db('webhooks').where({ agent_id: agentId }).whereNull('deleted_at').orderBy([{ column: 'created_at' }, { column: 'id' }])) as WebhookRow[];
}

/** Soft delete: past deliveries stay recorded. Only the owning agent's, only once. */
export async function deleteWebhook(db: DbOrTx, agentId: string, webhookId: string, at: Date): Promise<boolean> {
  const count = await db('webhooks').where({ id: webhookId, agent_id: agentId }).whereNull('deleted_at').update({ deleted_at: at });
  return count > 0;
}

/** An agent may receive webhooks while its key is valid: not revoked, not expired (columns of `agents` under `alias`). */
const agentKeyValid = (alias: string, at: Date) => (q: Knex.QueryBuilder) =>
  q.whereNull(`${alias}.revoked_at`).andWhere((w) => w.whereNull(`${alias}.expires_at`).orWhere(`${alias}.expires_at`, '>', at));

export async function isAgentActive(db: DbOrTx, agentId: string, at: Date): Promise<boolean> {
  const row = await db('agents').where({ id: agentId }).andWhere(agentKeyValid('agents', at)).first('id');
  return row !== undefined;
}

/**
 * A subquery that has a row when the agent (an id, or a column reference such
 * as `transactions.agent_id`) would be delivered anything by `notifyWebhooks`:
 * the agent is active and has at least one webhook that is not deleted — the
 * same two checks as `isAgentActive` and `listActiveWebhooks`. A null agent
 * (a user-initiated transaction) has none. Use it as `exists (?)`.
 */
export function activeWebhookOf(db: DbOrTx, agent: string | Knex.Ref<string, object>, at: Date): Knex.QueryBuilder {
  return db('webhooks as w')
    .join('agents as a', 'a.id', 'w.agent_id')
    .where('w.agent_id', agent)
    .whereNull('w.deleted_at')
    .andWhere(agentKeyValid('a', at))
    .select(db.raw('1'));
}

/** One round trip: does `notifyWebhooks` have anyone to deliver this agent's events to? */
export async function agentHasActiveWebhook(db: DbOrTx, agentId: string, at: Date): Promise<boolean> {
  const row = (await db.select(db.raw('exists (?) as found', [activeWebhookOf(db, agentId, at)])).first()) as { found: boolean } | undefined;
  return row?.found === true;
}

/** One delivery per (webhook, event); a repeat is a no-op, so activity retries are idempotent. */
export async function ensureDeliveries(db: DbOrTx, rows: Array<Pick<DeliveryRow, 'id' | 'webhook_id' | 'event_id' | 'created_at'>>): Promise<void> {
  if (rows.length === 0) return;
  await db('webhook_deliveries')
    .insert(rows.map((r) => ({ ...r, state: 'pending', attempts: 0 })))
    .onConflict(['webhook_id', 'event_id'])
    .ignore();
}

export interface PendingDelivery {
  id: string;
  webhook_id: string;
  attempts: number;
  url: string;
  secret_ciphertext: string;
  webhook_deleted_at: Date | null;
}

export async function pendingDeliveries(db: DbOrTx, eventId: string): Promise<PendingDelivery[]> {
  return (await db('webhook_deliveries as d')
    .join('webhooks as w', 'w.id', 'd.webhook_id')
    .where({ 'd.event_id': eventId, 'd.state': 'pending' })
    .orderBy('d.created_at')
    .select('d.id', 'd.webhook_id', 'd.attempts', 'w.url', 'w.secret_ciphertext', 'w.deleted_at as webhook_deleted_at')) as PendingDelivery[];
}

export async function deliveriesForEvent(db: DbOrTx, eventId: string): Promise<DeliveryRow[]> {
  return (await db('webhook_deliveries').where({ event_id: eventId }).orderBy('created_at')) as DeliveryRow[];
}

/**
 * Records one attempt: attempts + 1, and the state it leads to — delivered on
 * success, failed once `maxAttempts` is reached, else still pending. Only a
 * pending row moves, so a late duplicate attempt cannot undo an outcome.
 */
export async function recordAttempt(
  db: DbOrTx,
  deliveryId: string,
  outcome: { delivered: boolean; responseStatus: number | null; error: string | null },
  maxAttempts: number,
  at: Date,
): Promise<DeliveryState | undefined> {
  const rows = (await db('webhook_deliveries')
    .where({ id: deliveryId, state: 'pending' })
    .update({
      attempts: db.raw('attempts + 1'),
      state: outcome.delivered ? 'delivered' : db.raw(`CASE WHEN attempts + 1 >= ? THEN 'failed' ELSE 'pending' END`, [maxAttempts]),
      response_status: outcome.responseStatus,
      last_error: outcome.error,
      last_attempt_at: at,
      delivered_at: outcome.delivered ? at : null,
    })
    .returning('state')) as { state: DeliveryState }[];
  return rows[0]?.state;
}

/** Ends a pending delivery without an attempt (its webhook was deleted, its agent revoked, its secret unreadable). */
export async function abandonDelivery(db: DbOrTx, deliveryId: string, reason: string, at: Date): Promise<void> {
  await db('webhook_deliveries').where({ id: deliveryId, state: 'pending' }).update({ state: 'failed', last_error: reason, last_attempt_at: at });
}

export async function abandonPendingForEvent(db: DbOrTx, eventId: string, reason: string, at: Date): Promise<void> {
  await db('webhook_deliveries').where({ event_id: eventId, state: 'pending' }).update({ state: 'failed', last_error: reason, last_attempt_at: at });
}

/**
 * An operator's re-send (`npm run admin -- resend`): the transaction's failed
 * deliveries go back to pending with a fresh attempt budget. Returns the
 * versions of the events they belong to, oldest first; the delivery id stays,
 * so a receiver that did get one still deduplicates it.
 */
export async function requeueFailedDeliveries(db: DbOrTx, transactionId: string): Promise<number[]> {
  const result = (await db.raw(
    `UPDATE webhook_deliveries d SET state = 'pending', attempts = 0, last_error = NULL
       FROM transaction_events e
      WHERE e.id = d.event_id AND e.transaction_id = ? AND d.state = 'failed'
      RETURNING e.version`,
    [transactionId],
  )) as { rows: { version: number }[] };
  const rows = result.rows;
  return [...new Set(rows.map((row) => row.version))].sort((a, b) => a - b);
}
