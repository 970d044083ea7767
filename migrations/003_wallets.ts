import type { Knex } from 'knex';

/** Wallets (key ciphertext only), agent grants, per-chain state. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('wallets', (t) => {
    t.uuid('id').primary();
    t.uuid('user_id').notNullable().references('users.id').onDelete('RESTRICT');
    // Lowercase hex; returned EIP-55 checksummed.
    t.text('address').notNullable().unique();
    t.text('label');
    // Key-store ciphertext of the private key (`vault:vN:…` or `local:vN:…`); never the plaintext.
    t.text('key_ciphertext').notNullable();
    // Set when someone else used the key (an unknown tx took our nonce): signing stops.
    t.timestamp('frozen_at', { useTz: true });
    t.text('frozen_reason');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['user_id']);
  });
  await knex.raw(`ALTER TABLE wallets ADD CONSTRAINT wallets_address_format CHECK (address ~ '^0x[0-9a-f]{40}$')`);
  // Only a key-store ciphertext fits: a plaintext key (hex, with or without 0x) can never be stored by mistake.
  await knex.raw(`ALTER TABLE wallets ADD CONSTRAINT wallets_key_ciphertext_format CHECK (key_ciphertext ~ '^(vault|local):v[1-9][0-9]{0,8}:')`);
  // Labels are stored sanitised (domains/wallets: normalizeLabel), at most 100 code points, never empty.
  await knex.raw(`ALTER TABLE wallets ADD CONSTRAINT wallets_label_length CHECK (label IS NULL OR char_length(label) BETWEEN 1 AND 100)`);

  await knex.schema.createTable('agent_wallets', (t) => {
    t.uuid('agent_id').notNullable().references('agents.id').onDelete('CASCADE');
    t.uuid('wallet_id').notNullable().references('wallets.id').onDelete('CASCADE');
    t.timestamp('granted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['agent_id', 'wallet_id']);
  });

  // Genesis hash per chain, to detect a chain reset at start-up.
  await knex.schema.createTable('chains', (t) => {
    t.integer('chain_id').primary();
    t.text('genesis_hash').notNullable();
    t.timestamp('first_seen_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('chains');
  await knex.schema.dropTable('agent_wallets');
  await knex.schema.dropTable('wallets');
}
