import type { Knex } from 'knex';

/** pg_advisory_xact_lock key that orders transaction_events ids by commit ('evnt'). */
const EVENT_ORDER_LOCK = 0x65766e74;

const STATUSES = ['pending_approval', 'approved', 'signing', 'broadcast', 'confirmed', 'failed', 'rejected', 'expired', 'cancelled'];

/**
 * The transaction projection, approvals, nonce allocation and the append-only
 * record of signed bytes. The request columns are frozen at prepare time: the
 * sign activity recomputes the approved digest from them.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('transactions', (t) => {
    t.uuid('id').primary();
    // List position (newest first) behind the opaque cursor.
    t.specificType('seq', 'bigserial').notNullable().unique();
    t.uuid('wallet_id').notNullable().references('wallets.id').onDelete('RESTRICT');
    t.uuid('user_id').notNullable().references('users.id').onDelete('RESTRICT');
    t.uuid('agent_id').references('agents.id').onDelete('RESTRICT');
    t.text('origin').notNullable();
    t.text('kind').notNullable();
    t.integer('chain_id').notNullable();
    // --- the frozen request (what the approver approves) ---
    t.text('from_address').notNullable();
    t.text('to_address').notNullable();
    t.specificType('value', 'numeric(78,0)').notNullable();
    t.text('data').notNullable();
    t.specificType('gas_limit', 'numeric(78,0)').notNullable();
    t.specificType('max_fee_per_gas', 'numeric(78,0)').notNullable();
    t.specificType('max_priority_fee_per_gas', 'numeric(78,0)').notNullable();
    t.timestamp('approval_expires_at', { useTz: true }).notNullable();
    t.text('digest').notNullable();
    // --- what the human is shown ---
    t.text('recipient');
    t.text('token_address');
    t.specificType('amount', 'numeric(78,0)');
    t.text('memo');
    t.jsonb('summary').notNullable();
    t.boolean('auto_execute').notNullable().defaultTo(false);
    t.text('idempotency_key');
    t.text('request_hash');
    // --- the projection, written by the workflow's activities ---
    t.text('status').notNullable();
    t.integer('version').notNullable().defaultTo(0);
    t.timestamp('execution_expires_at', { useTz: true });
    t.timestamp('approved_at', { useTz: true });
    t.timestamp('executed_at', { useTz: true });
    t.timestamp('decided_at', { useTz: true });
    t.text('rejection_reason');
    t.bigInteger('nonce');
    t.text('tx_hash');
    t.bigInteger('block_number');
    t.integer('confirmations').notNullable().defaultTo(0);
    t.text('error');
    t.text('last_error');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['agent_id', 'idempotency_key']);
    t.index(['user_id', 'seq']);
    t.index(['agent_id', 'seq']);
    t.index(['wallet_id', 'status']);
  });
  await knex.raw(`ALTER TABLE transactions ADD CONSTRAINT transactions_status CHECK (status IN (${STATUSES.map((s) => `'${s}'`).join(', ')}))`);
  await knex.raw(`ALTER TABLE transactions ADD CONSTRAINT transactions_kind CHECK (kind IN ('native', 'erc20', 'contract_call'))`);
  await knex.raw(`ALTER TABLE transactions ADD CONSTRAINT transactions_origin CHECK (origin IN ('agent', 'user'))`);
  await knex.raw(`ALTER TABLE transactions ADD CONSTRAINT transactions_agent_origin CHECK ((origin = 'agent') = (agent_id IS NOT NULL))`);
  // The request is frozen: the approved digest is recomputed from these columns before signing.
  await knex.raw(`
    CREATE OR REPLACE FUNCTION countersign_freeze_transaction_request() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF (NEW.id, NEW.seq, NEW.wallet_id, NEW.user_id, NEW.agent_id, NEW.origin, NEW.kind, NEW.chain_id, NEW.from_address,
          NEW.to_address, NEW.value, NEW.data, NEW.gas_limit, NEW.max_fee_per_gas, NEW.max_priority_fee_per_gas,
          NEW.approval_expires_at, NEW.digest, NEW.idempotency_key, NEW.request_hash)
         IS DISTINCT FROM
         (OLD.id, OLD.seq, OLD.wallet_id, OLD.user_id, OLD.agent_id, OLD.origin, OLD.kind, OLD.chain_id, OLD.from_address,
          OLD.to_address, OLD.value, OLD.data, OLD.gas_limit, OLD.max_fee_per_gas, OLD.max_priority_fee_per_gas,
          OLD.approval_expires_at, OLD.digest, OLD.idempotency_key, OLD.request_hash) THEN
        RAISE EXCEPTION 'the request of transaction % is frozen', OLD.id USING ERRCODE = 'insufficient_privilege';
      END IF;
      RETURN NEW;
    END $$`);
  await knex.raw(`CREATE TRIGGER transactions_frozen_request BEFORE UPDATE ON transactions
    FOR EACH ROW EXECUTE FUNCTION countersign_freeze_transaction_request()`);
  await knex.raw(`CREATE TRIGGER transactions_no_delete BEFORE DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION countersign_refuse_change()`);

  // One approval per transaction, pointing at the single-use TOTP step that authorised it.
  await knex.schema.createTable('approvals', (t) => {
    t.uuid('id').primary();
    t.uuid('transaction_id').notNullable().unique().references('transactions.id').onDelete('RESTRICT');
    t.uuid('user_id').notNullable().references('users.id').onDelete('RESTRICT');
    t.uuid('mfa_use_id').notNullable().references('mfa_uses.id').onDelete('RESTRICT');
    t.text('digest').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`CREATE TRIGGER approvals_append_only BEFORE UPDATE OR DELETE ON approvals
    FOR EACH ROW EXECUTE FUNCTION countersign_refuse_change()`);

  // PostgreSQL is authoritative for nonces after the first use of a (wallet, chain).
  await knex.schema.createTable('wallet_nonces', (t) => {
    t.uuid('wallet_id').notNullable().references('wallets.id').onDelete('RESTRICT');
    t.integer('chain_id').notNullable();
    t.bigInteger('next_nonce').notNullable();
    t.primary(['wallet_id', 'chain_id']);
  });
  // A nonce is assigned to one live request at a time; a voided one (never reached a node) is reused.
  await knex.schema.createTable('nonce_assignments', (t) => {
    t.bigIncrements('id');
    t.uuid('wallet_id').notNullable().references('wallets.id').onDelete('RESTRICT');
    t.integer('chain_id').notNullable();
    t.bigInteger('nonce').notNullable();
    t.uuid('transaction_id').notNullable().unique().references('transactions.id').onDelete('RESTRICT');
    t.timestamp('voided_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('CREATE UNIQUE INDEX nonce_assignments_live ON nonce_assignments (wallet_id, chain_id, nonce) WHERE voided_at IS NULL');

  // The signed bytes, append-only, first writer wins (one per request).
  await knex.schema.createTable('signed_transactions', (t) => {
    t.uuid('transaction_id').primary().references('transactions.id').onDelete('RESTRICT');
    t.uuid('wallet_id').notNullable().references('wallets.id').onDelete('RESTRICT');
    t.integer('chain_id').notNullable();
    t.bigInteger('nonce').notNullable();
    t.text('raw').notNullable();
    t.text('tx_hash').notNullable().unique();
    t.specificType('max_fee_per_gas', 'numeric(78,0)').notNullable();
    t.specificType('max_priority_fee_per_gas', 'numeric(78,0)').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`CREATE TRIGGER signed_transactions_append_only BEFORE UPDATE OR DELETE ON signed_transactions
    FOR EACH ROW EXECUTE FUNCTION countersign_refuse_change()`);

  // Every status change, in order: feeds SSE (`id` is this sequence) and webhooks.
  await knex.schema.createTable('transaction_events', (t) => {
    t.bigIncrements('id');
    t.uuid('transaction_id').notNullable().references('transactions.id').onDelete('RESTRICT');
    t.uuid('user_id').notNullable();
    t.uuid('agent_id');
    t.text('status').notNullable();
    t.integer('version').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['transaction_id', 'version']);
    t.index(['user_id', 'id']);
    t.index(['agent_id', 'id']);
  });
  // SSE resumes with `id > Last-Event-ID`, which loses an event if a smaller id
  // commits after a larger one has been read (a sequence hands out ids in call
  // order, not commit order). So the final id is drawn at commit time, under a
  // transaction-scoped advisory lock held until the commit is visible: ids
  // become visible in increasing order, and a reader that has seen id n will
  // never later find an id below n. The lock is held only from the deferred
  // trigger to the end of the commit. An event's id is final only once its
  // transaction has committed.
  await knex.raw(`
    CREATE OR REPLACE FUNCTION countersign_order_transaction_event() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_advisory_xact_lock(${EVENT_ORDER_LOCK});
      UPDATE transaction_events SET id = nextval(pg_get_serial_sequence('transaction_events', 'id')) WHERE id = NEW.id;
      RETURN NULL;
    END $$`);
  await knex.raw(`CREATE CONSTRAINT TRIGGER transaction_events_commit_order AFTER INSERT ON transaction_events
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION countersign_order_transaction_event()`);

  await knex.schema.createTable('webhooks', (t) => {
    t.uuid('id').primary();
    t.uuid('agent_id').notNullable().references('agents.id').onDelete('CASCADE');
    t.text('url').notNullable();
    t.text('secret_ciphertext').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('deleted_at', { useTz: true });
    t.index(['agent_id']);
  });
  await knex.schema.createTable('webhook_deliveries', (t) => {
    t.uuid('id').primary();
    t.uuid('webhook_id').notNullable().references('webhooks.id').onDelete('CASCADE');
    t.bigInteger('event_id').notNullable().references('transaction_events.id').onDelete('CASCADE');
    t.text('state').notNullable().defaultTo('pending');
    t.integer('attempts').notNullable().defaultTo(0);
    t.integer('response_status');
    t.text('last_error');
    t.timestamp('last_attempt_at', { useTz: true });
    t.timestamp('delivered_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['webhook_id', 'event_id']);
  });
  await knex.raw(`ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_state CHECK (state IN ('pending', 'delivered', 'failed'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('webhook_deliveries');
  await knex.schema.dropTable('webhooks');
  await knex.schema.dropTable('transaction_events');
  await knex.schema.dropTable('signed_transactions');
  await knex.schema.dropTable('nonce_assignments');
  await knex.schema.dropTable('wallet_nonces');
  await knex.schema.dropTable('approvals');
  await knex.schema.dropTable('transactions');
  await knex.raw('DROP FUNCTION IF EXISTS countersign_freeze_transaction_request()');
  await knex.raw('DROP FUNCTION IF EXISTS countersign_order_transaction_event()');
}
