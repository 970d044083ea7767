import type { Knex } from 'knex';

/**
 * The data keys of the Temporal payload codec (domains/history). Each is stored
 * wrapped by the key store (purpose `history`, context `history:<id>`), never in
 * clear. The newest row encrypts; every row stays, so histories written under an
 * older key still decode. The id travels in each encrypted payload's metadata.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('history_keys', (t) => {
    t.uuid('id').primary();
    t.text('key_ciphertext').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['created_at']);
  });
  await knex.raw(`ALTER TABLE history_keys ADD CONSTRAINT history_keys_ciphertext_format CHECK (key_ciphertext ~ '^(vault|local):v[1-9][0-9]{0,8}:')`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('history_keys');
}
