import type { Knex } from 'knex';

/** Users, TOTP factors and their single-use steps, token revocation, agents, the audit chain. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.uuid('id').primary();
    t.text('username').notNullable();
    t.text('password_hash').notNullable();
    t.integer('failed_logins').notNullable().defaultTo(0);
    t.timestamp('locked_until', { useTz: true });
    // The one TOTP gate: the last accepted time step, moved only forward by compare-and-set.
    t.bigInteger('mfa_last_step');
    // Tokens issued before this instant are refused (logout everywhere, password change).
    t.timestamp('tokens_valid_after', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('CREATE UNIQUE INDEX users_username_lower ON users (lower(username))');
  await knex.raw(`ALTER TABLE users ADD CONSTRAINT users_username_format CHECK (username ~ '^[a-z0-9._-]{3,64}$')`);

  await knex.schema.createTable('mfa_factors', (t) => {
    t.uuid('id').primary();
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('state').notNullable();
    t.text('secret_ciphertext').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('confirmed_at', { useTz: true });
  });
  await knex.raw(`ALTER TABLE mfa_factors ADD CONSTRAINT mfa_factors_state CHECK (state IN ('pending', 'active'))`);
  // At most one active and one pending factor per user.
  await knex.raw('CREATE UNIQUE INDEX mfa_factors_user_state ON mfa_factors (user_id, state)');

  // Every accepted TOTP code: unique per (user, step), so no code is accepted twice.
  await knex.schema.createTable('mfa_uses', (t) => {
    t.uuid('id').primary();
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.bigInteger('step').notNullable();
    t.text('purpose').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['user_id', 'step']);
  });

  // Wrong TOTP codes, one row per request. The failure that reaches MFA_MAX_FAILURES carries
  // the lock's end (`locks_until`): written by its own connection while the caller's
  // transaction (which rolls back) holds the user's row, so it cannot live on `users`.
  await knex.schema.createTable('mfa_failures', (t) => {
    t.bigIncrements('id');
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('purpose').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('locks_until', { useTz: true });
    t.index(['user_id', 'created_at']);
  });

  await knex.schema.createTable('revoked_tokens', (t) => {
    t.uuid('jti').primary();
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('revoked_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  await knex.schema.createTable('agents', (t) => {
    t.uuid('id').primary();
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.text('name').notNullable();
    // Keys are `cs_<key_id>_<secret>`; the id finds the row, the HMAC digest proves the secret.
    t.text('key_id').notNullable().unique();
    t.binary('key_digest').notNullable();
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    t.timestamp('last_used_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['user_id']);
  });
  await knex.raw(`ALTER TABLE agents ADD CONSTRAINT agents_key_id_format CHECK (key_id ~ '^[0-9a-f]{24}$')`);
  await knex.raw(`ALTER TABLE agents ADD CONSTRAINT agents_key_digest_length CHECK (octet_length(key_digest) = 32)`);

  // Append-only HMAC chain; appends are serialised with an advisory lock.
  await knex.schema.createTable('audit_events', (t) => {
    t.bigIncrements('id');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.text('action').notNullable();
    t.text('actor_type').notNullable();
    t.text('actor_id');
    t.text('subject_type');
    t.text('subject_id');
    t.text('ip');
    t.text('request_id');
    t.jsonb('data').notNullable().defaultTo('{}');
    // UNIQUE: two rows can never claim the same parent, so the chain cannot fork.
    t.text('prev_hmac').notNullable().unique();
    t.text('hmac').notNullable().unique();
    t.index(['subject_type', 'subject_id']);
    t.index(['action']);
  });
  await knex.raw(`ALTER TABLE audit_events ADD CONSTRAINT audit_events_hmac_format CHECK (hmac ~ '^[0-9a-f]{64}$' AND prev_hmac ~ '^[0-9a-f]{64}$')`);
  await knex.raw(`ALTER TABLE audit_events ADD CONSTRAINT audit_events_actor_type CHECK (actor_type IN ('user', 'agent', 'system', 'anonymous', 'operator'))`);
  await knex.raw(`CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION countersign_refuse_change()`);
  await knex.raw(`CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION countersign_refuse_change()`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('audit_events');
  await knex.schema.dropTable('agents');
  await knex.schema.dropTable('revoked_tokens');
  await knex.schema.dropTable('mfa_failures');
  await knex.schema.dropTable('mfa_uses');
  await knex.schema.dropTable('mfa_factors');
  await knex.schema.dropTable('users');
}
