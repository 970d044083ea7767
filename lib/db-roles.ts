/**
 * Who may do what in PostgreSQL. Three roles:
 *
 *   owner   runs the migrations and owns every table, sequence, function and
 *           trigger (MIGRATION_DATABASE_URL). Only an owner can ALTER, DROP or
 *           TRUNCATE a table or disable its triggers, so neither app can.
 *   api     the API process (its DATABASE_URL).
 *   worker  the worker process (its DATABASE_URL).
 *
 * `TABLE_GRANTS` below is the one declarative list of what each app may do,
 * table by table, column by column where a process owns only some columns of
 * a shared table (the transactions projection). It is applied by
 * `applyGrants` from migrations/006_database_roles.ts and again after every
 * migration run (lib/db.ts `migrateLatest`), so a table added by a later
 * migration is granted as soon as it is listed here — and a table that is not
 * listed is granted to nobody (test/integration/db-roles.test.ts fails and
 * says what to add).
 *
 * Rules the map follows: SELECT is table-wide unless the table holds
 * something the process must not see (wallet key ciphertexts for the API, API
 * key digests for the worker, the audit log beyond its tail); UPDATE is always
 * a column list; nobody gets TRUNCATE, REFERENCES or TRIGGER. Sequences are
 * derived: a process that may INSERT into a table may draw from its serial or
 * identity sequences.
 *
 * What the split does NOT protect: the worker trusts `approvals` and
 * `mfa_uses` rows, which the API writes. With TOTP the API alone checks the
 * code, so a compromised API can write an approval for any request of a user
 * (README, "Security model").
 */
import type { Knex } from 'knex';

export const APP_ROLES = ['api', 'worker'] as const;
export type AppRole = (typeof APP_ROLES)[number];

/** Role names per process; the owner is whoever runs the migrations. */
export type DatabaseRoleNames = Record<AppRole, string>;

export const DEFAULT_ROLE_NAMES = { owner: 'countersign_owner', api: 'countersign_api', worker: 'countersign_worker' } as const;

/** PostgreSQL identifiers we create and quote ourselves: lowercase, no quoting surprises. */
export const ROLE_NAME_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** What one process may do with one table; an empty object is nothing at all. */
export interface TableAccess {
  /** Every column (`true`) or only these. */
  select?: true | readonly string[];
  insert?: true;
  /** Always a column list: a process writes only the columns it owns. */
  update?: readonly string[];
  delete?: true;
}

export type TableGrants = Record<AppRole, TableAccess>;

const ALL = true as const;
const NONE: TableAccess = {};

/** The projection columns each process moves (domains/transactions/dal.ts projectStatus, updateDetails). */
const PROJECTION = ['status', 'version', 'updated_at', 'approved_at', 'execution_expires_at', 'decided_at', 'error'] as const;

