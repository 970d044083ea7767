/**
 * A fresh, migrated database per test file on the run's PostgreSQL, so test
 * files never see each other's rows. Dropped at the end.
 *
 * Three connections, as in production (lib/db-roles.ts): `db` as the schema
 * owner (it migrated the database; tests use it to set up and inspect rows),
 * `api` and `worker` as the API's and the worker's own roles — what the code
 * under test gets.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDb, migrateLatest, type Db } from '../../lib/db';
import { DEFAULT_ROLE_NAMES, type AppRole } from '../../lib/db-roles';

export interface RoleConnection {
  url: string;
  db: Db;
}

export interface TestDatabase {
  /** The owner's URL (migrations, rotation, audit verification). */
  url: string;
  /** The owner: set-up and inspection only — never hand it to code under test. */
  db: Db;
  api: RoleConnection;
  worker: RoleConnection;
  name: string;
  drop(): Promise<void>;
}

export function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this test through \`npm test\` (scripts/test.ts starts the stack)`);
  return value;
}

/** `url` pointed at another database of the same server. */
export function inDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** The URL of `role` (owner, api, worker) on the run's server, in `database`. */
export function roleUrl(role: 'owner' | AppRole, database: string): string {
  const variable = { owner: 'MIGRATION_DATABASE_URL', api: 'API_DATABASE_URL', worker: 'WORKER_DATABASE_URL' }[role];
  return inDatabase(requireEnv(variable), database);
}

/** An empty database owned by the schema owner, made with the superuser (tests only). */
export async function createOwnedDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: requireEnv('POSTGRES_ADMIN_URL') });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} OWNER ${DEFAULT_ROLE_NAMES.owner}`);
  } finally {
    await admin.end();
  }
}

export async function dropDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: requireEnv('POSTGRES_ADMIN_URL') });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

export async function freshDatabase(prefix = 't'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await createOwnedDatabase(name);
  const url = roleUrl('owner', name);
  const db = createDb({ url, poolMax: 5, applicationName: 'countersign-test-owner' });
  await migrateLatest(db, DEFAULT_ROLE_NAMES);
  const connect = (role: AppRole): RoleConnection => {
    const roleDbUrl = roleUrl(role, name);
    return { url: roleDbUrl, db: createDb({ url: roleDbUrl, poolMax: 10, applicationName: `countersign-test-${role}` }) };
  };
  const api = connect('api');
  const worker = connect('worker');
  return {
    url,
    db,
    api,
    worker,
    name,
    async drop() {
      await Promise.all([db.destroy(), api.db.destroy(), worker.db.destroy()]);
      await dropDatabase(name);
    },
  };
}
