/**
 * PostgreSQL through knex. Migrations run as the schema owner in a step of
 * their own (`npm run migrate`, the compose `migrate` service, the dev and
 * test launchers), never in the API or the worker: their roles cannot alter
 * the schema (lib/db-roles.ts). The apps only check at start-up that the
 * schema is neither behind nor ahead of their code (`assertSchemaCurrent`).
 * Runs are serialised with a PostgreSQL advisory lock on a dedicated
 * connection rather than knex's own lock table, which throws when two
 * processes start together and stays set after a crash.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { MIGRATIONS_DIR } from './app-paths';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { applyGrants, type DatabaseRoleNames } from './db-roles';

export type Db = Knex;
export type DbOrTx = Knex | Knex.Transaction;

// Return BIGINT and NUMERIC as strings (never lossy JS numbers); wei amounts live in NUMERIC(78).
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => v);
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => v);

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

/**
 * Migrations are the files of migrations/: TypeScript when run from source (tsx), JavaScript
 * in the compiled build (dist/migrations, beside the bundled entry points). Either way a
 * migration is recorded under its source name (`005_transaction_commands.ts`), so a database
 * migrated by one runs with the other.
 */
const MIGRATION_FILE = /^\d+.*\.(ts|js)$/;
const sourceName = (file: string) => file.replace(/\.js$/, '.ts');

const migrationSource: Knex.MigrationSource<string> = {
  async getMigrations() {
    return listMigrationFiles();
  },
  getMigrationName: sourceName,
  async getMigration(file) {
    return (await import(pathToFileURL(path.join(MIGRATIONS_DIR, file)).href)) as Knex.Migration;
  },
};

function migrationConfig(): Knex.MigratorConfig {
  return {
    migrationSource,
    tableName: MIGRATION_TABLE,
    // Our advisory lock replaces knex's lock table (see the comment above).
    disableMigrationsListValidation: false,
  };
}

async function listMigrationFiles(): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  return (await readdir(MIGRATIONS_DIR)).filter((file) => MIGRATION_FILE.test(file) && !file.endsWith('.d.ts')).sort();
}

export class DatabaseAheadError extends Error {
  override name = 'DatabaseAheadError';
}

export class SchemaBehindError extends Error {
  override name = 'SchemaBehindError';
}

/** How migrations find the app role names (migrations/006_database_roles.ts): knex hands `userParams` to each one. */
export const ROLE_NAMES_PARAM = 'countersignRoleNames';

export function roleNamesOf(knex: Knex): DatabaseRoleNames {
  const names = (knex.userParams as Record<string, unknown> | undefined)?.[ROLE_NAMES_PARAM] as DatabaseRoleNames | undefined;
  if (!names) throw new Error('run migrations through lib/db.ts migrateLatest (it tells them the app role names)');
  return names;
}

export interface MigrationResult {
  applied: string[];
  /** Tables no entry of lib/db-roles.ts grants to anyone (a test fails on them). */
  unmapped: string[];
}

/**
 * Applies pending migrations, one process at a time, then the grants of lib/db-roles.ts (every
 * run, so a table added by a later migration is granted once it is listed there). Run as the
 * schema owner. Refuses a database that is ahead of this code.
 */
export async function migrateLatest(db: Db, roles: DatabaseRoleNames): Promise<MigrationResult> {
  return withMigrationLock(db, async () => {
    await assertNotAhead(db);
    // We hold the advisory lock, so a knex lock row left by a crashed run is stale.
    if (await db.schema.hasTable(`${MIGRATION_TABLE}_lock`)) await db.migrate.forceFreeMigrationsLock(migrationConfig());
    const withRoles = db.withUserParams({ [ROLE_NAMES_PARAM]: roles });
    const [, applied] = (await withRoles.migrate.latest({ ...migrationConfig(), disableTransactions: false })) as [number, string[]];
    const { unmapped } = await applyGrants(db, roles);
    return { applied, unmapped };
  });
}

