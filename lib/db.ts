/**
 * PostgreSQL through knex. Migrations run on API and worker start-up; they are
 * serialised with a PostgreSQL advisory lock on a dedicated connection rather
 * than knex's own lock table, which throws when two processes start together
 * and stays set after a crash.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';

export type Db = Knex;
export type DbOrTx = Knex | Knex.Transaction;

// Return BIGINT and NUMERIC as strings (never lossy JS numbers); wei amounts live in NUMERIC(78).
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => v);

const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'migrations');
const MIGRATION_LOCK_KEY = 0x636f756e; // 'coun'
const MIGRATION_TABLE = 'knex_migrations';

export interface DbOptions {
  url: string;
  poolMax?: number;
  applicationName?: string;
  /** Per-statement timeout; long locks and runaway queries fail instead of hanging. */
  statementTimeoutMs?: number;
}

export function createDb(options: DbOptions): Db {
  return knexFactory({
    client: 'pg',
    connection: {
      connectionString: options.url,
      application_name: options.applicationName ?? 'countersign',
      statement_timeout: options.statementTimeoutMs ?? 15_000,
      lock_timeout: 5_000,
      idle_in_transaction_session_timeout: 60_000,
    } as Knex.PgConnectionConfig,
    pool: { min: 0, max: options.poolMax ?? 10 },
    migrations: migrationConfig(),
  });
}

function migrationConfig(): Knex.MigratorConfig {
  return {
    directory: MIGRATIONS_DIR,
    tableName: MIGRATION_TABLE,
    loadExtensions: ['.ts'],
    // Our advisory lock replaces knex's lock table (see the comment above).
    disableMigrationsListValidation: false,
  };
}

export class DatabaseAheadError extends Error {
  override name = 'DatabaseAheadError';
}

/** Applies pending migrations, one process at a time; refuses a database that is ahead of this code. */
export async function migrateLatest(db: Db): Promise<string[]> {
  return withMigrationLock(db, async () => {
    await assertNotAhead(db);
    // We hold the advisory lock, so a knex lock row left by a crashed run is stale.
    if (await db.schema.hasTable(`${MIGRATION_TABLE}_lock`)) await db.migrate.forceFreeMigrationsLock(migrationConfig());
    const [, applied] = (await db.migrate.latest({ ...migrationConfig(), disableTransactions: false })) as [number, string[]];
    return applied;
  });
}

export async function migrateRollbackAll(db: Db): Promise<void> {
  await withMigrationLock(db, async () => {
    await db.migrate.rollback(migrationConfig(), true);
  });
}

async function withMigrationLock<T>(db: Db, fn: () => Promise<T>): Promise<T> {
  // A dedicated connection holds the session-level lock for the whole run.
  const client = new pg.Client({ connectionString: connectionString(db) });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      return await fn();
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await client.end();
  }
}

/** The connection string a pool was made with (for a dedicated connection beside it: migrations, LISTEN). */
export function connectionString(db: Db): string {
  const connection = db.client.config.connection as { connectionString: string };
  return connection.connectionString;
}

async function assertNotAhead(db: Db): Promise<void> {
  if (!(await db.schema.hasTable(MIGRATION_TABLE))) return;
  const applied: string[] = (await db(MIGRATION_TABLE).select('name')).map((row: { name: string }) => row.name);
  const known = await listMigrationNames();
  const unknown = applied.filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new DatabaseAheadError(
      `the database has migrations this code does not know (${unknown.join(', ')}); it is ahead of this version of Countersign — deploy the newer code or restore a matching backup`,
    );
  }
}

async function listMigrationNames(): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  return (await readdir(MIGRATIONS_DIR)).filter((file) => /^\d+.*\.ts$/.test(file)).sort();
}

/** True when PostgreSQL answers a trivial query. */
export async function pingDb(db: Db): Promise<void> {
  await db.raw('SELECT 1');
}
