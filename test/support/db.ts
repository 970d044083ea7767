/**
 * A fresh, migrated database per test file on the run's PostgreSQL, so test
 * files never see each other's rows. Dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDb, migrateLatest, type Db } from '../../lib/db';

export interface TestDatabase {
  url: string;
  db: Db;
  drop(): Promise<void>;
}

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this test through \`npm test\` (scripts/test.ts starts the stack)`);
  return value;
}

export async function freshDatabase(prefix = 't'): Promise<TestDatabase> {
  const base = new URL(requireEnv('DATABASE_URL'));
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base.toString() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base.toString());
  url.pathname = `/${name}`;
  const db = createDb({ url: url.toString(), poolMax: 10, applicationName: 'countersign-test' });
  await migrateLatest(db);
  return {
    url: url.toString(),
    db,
    async drop() {
      await db.destroy();
      const client = new pg.Client({ connectionString: base.toString() });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}