/**
 * Applies, in order, the pending migrations among `names` only (each a known migration's
 * name), then the grants: brings an empty database to the schema a backup was taken at, so
 * its rows load as they were written and the later migrations then run over them
 * (scripts/restore.ts). Refuses a database that is ahead of this code.
 */
export async function migrateTo(db: Db, roles: DatabaseRoleNames, names: readonly string[]): Promise<MigrationResult> {
  return withMigrationLock(db, async () => {
    await assertNotAhead(db);
    const known = await listMigrationNames();
    assertNoneUnknown([...names], known);
    if (await db.schema.hasTable(`${MIGRATION_TABLE}_lock`)) await db.migrate.forceFreeMigrationsLock(migrationConfig());
    const done = (await db.schema.hasTable(MIGRATION_TABLE)) ? (await db(MIGRATION_TABLE).select('name')).map((row: { name: string }) => row.name) : [];
    const withRoles = db.withUserParams({ [ROLE_NAMES_PARAM]: roles });
    const applied: string[] = [];
    for (const name of known.filter((n) => names.includes(n) && !done.includes(n))) {
      await withRoles.migrate.up({ ...migrationConfig(), name, disableTransactions: false });
      applied.push(name);
    }
    const { unmapped } = await applyGrants(db, roles);
    return { applied, unmapped };
  });
}

export async function migrateRollbackAll(db: Db, roles: DatabaseRoleNames): Promise<void> {
  await withMigrationLock(db, async () => {
    await db.withUserParams({ [ROLE_NAMES_PARAM]: roles }).migrate.rollback(migrationConfig(), true);
  });
}

/**
 * The API and the worker at start-up: the schema must be exactly the one this code was written
 * for. Behind means the migration step has not run (the apps cannot run it: their roles may not
 * alter the schema); ahead means newer code migrated it.
 */
export async function assertSchemaCurrent(db: Db): Promise<void> {
  const { rows } = (await db.raw(
    `SELECT to_regclass(:table) IS NOT NULL AS present,
            CASE WHEN to_regclass(:table) IS NULL THEN false ELSE has_table_privilege(to_regclass(:table), 'SELECT') END AS readable`,
    { table: `public.${MIGRATION_TABLE}` },
  )) as { rows: { present: boolean; readable: boolean }[] };
  const howToMigrate = 'run the migrations as the schema owner first (npm run migrate with MIGRATION_DATABASE_URL, or the compose "migrate" service)';
  if (!rows[0]?.present) throw new SchemaBehindError(`the database has no Countersign schema yet: ${howToMigrate}`);
  // The migrations grant the apps what they may read; a schema they cannot read was not (yet) granted to them.
  if (!rows[0].readable) throw new SchemaBehindError(`this database role was not granted the Countersign schema: ${howToMigrate}`);
  const applied: string[] = (await db(MIGRATION_TABLE).select('name')).map((row: { name: string }) => row.name);
  const known = await listMigrationNames();
  assertNoneUnknown(applied, known);
  const pending = known.filter((name) => !applied.includes(name));
  if (pending.length > 0) throw new SchemaBehindError(`the database schema is behind this code (pending: ${pending.join(', ')}): ${howToMigrate}`);
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
  assertNoneUnknown(applied, await listMigrationNames());
}

function assertNoneUnknown(applied: string[], known: string[]): void {
  const unknown = applied.filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new DatabaseAheadError(
      `the database has migrations this code does not know (${unknown.join(', ')}); it is ahead of this version of Countersign — deploy the newer code or restore a matching backup`,
    );
  }
}

async function listMigrationNames(): Promise<string[]> {
  return (await listMigrationFiles()).map(sourceName);
}

/** True when PostgreSQL answers a trivial query. */
export async function pingDb(db: Db): Promise<void> {
  await db.raw('SELECT 1');
}
