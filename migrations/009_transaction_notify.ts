import type { Knex } from 'knex';

/** The channel domains/events/waiters.ts listens on (kept in step by a test). */
const CHANNEL = 'countersign_transaction';

/**
 * Long-polls wake on a NOTIFY: after every committed change of a transaction's
 * version (a status change, whoever wrote it: an API replica or a worker) or of
 * its rejection reason (written just after the rejection), PostgreSQL tells
 * every listening API process the transaction's id. A trigger, so no writer
 * needs code for it and no path can forget it; NOTIFY is delivered only on
 * commit, so a woken reader always finds the change (and the event row the same
 * statement wrote). Notifications of one database transaction are merged.
 *
 * On `transactions` rather than `transaction_events`: the rejection reason is
 * a later statement that writes no event, and a waiter wants it with the
 * decision.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE OR REPLACE FUNCTION countersign_notify_transaction() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('${CHANNEL}', NEW.id::text);
      RETURN NULL;
    END $$`);
  await knex.raw(`CREATE TRIGGER transactions_notify AFTER UPDATE ON transactions FOR EACH ROW
    WHEN (OLD.version IS DISTINCT FROM NEW.version OR OLD.rejection_reason IS DISTINCT FROM NEW.rejection_reason)
    EXECUTE FUNCTION countersign_notify_transaction()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP TRIGGER IF EXISTS transactions_notify ON transactions');
  await knex.raw('DROP FUNCTION IF EXISTS countersign_notify_transaction()');
}
