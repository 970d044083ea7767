import type { Knex } from 'knex';

/** Shared helpers and the first end-to-end slice (a ping recorded by a workflow). */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('CREATE EXTENSION IF NOT EXISTS pgcrypto');
  // Refuses any change to a row: used for append-only tables.
  await knex.raw(`
    CREATE OR REPLACE FUNCTION countersign_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '% on % is not allowed: the table is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
    END $$`);
  await knex.schema.createTable('pings', (t) => {
    t.uuid('id').primary();
    t.text('message').notNullable();
    t.text('recorded_by').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('pings');
  await knex.raw('DROP FUNCTION IF EXISTS countersign_refuse_change()');
}