export const TABLE_GRANTS: Record<string, TableGrants> = {
  // knex's bookkeeping: the apps read the applied migrations and refuse to run on a schema that is behind.
  knex_migrations: { api: { select: ALL }, worker: { select: ALL } },
  knex_migrations_lock: { api: NONE, worker: NONE },

  // The diagnostics ping: the worker's activity records it.
  pings: { api: NONE, worker: { select: ALL, insert: ALL } },

  // --- accounts, TOTP, sessions, API keys: the API's alone ---
  users: {
    api: { select: ALL, insert: ALL, update: ['mfa_last_step', 'tokens_valid_after', 'password_hash', 'updated_at'] },
    worker: NONE,
  },
  // One row per issued access token (migration 010): written at login, touched as it is used, pruned when expired.
  user_sessions: { api: { select: ALL, insert: ALL, update: ['last_seen_at'], delete: ALL }, worker: NONE },
  // Failed password checks per (account, source address): the login back-off (domains/users/throttle.ts).
  login_throttles: { api: { select: ALL, insert: ALL, update: ['failures', 'next_attempt_at', 'last_failure_at'], delete: ALL }, worker: NONE },
  // The MFA secrets' ciphertexts; the API decrypts them to check codes. Rotation (owner) rewraps them.
  mfa_factors: { api: { select: ALL, insert: ALL, update: ['state', 'confirmed_at'], delete: ALL }, worker: NONE },
  // Single-use TOTP steps: written by the API's gate; the sign activity joins its approval to one.
  mfa_uses: { api: { insert: ALL }, worker: { select: ALL } },
  mfa_failures: { api: { select: ALL, insert: ALL, delete: ALL }, worker: NONE },
  revoked_tokens: { api: { select: ALL, insert: ALL, delete: ALL }, worker: NONE },
  // Rate-limit counts the API replicas share (api/http/rate-limit.ts); keys are digests.
  rate_limit_windows: { api: { select: ALL, insert: ALL, update: ['count'], delete: ALL }, worker: NONE },
  // API keys: the worker only asks whether an agent is active (webhooks) or frozen (the signing gate),
  // never sees a key digest. Only an operator (the owner role, `npm run admin`) freezes one.
  agents: {
    api: { select: ALL, insert: ALL, update: ['revoked_at', 'last_used_at'] },
    worker: { select: ['id', 'user_id', 'revoked_at', 'expires_at', 'frozen_at'] },
  },

  // Append-only HMAC chain: both append; an append reads only the tail (the last id and HMAC).
  audit_events: { api: { select: ['id', 'hmac'], insert: ALL }, worker: { select: ['id', 'hmac'], insert: ALL } },

  // --- wallets: the API creates them and never reads a key ciphertext; the worker reads it to sign ---
  wallets: {
    api: { select: ['id', 'user_id', 'address', 'label', 'frozen_at', 'frozen_reason', 'created_at'], insert: ALL },
    worker: { select: ALL, update: ['frozen_at', 'frozen_reason'] },
  },
  // The worker reads which wallets an agent holds: its webhook payloads carry only those wallets' labels.
  agent_wallets: { api: { select: ALL, insert: ALL, delete: ALL }, worker: { select: ['agent_id', 'wallet_id'] } },
  // Genesis hashes, checked by the worker at start-up.
  chains: { api: NONE, worker: { select: ALL, insert: ALL } },

  // --- transactions: the API freezes the request; both move the projection, each only its own columns ---
  transactions: {
    api: { select: ALL, insert: ALL, update: [...PROJECTION, 'rejection_reason'] },
    worker: { select: ALL, update: [...PROJECTION, 'executed_at', 'last_error', 'nonce', 'tx_hash', 'block_number', 'confirmations'] },
  },
  approvals: { api: { select: ALL, insert: ALL }, worker: { select: ALL } },
  // Execute, reject and cancel as the API recorded them; the workflow and the signing gate read them.
  transaction_commands: { api: { select: ALL, insert: ALL }, worker: { select: ALL } },
  // Nonces and signed bytes: the worker's alone; the API cannot allocate, void or forge one. It reads
  // only whether and when a request was signed and whether its nonce was given back — what a rolling
  // limit counts at prepare (domains/policies rollingUsage) — never a nonce or the bytes.
  wallet_nonces: { api: NONE, worker: { select: ALL, insert: ALL, update: ['next_nonce'] } },
  nonce_assignments: { api: { select: ['transaction_id', 'voided_at'] }, worker: { select: ALL, insert: ALL, update: ['voided_at'] } },
  signed_transactions: { api: { select: ['transaction_id', 'created_at'] }, worker: { select: ALL, insert: ALL } },
  transaction_events: { api: { select: ALL, insert: ALL }, worker: { select: ALL, insert: ALL } },

  // --- policies (issue 14): the owner's rules, what agent requests count toward them, refusals, labels ---
  // One row per wallet, also the lock that serialises prepares, signings and changes on that wallet:
  // the API creates and replaces it; the worker reads and locks it (FOR UPDATE needs UPDATE on a column,
  // so it holds `updated_at`'s and writes nothing — a compromised worker can sign anyway).
  wallet_policies: {
    api: { select: ALL, insert: ALL, update: ['version', 'rules', 'updated_by', 'updated_at'] },
    worker: { select: ALL, update: ['updated_at'] },
  },
  // Append-only, written at prepare; the signing check sums it.
  policy_spend: { api: { select: ALL, insert: ALL }, worker: { select: ALL } },
  // Append-only: prepare's refusals (API), signing's (worker); the owner's views read them.
  policy_refusals: { api: { select: ALL, insert: ALL }, worker: { insert: ALL } },
  // The owner's labels; the worker reads the labels its webhook payloads carry.
  address_book: { api: { select: ALL, insert: ALL, update: ['label', 'updated_at'], delete: ALL }, worker: { select: ['user_id', 'address', 'label'] } },
  // --- the Temporal payload codec's data keys (domains/history), wrapped by the key store ---
  // Both read them to encrypt and decrypt payloads. Only the API adds one: the first at start-up
  // (it starts every workflow, so one exists before the worker needs it), and `npm run
  // history:rotate-key` runs with its credentials. Nobody may change or delete a key: every older
  // history needs its key to decode (the owner's `keys:rotate` rewraps them).
  history_keys: { api: { select: ALL, insert: ALL }, worker: { select: ALL } },

  // --- webhooks: the API registers and deletes them; the worker delivers and records attempts ---
  webhooks: { api: { select: ALL, insert: ALL, update: ['deleted_at'] }, worker: { select: ALL } },
  webhook_deliveries: {
    api: NONE,
    worker: { select: ALL, insert: ALL, update: ['state', 'attempts', 'response_status', 'last_error', 'last_attempt_at', 'delivered_at'] },
  },
};

