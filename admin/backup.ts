/**
 * Backup and restore (`npm run backup`, `npm run restore`; docs/operations.md
 * "Backup and restore").
 *
 * A backup is a directory:
 *   openbao.snap              the OpenBao raft snapshot (taken first: every wallet key
 *                             ciphertext in the dump was made by a key version it holds)
 *   postgres/<table>.copy.gz  every table of the public schema, PostgreSQL's COPY text
 *                             format, all read in one REPEATABLE READ READ ONLY transaction
 *   manifest.json             written last: when, the migrations, row counts, sequence
 *                             values, and the SHA-256 of every file
 *
 * Temporal needs nothing: its histories are orchestration state that cannot be taken
 * consistently with PostgreSQL, the record of truth. After a restore into a fresh Temporal
 * (its namespace and search attributes only), the reconciler re-drives every request that is
 * not final from its PostgreSQL state (domains/transactions/reconcile.ts).
 *
 * The dump holds what PostgreSQL holds: password hashes, and ciphertexts that only the
 * restored OpenBao opens. Its files are 0600 in a 0700 directory.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { z } from 'zod';
import { createDb, migrateLatest, migrateTo, type Db } from '../lib/db';
import type { DatabaseRoleNames } from '../lib/db-roles';
import { verifyChain } from '../domains/audit';

export const BACKUP_FORMAT = 'countersign-backup/1';
const MANIFEST = 'manifest.json';
const SNAPSHOT = 'openbao.snap';
const TABLES_DIR = 'postgres';
const MIGRATION_TABLE = 'knex_migrations';
/** knex's own lock row: run-time state, never restored (lib/db.ts serialises with an advisory lock). */
const SKIPPED_ON_RESTORE = new Set(['knex_migrations_lock']);

const FileEntry = z.object({ file: z.string(), bytes: z.number().int(), sha256: z.string().regex(/^[0-9a-f]{64}$/) });
type FileEntry = z.output<typeof FileEntry>;
const Manifest = z.object({
  format: z.literal(BACKUP_FORMAT),
  created_at: z.string(),
  openbao: FileEntry.nullable(),
  postgres: z.object({
    server_version: z.string(),
    migrations: z.array(z.string()),
    tables: z.array(FileEntry.extend({ name: z.string(), columns: z.array(z.string()), rows: z.number().int() })),
    sequences: z.array(z.object({ name: z.string(), last_value: z.string(), is_called: z.boolean() })),
  }),
});
export type Manifest = z.output<typeof Manifest>;

export class BackupError extends Error {
  override name = 'BackupError';
}

/** Session settings both sides use, so COPY's text is read back exactly as it was written. */
const SESSION = [`SET client_encoding = 'UTF8'`, `SET DateStyle = 'ISO'`, `SET TimeZone = 'UTC'`, `SET IntervalStyle = 'postgres'`, 'SET extra_float_digits = 3', 'SET statement_timeout = 0'];

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** Counts bytes, hashes them and counts newlines (COPY text: one line per row) as they stream past. */
function tally(): Transform & { bytes: number; lines: number; digest: () => string } {
  const hash = createHash('sha256');
  const t = new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      hash.update(chunk);
      t.bytes += chunk.length;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) t.lines += 1;
      done(null, chunk);
    },
  }) as Transform & { bytes: number; lines: number; digest: () => string };
  t.bytes = 0;
  t.lines = 0;
  t.digest = () => hash.digest('hex');
  return t;
}

const privateFile = (file: string) => fs.createWriteStream(file, { flags: 'wx', mode: 0o600 });

