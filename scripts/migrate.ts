/**
 * `npm run migrate` — applies pending migrations as the schema owner
 * (MIGRATION_DATABASE_URL), then grants the API's and the worker's roles
 * exactly what lib/db-roles.ts lists. The API and the worker never migrate:
 * they check the schema version at start-up and refuse to run behind it.
 * `npm run migrate -- --rollback-all` undoes every migration.
 *
 * The compose `migrate` service runs this; `npm run dev` and `npm test` do the
 * same in-process.
 */
import 'dotenv/config';
import { ConfigError, loadMigrationConfig } from '../config/env';
import { createDb, migrateLatest, migrateRollbackAll } from '../lib/db';
import { unmappedTableHint } from '../lib/db-roles';

let config: ReturnType<typeof loadMigrationConfig>;
try {
  config = loadMigrationConfig();
} catch (err) {
  process.stderr.write(`migrate: ${err instanceof ConfigError ? err.message : String(err)}\n`);
  process.exit(1);
}
const db = createDb({ url: config.MIGRATION_DATABASE_URL, applicationName: 'countersign-migrate' });
try {
  if (process.argv.includes('--rollback-all')) {
    await migrateRollbackAll(db, config.roles);
    process.stdout.write('migrate: rolled back every migration\n');
  } else {
    const { applied, unmapped } = await migrateLatest(db, config.roles);
    process.stdout.write(applied.length ? `migrate: applied ${applied.join(', ')}\n` : 'migrate: already up to date\n');
    process.stdout.write(`migrate: granted ${config.roles.api} (API) and ${config.roles.worker} (worker) what lib/db-roles.ts lists\n`);
    for (const table of unmapped) process.stderr.write(`migrate: WARNING ${unmappedTableHint(table)}\n`);
  }
} catch (err) {
  process.stderr.write(`migrate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
} finally {
  await db.destroy();
}
