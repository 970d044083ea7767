/**
 * The migration step of the dev and test launchers: as the schema owner
 * (MIGRATION_DATABASE_URL of the stack), apply pending migrations and the
 * grants of lib/db-roles.ts — what `npm run migrate` and the compose
 * `migrate` service do. The API and the worker only check the result.
 */
import { loadMigrationConfig } from '../../config/env';
import { createDb, migrateLatest, type MigrationResult } from '../../lib/db';

export async function migrateAsOwner(env: Record<string, string | undefined>, applicationName = 'countersign-migrate'): Promise<MigrationResult> {
  const config = loadMigrationConfig(env);
  const db = createDb({ url: config.MIGRATION_DATABASE_URL, applicationName });
  try {
    return await migrateLatest(db, config.roles);
  } finally {
    await db.destroy();
  }
}
