import type { Knex } from 'knex';

/**
 * The API replicas' shared rate-limit counts (api/http/rate-limit.ts): one
 * row per hashed key and one-minute window, added to by every replica once a
 * second and swept once its minute is over. Counters, not records:
 * unlogged, so they cost no WAL and a crash simply empties them (the limits
 * start over, as a restart of a single API would).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`CREATE UNLOGGED TABLE rate_limit_windows (
    key text NOT NULL,
    window_start timestamptz NOT NULL,
    count integer NOT NULL,
    PRIMARY KEY (key, window_start)
  )`);
  await knex.raw('CREATE INDEX rate_limit_windows_by_start ON rate_limit_windows (window_start)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('rate_limit_windows');
}
