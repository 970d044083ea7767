import type { Knex } from 'knex';

/**
 * The reconciler (domains/transactions/reconcile.ts) also reads the requests
 * past approval and not final (approved, signing, broadcast), oldest first,
 * every half minute, to resume any whose workflow is missing (a restore into a
 * fresh Temporal): a partial index keeps that read to the in-flight rows.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE INDEX transactions_in_flight_by_created ON transactions (created_at, id) WHERE status IN ('approved', 'signing', 'broadcast')`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS transactions_in_flight_by_created');
}