/** A new, empty directory for a backup (refuses one that holds anything: backups are never overwritten). */
function prepareDirectory(dir: string): void {
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) throw new BackupError(`${dir} is not empty: a backup goes into a new directory`);
  fs.mkdirSync(path.join(dir, TABLES_DIR), { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
}

/** The raft snapshot, over the HTTP API (a token with the countersign-backup policy). */
export async function snapshotOpenBao(options: { address: string; token: string; file: string }): Promise<FileEntry> {
  const response = await fetch(`${options.address}/v1/sys/storage/raft/snapshot`, { headers: { 'X-Vault-Token': options.token }, signal: AbortSignal.timeout(10 * 60_000) });
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new BackupError(`OpenBao refused the snapshot (${response.status})${response.status === 403 ? ': the token needs the countersign-backup policy' : ''}`);
  }
  const counted = tally();
  await pipeline(response.body, counted, privateFile(options.file));
  if (counted.bytes === 0) throw new BackupError('OpenBao sent an empty snapshot (is its storage raft?)');
  return { file: path.basename(options.file), bytes: counted.bytes, sha256: counted.digest() };
}

/** Every table of the public schema, and the sequences, in one consistent snapshot (as the schema owner). */
export async function dumpPostgres(options: { url: string; dir: string }): Promise<Manifest['postgres']> {
  const client = new pg.Client({ connectionString: options.url, application_name: 'countersign-backup' });
  await client.connect();
  try {
    for (const statement of SESSION) await client.query(statement);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const { rows: version } = await client.query<{ server_version: string }>('SHOW server_version');
    const { rows: tableRows } = await client.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`);
    const tables: Manifest['postgres']['tables'] = [];
    for (const { name } of tableRows) {
      const { rows: columnRows } = await client.query<{ name: string }>(
        `SELECT column_name AS name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 AND is_generated = 'NEVER' ORDER BY ordinal_position`,
        [name],
      );
      const columns = columnRows.map((c) => c.name);
      const file = `${TABLES_DIR}/${name}.copy.gz`;
      const rows = tally();
      const written = tally();
      const source = client.query(copyTo(`COPY ${quote(name)} (${columns.map(quote).join(', ')}) TO STDOUT`));
      await pipeline(source, rows, createGzip(), written, privateFile(path.join(options.dir, file)));
      tables.push({ name, columns, rows: rows.lines, file, bytes: written.bytes, sha256: written.digest() });
    }
    const migrations = tableRows.some((t) => t.name === MIGRATION_TABLE)
      ? (await client.query<{ name: string }>(`SELECT name FROM ${MIGRATION_TABLE} ORDER BY id`)).rows.map((r) => r.name)
      : [];
    // Sequences are not transactional: read after the tables, each is at least what the rows used.
    const { rows: sequenceRows } = await client.query<{ name: string }>(`SELECT sequencename AS name FROM pg_sequences WHERE schemaname = 'public' ORDER BY sequencename`);
    const sequences: Manifest['postgres']['sequences'] = [];
    for (const { name } of sequenceRows) {
      const { rows } = await client.query<{ last_value: string; is_called: boolean }>(`SELECT last_value::text AS last_value, is_called FROM ${quote(name)}`);
      sequences.push({ name, last_value: rows[0]!.last_value, is_called: rows[0]!.is_called });
    }
    await client.query('COMMIT');
    return { server_version: version[0]!.server_version, migrations, tables, sequences };
  } finally {
    await client.end();
  }
}

/** `npm run backup`: OpenBao first (unless there is none), then PostgreSQL, then the manifest. */
export async function createBackup(options: { dir: string; databaseUrl: string; openbao?: { address: string; token: string } | undefined; now?: () => Date }): Promise<Manifest> {
  prepareDirectory(options.dir);
  const createdAt = (options.now ?? (() => new Date()))().toISOString();
  const openbao = options.openbao ? await snapshotOpenBao({ ...options.openbao, file: path.join(options.dir, SNAPSHOT) }) : null;
  const postgres = await dumpPostgres({ url: options.databaseUrl, dir: options.dir });
  const manifest: Manifest = { format: BACKUP_FORMAT, created_at: createdAt, openbao, postgres };
  fs.writeFileSync(path.join(options.dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return manifest;
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(fs.createReadStream(file), hash);
  return hash.digest('hex');
}

/** The manifest, with every file it names present and matching its SHA-256. */
export async function readBackup(dir: string): Promise<Manifest> {
  const file = path.join(dir, MANIFEST);
  if (!fs.existsSync(file)) throw new BackupError(`${file} is missing: not a backup, or one that did not finish`);
  const parsed = Manifest.safeParse(JSON.parse(fs.readFileSync(file, 'utf8')));
  if (!parsed.success) throw new BackupError(`${file} is not a ${BACKUP_FORMAT} manifest`);
  const entries = [...(parsed.data.openbao ? [parsed.data.openbao] : []), ...parsed.data.postgres.tables];
  for (const entry of entries) {
    const target = path.join(dir, entry.file);
    if (path.relative(dir, target).startsWith('..')) throw new BackupError(`the manifest names a file outside the backup: ${entry.file}`);
    if (!fs.existsSync(target)) throw new BackupError(`${entry.file} is missing from the backup`);
    if ((await sha256Of(target)) !== entry.sha256) throw new BackupError(`${entry.file} does not match its SHA-256 in the manifest`);
  }
  return parsed.data;
}

/**
 * Installs the snapshot into a fresh OpenBao (`snapshot-force`, with that server's root
 * token). Afterwards OpenBao is the backed-up one: its tokens, policies and keys — and its
 * seal: a Shamir-sealed server must be unsealed with the unseal keys of the backup's time.
 */
export async function restoreOpenBao(options: { address: string; rootToken: string; dir: string; manifest: Manifest }): Promise<'unsealed' | 'sealed'> {
  if (!options.manifest.openbao) throw new BackupError('this backup holds no OpenBao snapshot (taken with --no-openbao)');
  const body = fs.readFileSync(path.join(options.dir, options.manifest.openbao.file));
  const response = await fetch(`${options.address}/v1/sys/storage/raft/snapshot-force`, {
    method: 'POST',
    headers: { 'X-Vault-Token': options.rootToken, 'Content-Type': 'application/octet-stream' },
    body,
    signal: AbortSignal.timeout(10 * 60_000),
  });
  const text = await response.text();
  if (!response.ok) throw new BackupError(`OpenBao refused the snapshot (${response.status})${response.status === 403 ? ': use the fresh server\'s root token' : ''}: ${text.slice(0, 200)}`);
  // Auto-unseal (the dev stack's static seal) comes back by itself; Shamir waits for the old keys.
  for (let i = 0; i < 40; i++) {
    const health = await fetch(`${options.address}/v1/sys/health`, { signal: AbortSignal.timeout(2_000) }).then(
      (r) => r.status,
      () => 0,
    );
    if (health === 200) return 'unsealed';
    if (health === 503 && i >= 10) return 'sealed';
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return 'sealed';
}

export interface RestoreReport {
  tables: number;
  rows: number;
  /** Migrations newer than the backup, applied over its rows. */
  migratedAfter: string[];
  auditEntries: number;
}

/** Foreign-key order: a table after every table it references (self-references aside). */
async function loadOrder(client: pg.Client, tables: readonly string[]): Promise<string[]> {
  const { rows } = await client.query<{ child: string; parent: string }>(
    `SELECT c.relname AS child, p.relname AS parent FROM pg_constraint k
       JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE k.contype = 'f' AND n.nspname = 'public' AND c.oid <> p.oid`,
  );
  const order: string[] = [];
  const visiting = new Set<string>();
  const visit = (table: string) => {
    if (order.includes(table)) return;
    if (visiting.has(table)) throw new BackupError(`foreign keys form a cycle through ${table}`);
    visiting.add(table);
    for (const { parent } of rows.filter((r) => r.child === table)) if (tables.includes(parent)) visit(parent);
    visiting.delete(table);
    order.push(table);
  };
  for (const table of tables) visit(table);
  return order;
}

/** Refuses a database that holds any row (knex's own bookkeeping aside) or a schema past the backup's. */
async function assertEmptyTarget(db: Db, manifest: Manifest): Promise<void> {
  const tables = (await db.raw(`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'`)) as { rows: { name: string }[] };
  for (const { name } of tables.rows) {
    if (name.startsWith(MIGRATION_TABLE)) continue;
    const { rows } = (await db.raw(`SELECT EXISTS (SELECT 1 FROM ${quote(name)}) AS found`)) as { rows: { found: boolean }[] };
    if (rows[0]!.found) throw new BackupError(`the target database is not empty (${name} has rows): restore into a new, empty database`);
  }
  if (tables.rows.some((t) => t.name === MIGRATION_TABLE)) {
    const applied = ((await db(MIGRATION_TABLE).select('name')) as { name: string }[]).map((r) => r.name);
    const past = applied.filter((name) => !manifest.postgres.migrations.includes(name));
    if (past.length > 0) throw new BackupError(`the target database is migrated past the backup (${past.join(', ')}): restore into a database with no schema`);
  }
}

/**
 * `npm run restore` (PostgreSQL): into an empty database, as the schema owner. Migrates it to
 * the backup's schema, loads every table in foreign-key order with the owner's triggers off
 * (append-only, freeze and ordering triggers must not refuse or rewrite restored rows), sets
 * the sequences and checks the row counts, all in one transaction; then applies any newer
 * migrations and verifies the audit chain.
 */
export async function restorePostgres(options: { url: string; roles: DatabaseRoleNames; auditHmacKey: string; dir: string; manifest: Manifest }): Promise<RestoreReport> {
  const { manifest } = options;
  const db = createDb({ url: options.url, poolMax: 2, applicationName: 'countersign-restore', statementTimeoutMs: 0 });
  try {
    await assertEmptyTarget(db, manifest);
    // Refuses a backup whose migrations this code does not know (DatabaseAheadError's message names them).
    await migrateTo(db, options.roles, manifest.postgres.migrations);

    const client = new pg.Client({ connectionString: options.url, application_name: 'countersign-restore' });
    await client.connect();
    try {
      for (const statement of SESSION) await client.query(statement);
      await client.query('BEGIN');
      const byName = new Map(manifest.postgres.tables.filter((t) => !SKIPPED_ON_RESTORE.has(t.name)).map((t) => [t.name, t]));
      const { rows: present } = await client.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'`);
      const missing = [...byName.keys()].filter((name) => !present.some((p) => p.name === name));
      if (missing.length > 0) throw new BackupError(`the migrated schema has no table ${missing.join(', ')}`);
      // The migrations just recorded themselves; the backup's own rows (same names) replace them.
      await client.query(`DELETE FROM ${MIGRATION_TABLE}`);
      let rows = 0;
      for (const name of await loadOrder(client, [...byName.keys()])) {
        const table = byName.get(name)!;
        await client.query(`ALTER TABLE ${quote(name)} DISABLE TRIGGER USER`);
        const sink = client.query(copyFrom(`COPY ${quote(name)} (${table.columns.map(quote).join(', ')}) FROM STDIN`));
        await pipeline(fs.createReadStream(path.join(options.dir, table.file)), createGunzip(), sink);
        await client.query(`ALTER TABLE ${quote(name)} ENABLE TRIGGER USER`);
        const { rows: counted } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${quote(name)}`);
        if (Number(counted[0]!.n) !== table.rows) throw new BackupError(`${name}: ${counted[0]!.n} rows loaded, the manifest says ${table.rows}`);
        rows += table.rows;
      }
      for (const sequence of manifest.postgres.sequences) {
        await client.query('SELECT setval($1::regclass, $2::bigint, $3)', [quote(sequence.name), sequence.last_value, sequence.is_called]);
      }
      await client.query('COMMIT');
      const { applied: migratedAfter } = await migrateLatest(db, options.roles);
      const expected = manifest.postgres.tables.find((t) => t.name === 'audit_events')?.rows ?? 0;
      const chain = await verifyChain(db, options.auditHmacKey);
      if (!chain.ok) throw new BackupError(`restored, but the audit chain does not verify (row ${chain.brokenId}: ${chain.reason}): a wrong AUDIT_HMAC_KEY, or an altered backup`);
      if (chain.count !== expected) throw new BackupError(`restored, but the audit chain has ${chain.count} entries, the backup ${expected}`);
      return { tables: byName.size, rows, migratedAfter, auditEntries: chain.count };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      await client.end();
    }
  } finally {
    await db.destroy();
  }
}
