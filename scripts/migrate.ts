/**
 * `npm run migrate` — applies pending migrations (the API and worker also do
 * this at start-up); `npm run migrate -- --rollback-all` undoes them.
 */
import 'dotenv/config';
import { createDb, migrateLatest, migrateRollbackAll } from '../lib/db';

const url = process.env.DATABASE_URL;
if (!url) {
  process.stderr.write('migrate: DATABASE_URL is required\n');
  process.exit(1);
}
const db = createDb({ url, applicationName: 'countersign-migrate' });
try {
  if (process.argv.includes('--rollback-all')) {
    await migrateRollbackAll(db);
    process.stdout.write('migrate: rolled back every migration\n');
  } else {
    const applied = await migrateLatest(db);
    process.stdout.write(applied.length ? `migrate: applied ${applied.join(', ')}\n` : 'migrate: already up to date\n');
  }
} catch (err) {
  process.stderr.write(`migrate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
} finally {
  await db.destroy();
}
