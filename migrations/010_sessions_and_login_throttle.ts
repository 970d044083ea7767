import type { Knex } from 'knex';

/**
 * Sessions and login throttling (issue 19, §3 and §5).
 *
 * * `user_sessions`: one row per issued access token (its `jti`), written at
 *   login. A token without its row is refused, so the list a user sees is
 *   every token that can still act for them, and "revoke the others" (password
 *   or MFA change) can name each one in `revoked_tokens` — the revocation
 *   mechanism stays the one of 002 (revoked ids + `tokens_valid_after`).
 * * `login_throttles`: failed password checks per (account, source address).
 *   The back-off of one pair never stops another pair, so failures from one
 *   address cannot lock the owner out from another. Replaces the per-account
 *   lock (`users.failed_logins`, `users.locked_until`), which anyone who knew
 *   a username could keep closed forever.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('user_sessions', (t) => {
    t.uuid('jti').primary();
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    t.timestamp('created_at', { useTz: true }).notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('last_seen_at', { useTz: true });
    t.text('ip');
    t.text('user_agent');
    t.index(['user_id', 'expires_at']);
  });
  await knex.raw(`ALTER TABLE user_sessions ADD CONSTRAINT user_sessions_user_agent_length CHECK (char_length(user_agent) <= 256)`);
  await knex.raw(`ALTER TABLE user_sessions ADD CONSTRAINT user_sessions_ip_length CHECK (char_length(ip) <= 64)`);

  await knex.schema.createTable('login_throttles', (t) => {
    t.uuid('user_id').notNullable().references('users.id').onDelete('CASCADE');
    // The client address (IPv6: its /64), as api/http/router.ts's clientIp saw it.
    t.text('source').notNullable();
    t.integer('failures').notNullable();
    t.timestamp('next_attempt_at', { useTz: true });
    t.timestamp('last_failure_at', { useTz: true }).notNullable();
    t.primary(['user_id', 'source']);
    t.index(['user_id', 'last_failure_at']);
  });
  await knex.raw(`ALTER TABLE login_throttles ADD CONSTRAINT login_throttles_failures CHECK (failures >= 0)`);
  await knex.raw(`ALTER TABLE login_throttles ADD CONSTRAINT login_throttles_source_length CHECK (char_length(source) BETWEEN 1 AND 64)`);

  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('failed_logins');
    t.dropColumn('locked_until');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.integer('failed_logins').notNullable().defaultTo(0);
    t.timestamp('locked_until', { useTz: true });
  });
  await knex.schema.dropTable('login_throttles');
  await knex.schema.dropTable('user_sessions');
}
