import type { Knex } from 'knex';

/**
 * What an operator may do to stop money moving (`npm run admin`, docs/operations.md):
 *
 *  - freeze an agent: `agents.frozen_at` — its API key stops working and the
 *    signing gate refuses what it prepared, until an operator unfreezes it
 *    (revoking, the owner's act, is for good; a freeze is an investigation's);
 *  - cancel a request before signing: a `cancel` command whose actor is the
 *    operator. An operator gives no other command — it can stop a request,
 *    never move one forward.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('agents', (t) => {
    t.timestamp('frozen_at', { useTz: true });
    t.text('frozen_reason');
  });
  await knex.raw('ALTER TABLE transaction_commands DROP CONSTRAINT transaction_commands_actor');
  await knex.raw(`ALTER TABLE transaction_commands ADD CONSTRAINT transaction_commands_actor
    CHECK (actor_type IN ('user', 'agent') OR (actor_type = 'operator' AND kind = 'cancel'))`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE transaction_commands DROP CONSTRAINT transaction_commands_actor');
  await knex.raw(`ALTER TABLE transaction_commands ADD CONSTRAINT transaction_commands_actor CHECK (actor_type IN ('user', 'agent'))`);
  await knex.schema.alterTable('agents', (t) => {
    t.dropColumn('frozen_at');
    t.dropColumn('frozen_reason');
  });
}
