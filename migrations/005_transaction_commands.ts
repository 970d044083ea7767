import type { Knex } from 'knex';

const FROZEN = [
  'id', 'seq', 'wallet_id', 'user_id', 'agent_id', 'origin', 'kind', 'chain_id', 'from_address',
  'to_address', 'value', 'data', 'gas_limit', 'max_fee_per_gas', 'max_priority_fee_per_gas',
  'approval_expires_at', 'digest', 'idempotency_key', 'request_hash',
];

function freezeFunction(columns: readonly string[]) {
  const row = (prefix: string) => columns.map((c) => `${prefix}.${c}`).join(', ');
  return `
    CREATE OR REPLACE FUNCTION countersign_freeze_transaction_request() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF (${row('NEW')}) IS DISTINCT FROM (${row('OLD')}) THEN
        RAISE EXCEPTION 'the request of transaction % is frozen', OLD.id USING ERRCODE = 'insufficient_privilege';
      END IF;
      RETURN NEW;
    END $$`;
}

/**
 * Execute, reject and cancel are recorded in PostgreSQL by the API (after it has
 * authenticated and authorised the caller), as approvals are, and the workflow
 * and the signing gate verify the record: a Temporal message alone — sent from
 * the UI or CLI by anyone who reaches Temporal — names a command that does not
 * exist and is refused. `auto_execute` joins the frozen request columns: it
 * stands in for an execute command, so nobody may switch it on later.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('transaction_commands', (t) => {
    t.uuid('id').primary();
    t.uuid('transaction_id').notNullable().references('transactions.id').onDelete('RESTRICT');
    t.text('kind').notNullable();
    t.text('actor_type').notNullable();
    t.uuid('actor_id').notNullable();
    t.text('reason');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // One of each per request: a retried call resends the same command (and Temporal deduplicates by its id).
    t.unique(['transaction_id', 'kind']);
  });
  await knex.raw(`ALTER TABLE transaction_commands ADD CONSTRAINT transaction_commands_kind CHECK (kind IN ('execute', 'reject', 'cancel'))`);
  await knex.raw(`ALTER TABLE transaction_commands ADD CONSTRAINT transaction_commands_actor CHECK (actor_type IN ('user', 'agent'))`);
  await knex.raw(`CREATE TRIGGER transaction_commands_append_only BEFORE UPDATE OR DELETE ON transaction_commands
    FOR EACH ROW EXECUTE FUNCTION countersign_refuse_change()`);
  await knex.raw(freezeFunction([...FROZEN, 'auto_execute']));
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(freezeFunction(FROZEN));
  await knex.schema.dropTable('transaction_commands');
}
