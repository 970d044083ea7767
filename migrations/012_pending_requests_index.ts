import type { Knex } from 'knex';

/**
 * The reconciler (domains/transactions/reconcile.ts) reads the requests still
 * waiting for approval, oldest first, every half minute: a partial index keeps
 * that read to the waiting rows, however long the history grows.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE INDEX transactions_pending_by_created ON transactions (created_at, id) WHERE status = 'pending_approval'`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS transactions_pending_by_created');
}
