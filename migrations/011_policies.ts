import type { Knex } from 'knex';

/**
 * Owner-set policies (issue 14): rules per wallet that can only refuse, what
 * each agent request counts toward them, the refusals, and an address book
 * per user.
 *
 *  - wallet_policies: one row per wallet, the current rules (jsonb) and their
 *    version. The row is also the lock that serialises, per wallet, the policy
 *    check and the insert of a prepare, the check inside a signing
 *    transaction, and a policy change — so concurrent requests can never
 *    exceed a rolling limit or a request count together.
 *  - policy_spend: per agent request and asset, the amount that leaves the
 *    wallet (decoded from the frozen bytes at prepare), append-only.
 *  - policy_refusals: every refusal, at prepare or at signing, append-only.
 *  - address_book: a label per (user, address).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('wallet_policies', (t) => {
    t.uuid('wallet_id').primary().references('wallets.id').onDelete('RESTRICT');
    t.integer('version').notNullable().defaultTo(0);
    t.jsonb('rules').notNullable().defaultTo('[]');
    t.uuid('updated_by').references('users.id').onDelete('RESTRICT');
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`ALTER TABLE wallet_policies ADD CONSTRAINT wallet_policies_rules_array CHECK (jsonb_typeof(rules) = 'array')`);
  await knex.raw(`ALTER TABLE wallet_policies ADD CONSTRAINT wallet_policies_version CHECK (version >= 0)`);
  // Every existing wallet gets its (empty) row; new wallets get theirs on first use.
  await knex.raw(`INSERT INTO wallet_policies (wallet_id) SELECT id FROM wallets ON CONFLICT DO NOTHING`);

  await knex.schema.createTable('policy_spend', (t) => {
    t.uuid('transaction_id').notNullable().references('transactions.id').onDelete('RESTRICT');
    t.uuid('wallet_id').notNullable().references('wallets.id').onDelete('RESTRICT');
    t.uuid('agent_id').references('agents.id').onDelete('RESTRICT');
    // 'native', or the ERC-20 contract, lowercase.
    t.text('asset').notNullable();
    t.specificType('amount', 'numeric(78,0)').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.primary(['transaction_id', 'asset']);
    t.index(['wallet_id', 'created_at']);
  });
  await knex.raw(`ALTER TABLE policy_spend ADD CONSTRAINT policy_spend_asset CHECK (asset = 'native' OR asset ~ '^0x[0-9a-f]{40}$')`);
  await knex.raw(`ALTER TABLE policy_spend ADD CONSTRAINT policy_spend_amount CHECK (amount > 0)`);
  await knex.raw(`CREATE TRIGGER policy_spend_append_only BEFORE UPDATE OR DELETE ON policy_spend
    FOR EACH ROW EXECUTE FUNCTION countersign_refuse_change()`);
  // Requests prepared before this migration: their native value and plain ERC-20 transfers count
  // (calls into contracts were not decoded then; they are not counted).
  await knex.raw(`INSERT INTO policy_spend (transaction_id, wallet_id, agent_id, asset, amount, created_at)
    SELECT id, wallet_id, agent_id, 'native', value, created_at FROM transactions WHERE origin = 'agent' AND value > 0`);
  await knex.raw(`INSERT INTO policy_spend (transaction_id, wallet_id, agent_id, asset, amount, created_at)
    SELECT id, wallet_id, agent_id, token_address, amount, created_at FROM transactions
    WHERE origin = 'agent' AND kind = 'erc20' AND token_address IS NOT NULL AND amount > 0
    ON CONFLICT DO NOTHING`);

  await knex.schema.createTable('policy_refusals', (t) => {
    t.bigIncrements('id');
    t.uuid('wallet_id').notNullable().references('wallets.id').onDelete('RESTRICT');
    t.uuid('user_id').notNullable().references('users.id').onDelete('RESTRICT');
    t.uuid('agent_id').references('agents.id').onDelete('RESTRICT');
    t.text('stage').notNullable();
    t.uuid('transaction_id').references('transactions.id').onDelete('RESTRICT');
    t.integer('policy_version').notNullable();
    t.jsonb('violations').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.index(['wallet_id', 'created_at']);
  });
  await knex.raw(`ALTER TABLE policy_refusals ADD CONSTRAINT policy_refusals_stage CHECK (stage IN ('prepare', 'signing'))`);
  await knex.raw(`CREATE TRIGGER policy_refusals_append_only BEFORE UPDATE OR DELETE ON policy_refusals
    FOR EACH ROW EXECUTE FUNCTION countersign_refuse_change()`);

  await knex.schema.createTable('address_book', (t) => {
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('address').notNullable();
    t.text('label').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable();
    t.primary(['user_id', 'address']);
  });
  await knex.raw(`ALTER TABLE address_book ADD CONSTRAINT address_book_address_format CHECK (address ~ '^0x[0-9a-f]{40}$')`);
  // The full pattern is checked in the API (domains/policies/labels.ts); the database keeps the length and ASCII-only.
  await knex.raw(`ALTER TABLE address_book ADD CONSTRAINT address_book_label CHECK (char_length(label) BETWEEN 1 AND 64 AND label ~ '^[ -~]+$')`);

  // max_requests counts an agent's requests on a wallet in a window.
  await knex.raw('CREATE INDEX transactions_agent_wallet_created ON transactions (agent_id, wallet_id, created_at)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP INDEX IF EXISTS transactions_agent_wallet_created');
  await knex.schema.dropTable('address_book');
  await knex.schema.dropTable('policy_refusals');
  await knex.schema.dropTable('policy_spend');
  await knex.schema.dropTable('wallet_policies');
}
