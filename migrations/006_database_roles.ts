import type { Knex } from 'knex';
import { roleNamesOf } from '../lib/db';
import { applyGrants, revokeGrants } from '../lib/db-roles';

/**
 * The API and the worker get least-privilege roles of their own; this migration's role (the
 * schema owner) keeps every table, function and trigger. The grants themselves are the map in
 * lib/db-roles.ts, applied here and again after every migration run (lib/db.ts migrateLatest).
 *
 * One structural change: the trigger that gives transaction_events their commit-ordered ids
 * (004) updates the row it fires for. It now runs as the owner (SECURITY DEFINER, with a fixed
 * search_path), so the apps need only INSERT on transaction_events, never UPDATE.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER FUNCTION countersign_order_transaction_event() SECURITY DEFINER SET search_path = public, pg_temp');
  await applyGrants(knex, roleNamesOf(knex));
}

export async function down(knex: Knex): Promise<void> {
  await revokeGrants(knex, roleNamesOf(knex));
  await knex.raw('ALTER FUNCTION countersign_order_transaction_event() SECURITY INVOKER RESET search_path');
  for (const fn of ['countersign_refuse_change()', 'countersign_freeze_transaction_request()', 'countersign_order_transaction_event()']) {
    await knex.raw(`GRANT EXECUTE ON FUNCTION ${fn} TO PUBLIC`);
  }
}