// ---------------------------------------------------------------------------------------------
// Applying the map (as the owner)

export class DatabaseRolesError extends Error {
  override name = 'DatabaseRolesError';
}

export interface GrantReport {
  /** Tables in the schema the map does not list: granted to nobody. */
  unmapped: string[];
  /** Tables the map lists that the schema does not have (yet): skipped. */
  absent: string[];
}

type Runner = Knex | Knex.Transaction;

/** Tables, views and sequences of the `public` schema, with what their serial/identity sequences belong to. */
async function schemaObjects(db: Runner): Promise<{ tables: string[]; columns: Map<string, Set<string>>; sequences: Array<{ sequence: string; table: string | null }> }> {
  const tables = (await db.raw(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY c.relname`,
  )) as { rows: { name: string }[] };
  const sequences = (await db.raw(
    `SELECT s.relname AS sequence, t.relname AS "table"
       FROM pg_class s
       JOIN pg_namespace n ON n.oid = s.relnamespace
       LEFT JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass
                            AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
       LEFT JOIN pg_class t ON t.oid = d.refobjid
      WHERE n.nspname = 'public' AND s.relkind = 'S' ORDER BY s.relname`,
  )) as { rows: Array<{ sequence: string; table: string | null }> };
  const columns = (await db.raw(`SELECT table_name AS "table", column_name AS "column" FROM information_schema.columns WHERE table_schema = 'public'`)) as {
    rows: Array<{ table: string; column: string }>;
  };
  const byTable = new Map<string, Set<string>>();
  for (const { table, column } of columns.rows) byTable.set(table, (byTable.get(table) ?? new Set()).add(column));
  return { tables: tables.rows.map((r) => r.name), columns: byTable, sequences: sequences.rows };
}

/**
 * The map names columns as the latest migration leaves them; while an earlier
 * migration runs (006 applies the map mid-history), a column a later one adds
 * does not exist yet. It is granted by the run that adds it: the grants are
 * applied again after every migration run.
 */
function existingColumns(access: TableAccess, columns: Set<string> | undefined): TableAccess {
  const keep = (list: readonly string[]) => list.filter((column) => columns?.has(column));
  return {
    ...access,
    ...(Array.isArray(access.select) ? { select: keep(access.select as readonly string[]) } : {}),
    ...(access.update ? { update: keep(access.update) } : {}),
  };
}

/** The app roles must exist before the schema is granted to them (see README, "Database roles"). */
async function assertRolesExist(db: Runner, roles: DatabaseRoleNames): Promise<void> {
  for (const role of APP_ROLES) {
    if (!ROLE_NAME_PATTERN.test(roles[role])) throw new DatabaseRolesError(`the ${role} role name "${roles[role]}" is not a plain lowercase identifier`);
  }
  const { rows } = (await db.raw('SELECT rolname FROM pg_roles WHERE rolname = ANY(?)', [[roles.api, roles.worker]])) as { rows: { rolname: string }[] };
  const missing = APP_ROLES.filter((role) => !rows.some((r) => r.rolname === roles[role]));
  if (missing.length > 0) {
    throw new DatabaseRolesError(
      `the database role(s) ${missing.map((role) => `${roles[role]} (${role})`).join(', ')} do not exist: create them first ` +
        `(CREATE ROLE <name> LOGIN PASSWORD '…' as a superuser — npm run dev, npm test and docker-compose.yml do it themselves; README, "Database roles")`,
    );
  }
}

/** `GRANT`/`REVOKE` statements for one table, as [sql, bindings]. Exported for the unit test. */
export function grantStatements(table: string, role: string, access: TableAccess): Array<[string, string[]]> {
  const statements: Array<[string, string[]]> = [];
  const columns = (list: readonly string[]) => list.map(() => '??').join(', ');
  const whole = [access.insert ? 'INSERT' : undefined, access.delete ? 'DELETE' : undefined, access.select === true ? 'SELECT' : undefined].filter(Boolean);
  if (whole.length > 0) statements.push([`GRANT ${whole.join(', ')} ON ?? TO ??`, [table, role]]);
  if (Array.isArray(access.select) && access.select.length > 0) {
    statements.push([`GRANT SELECT (${columns(access.select)}) ON ?? TO ??`, [...access.select, table, role]]);
  }
  if (access.update && access.update.length > 0) {
    statements.push([`GRANT UPDATE (${columns(access.update)}) ON ?? TO ??`, [...access.update, table, role]]);
  }
  return statements;
}

/**
 * Makes the app roles' privileges exactly what TABLE_GRANTS says, in one transaction: revoke
 * everything on every table and sequence of the schema, grant the map, derive the sequences.
 * Idempotent. Run as the owner of every object (the migration role).
 */
export async function applyGrants(db: Runner, roles: DatabaseRoleNames): Promise<GrantReport> {
  const run = async (trx: Runner): Promise<GrantReport> => {
    await assertRolesExist(trx, roles);
    const { tables, columns, sequences } = await schemaObjects(trx);
    const appRoles = [roles.api, roles.worker];
    // Nothing is created in the schema except by its owner, and nothing is granted to everyone.
    await trx.raw('REVOKE CREATE ON SCHEMA public FROM PUBLIC');
    await trx.raw('GRANT USAGE ON SCHEMA public TO ??, ??', appRoles);
    await trx.raw('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC, ??, ??', appRoles);
    await trx.raw('REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM PUBLIC, ??, ??', appRoles);
    // Our trigger functions run for whoever fires the trigger; nobody calls them otherwise.
    const functions = (await trx.raw(
      `SELECT p.oid::regprocedure::text AS signature FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND p.proname LIKE 'countersign\\_%' AND p.proowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)`,
    )) as { rows: { signature: string }[] };
    for (const { signature } of functions.rows) await trx.raw(`REVOKE ALL ON FUNCTION ${signature} FROM PUBLIC`);

    const present = new Set(tables);
    for (const [table, grants] of Object.entries(TABLE_GRANTS)) {
      if (!present.has(table)) continue;
      for (const role of APP_ROLES) {
        for (const [sql, bindings] of grantStatements(table, roles[role], existingColumns(grants[role], columns.get(table)))) await trx.raw(sql, bindings);
      }
    }
    for (const { sequence, table } of sequences) {
      const users = APP_ROLES.filter((role) => table !== null && TABLE_GRANTS[table]?.[role].insert);
      if (users.length > 0) await trx.raw(`GRANT USAGE ON SEQUENCE ?? TO ${users.map(() => '??').join(', ')}`, [sequence, ...users.map((r) => roles[r])]);
    }
    return {
      unmapped: tables.filter((t) => !(t in TABLE_GRANTS)),
      absent: Object.keys(TABLE_GRANTS).filter((t) => !present.has(t)),
    };
  };
  return 'isTransaction' in db && db.isTransaction ? run(db) : (db as Knex).transaction(run);
}

/** Takes every app privilege back (migration 006 down). */
export async function revokeGrants(db: Runner, roles: DatabaseRoleNames): Promise<void> {
  await assertRolesExist(db, roles);
  const appRoles = [roles.api, roles.worker];
  await db.raw('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ??, ??', appRoles);
  await db.raw('REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM ??, ??', appRoles);
  await db.raw('REVOKE USAGE ON SCHEMA public FROM ??, ??', appRoles);
}

/** The message the schema test prints for a table nobody has granted: exactly what to add. */
export function unmappedTableHint(table: string): string {
  return `table "${table}" is not in TABLE_GRANTS (lib/db-roles.ts), so neither the API nor the worker may touch it. Add an entry naming what each process does with it, e.g.\n  ${table}: { api: { select: ALL, insert: ALL }, worker: { select: ALL, update: ['<column>'] } },\n(use NONE for a process that never touches it), then run the migrations again.`;
}

// ---------------------------------------------------------------------------------------------
// Checking a connection (as an app, at start-up)

const COLUMN_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'REFERENCES'] as const;
const TABLE_PRIVILEGES = ['DELETE', 'TRUNCATE', 'TRIGGER'] as const;
type Privilege = (typeof COLUMN_PRIVILEGES)[number] | (typeof TABLE_PRIVILEGES)[number];

function expected(access: TableAccess, privilege: Privilege, column?: string): boolean {
  switch (privilege) {
    case 'SELECT':
      return access.select === true || (Array.isArray(access.select) && access.select.includes(column!));
    case 'INSERT':
      return access.insert === true;
    case 'UPDATE':
      return access.update?.includes(column!) ?? false;
    case 'DELETE':
      return access.delete === true;
    default:
      return false;
  }
}

export interface PrivilegeFinding {
  table: string;
  column?: string;
  privilege: Privilege | 'OWNER' | 'SUPERUSER';
  /** `extra`: the connection may do more than `role` should; `missing`: less. */
  kind: 'extra' | 'missing';
}

/**
 * Compares what this connection's role may do on every listed table with what TABLE_GRANTS
 * gives `role`. Extra rights mean the process runs as the wrong role (a superuser, the owner,
 * the other process's role); missing ones mean the grants were not applied (migrations).
 */
export async function checkPrivileges(db: Runner, role: AppRole): Promise<PrivilegeFinding[]> {
  const tables = Object.keys(TABLE_GRANTS);
  const { rows: standing } = (await db.raw(
    `SELECT r.rolsuper AS superuser, ARRAY(
        SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relowner = r.oid AND c.relname = ANY(?)) AS owned
       FROM pg_roles r WHERE r.rolname = current_user`,
    [tables],
  )) as { rows: { superuser: boolean; owned: string[] }[] };
  const findings: PrivilegeFinding[] = [];
  if (standing[0]?.superuser) findings.push({ table: '*', privilege: 'SUPERUSER', kind: 'extra' });
  for (const table of standing[0]?.owned ?? []) findings.push({ table, privilege: 'OWNER', kind: 'extra' });

  const { rows } = (await db.raw(
    `SELECT c.relname AS "table", a.attname AS "column", p.privilege, has_column_privilege(c.oid, a.attnum, p.privilege) AS granted
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      CROSS JOIN unnest(?::text[]) AS p(privilege)
      WHERE c.relname = ANY(?)
     UNION ALL
     SELECT c.relname, NULL, p.privilege, has_table_privilege(c.oid, p.privilege)
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
      CROSS JOIN unnest(?::text[]) AS p(privilege)
      WHERE c.relname = ANY(?)`,
    [[...COLUMN_PRIVILEGES], tables, [...TABLE_PRIVILEGES], tables],
  )) as { rows: Array<{ table: string; column: string | null; privilege: Privilege; granted: boolean }> };
  for (const row of rows) {
    const want = expected(TABLE_GRANTS[row.table]![role], row.privilege, row.column ?? undefined);
    if (want === row.granted) continue;
    findings.push({ table: row.table, ...(row.column ? { column: row.column } : {}), privilege: row.privilege, kind: row.granted ? 'extra' : 'missing' });
  }
  return findings;
}

export class WrongDatabaseRoleError extends Error {
  override name = 'WrongDatabaseRoleError';
}

/** Writes and ownership first (they say "wrong role" loudest), then reads. */
const SEVERITY: Record<PrivilegeFinding['privilege'], number> = { SUPERUSER: 0, OWNER: 1, TRUNCATE: 2, TRIGGER: 3, DELETE: 4, INSERT: 5, UPDATE: 6, REFERENCES: 7, SELECT: 8 };

/** "is a superuser", "owns users", "can INSERT users", "can UPDATE transactions (nonce, tx_hash)". */
export function describeFindings(findings: readonly PrivilegeFinding[]): string[] {
  const grouped = new Map<string, { finding: PrivilegeFinding; columns: string[] }>();
  for (const finding of findings) {
    const key = `${finding.kind} ${finding.privilege} ${finding.table}`;
    const entry = grouped.get(key) ?? { finding, columns: [] };
    if (finding.column) entry.columns.push(finding.column);
    grouped.set(key, entry);
  }
  return [...grouped.values()]
    .sort((a, b) => SEVERITY[a.finding.privilege] - SEVERITY[b.finding.privilege] || a.finding.table.localeCompare(b.finding.table))
    .map(({ finding, columns }) => {
      if (finding.privilege === 'SUPERUSER') return 'is a superuser';
      if (finding.privilege === 'OWNER') return `owns ${finding.table}`;
      const verb = finding.kind === 'extra' ? 'can' : 'cannot';
      // INSERT is granted table-wide: its per-column findings name the table alone.
      const which = columns.length === 0 || finding.privilege === 'INSERT' ? '' : ` (${columns.join(', ')})`;
      return `${verb} ${finding.privilege} ${finding.table}${which}`;
    });
}

/**
 * Start-up check of the API and the worker: refuses a connection whose role may do more than
 * this process should (never silently run as a superuser or the owner) or less (grants not
 * applied). Names at most a few findings.
 */
export async function assertPrivileges(db: Runner, role: AppRole): Promise<void> {
  const findings = await checkPrivileges(db, role);
  const extra = findings.filter((f) => f.kind === 'extra');
  const missing = findings.filter((f) => f.kind === 'missing');
  const list = (items: PrivilegeFinding[]) => {
    const described = describeFindings(items);
    return `${described.slice(0, 4).join(', ')}${described.length > 4 ? ` and ${described.length - 4} more` : ''}`;
  };
  if (extra.length > 0) {
    throw new WrongDatabaseRoleError(
      `the ${role}'s database role may do more than the ${role} should (it ${list(extra)}): connect as the ${role}'s own role ` +
        `(DATABASE_URL; default name ${DEFAULT_ROLE_NAMES[role]}), never as a superuser, the schema owner or the other process's role`,
    );
  }
  if (missing.length > 0) {
    throw new WrongDatabaseRoleError(
      `the ${role}'s database role lacks privileges the ${role} needs (it ${list(missing)}): run the migrations as the schema owner ` +
        `(npm run migrate, or the compose "migrate" service), which grant them`,
    );
  }
}
