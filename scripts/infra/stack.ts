/**
 * The whole local stack: PostgreSQL, Temporal, OpenBao and anvil, started in parallel,
 * stopped in order (Temporal/anvil/OpenBao, then PostgreSQL with a fast shutdown). The
 * caller stops the API and the worker before calling stop().
 *
 * dev  — fixed ports (5433, 7233/8233, 8200/8201, 8545), data kept under .data/; a
 *        variable already set in the environment (MIGRATION_DATABASE_URL +
 *        API_DATABASE_URL + WORKER_DATABASE_URL, TEMPORAL_ADDRESS, VAULT_ADDR,
 *        WEB3_PROVIDER_URI) means "use that one, start nothing" (unless it is just the
 *        dev default with nothing listening there, see resolveExternal).
 * test — free ports, a throwaway /var/tmp/countersign-test-XXXXXX removed on stop();
 *        the environment is ignored so a developer's .env can never point tests at real data.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DEV_ANVIL_PORT, startAnvil } from './anvil';
import { DEV_OPENBAO_PORT, startOpenBao } from './openbao';
import { SHARED_TMP, TEST_DIR_PREFIX, logDirOf, runDirOf } from './paths';
import { EXTERNAL_DATABASE_VARS, startPostgres, type ExternalDatabase } from './postgres';
import { claimRunDir, ComponentError, isAlive, isPortFree, readPidRecords, reapOrphans, runningLauncher, type Handle } from './process';
import { generateSecrets, loadOrCreateSecrets, type StackSecrets } from './secrets';
import { DEV_TEMPORAL_PORT, startTemporal } from './temporal';

export type StackMode = 'dev' | 'test';

type ExternalVar = (typeof EXTERNAL_DATABASE_VARS)[number] | 'TEMPORAL_ADDRESS' | 'VAULT_ADDR' | 'WEB3_PROVIDER_URI';

export interface StackOptions {
  mode: StackMode;
  /** dev: .data; test: omit to get a fresh /var/tmp/countersign-test-XXXXXX. */
  dataDir?: string;
  /** Echo component logs to the console, prefixed by name (dev). */
  console?: boolean;
  /** Dev: addresses of external services (default: from process.env). Ignored in test mode. */
  external?: Partial<Record<ExternalVar, string>>;
  /** Progress lines ("postgres ready on …"). */
  note?: (message: string) => void;
}

export interface Stack {
  mode: StackMode;
  dataDir: string;
  logDir: string;
  runDir: string;
  /** Everything an app or a test needs: the components' env plus the generated app secrets. */
  env: Record<string, string>;
  handles: Handle[];
  secrets: StackSecrets;
  stop(): Promise<void>;
}

/** A fresh, traversable (0711) directory for one test run. */
export function createTestDataDir(): string {
  const dir = fs.mkdtempSync(path.join(SHARED_TMP, TEST_DIR_PREFIX));
  fs.chmodSync(dir, 0o711);
  return dir;
}

/** Removes test directories whose launcher died (killed test runs), stopping their orphans first. */
export async function sweepStaleTestDirs(note: (message: string) => void = () => {}): Promise<void> {
  const entries = fs.existsSync(SHARED_TMP) ? fs.readdirSync(SHARED_TMP).filter((e) => e.startsWith(TEST_DIR_PREFIX)) : [];
  for (const entry of entries) {
    const dir = path.join(SHARED_TMP, entry);
    const runDir = runDirOf(dir);
    if (runningLauncher(runDir)) continue;
    // Someone may drive components directly (startPostgres with its own dir): their pidfiles name them.
    const records = readPidRecords(runDir);
    if (records.some((r) => isAlive(r.launcherPid))) continue;
    // Nothing recorded at all: either being set up right now or abandoned long ago; age tells.
    const recorded = records.length > 0 || fs.existsSync(path.join(runDir, 'launcher.json'));
    if (!recorded && Date.now() - fs.statSync(dir).mtimeMs < 10 * 60_000) continue;
    try {
      await reapOrphans(runDir, note);
      fs.rmSync(dir, { recursive: true, force: true });
    } catch (error) {
      note(`could not clean ${dir}: ${(error as Error).message}`);
    }
  }
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const note = options.note ?? (() => {});
  const mode = options.mode;
  if (mode === 'test') await sweepStaleTestDirs(note);
  const dataDir = path.resolve(options.dataDir ?? (mode === 'test' ? createTestDataDir() : path.resolve('.data')));
  fs.mkdirSync(dataDir, { recursive: true });
  const runDir = runDirOf(dataDir);
  const logDir = logDirOf(dataDir);
  const release = claimRunDir(runDir, mode);
  const cleanupTestDir = () => {
    if (mode === 'test' && !process.env.KEEP_TEST_DATA) fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await reapOrphans(runDir, note);
  } catch (error) {
    release();
    throw error;
  }

  const secrets = mode === 'dev' ? loadOrCreateSecrets(path.join(dataDir, 'secrets.json')) : generateSecrets();
  const external = mode === 'dev' ? await resolveExternal(options.external ?? pickExternal(process.env), note) : {};
  const common = { mode, dataDir, runDir, logDir, console: options.console ?? false };

  const starters: Array<[string, () => Promise<Handle>]> = [
    ['postgres', () => startPostgres({ ...common, password: secrets.postgresPassword, rolePasswords: secrets.databaseRoles, external: externalDatabase(external) })],
    ['temporal', () => startTemporal({ ...common, external: external.TEMPORAL_ADDRESS })],
    ['openbao', () => startOpenBao({ ...common, external: external.VAULT_ADDR })],
    ['anvil', () => startAnvil({ ...common, external: external.WEB3_PROVIDER_URI })],
  ];
  const started = Date.now();
  const results = await Promise.allSettled(
    starters.map(async ([name, start]) => {
      const handle = await start();
      // Handles without a process are external services we only point at.
      note(handle.exited ? `${name} ready (${((Date.now() - started) / 1000).toFixed(1)} s)` : `${name}: using the external one`);
      return handle;
    }),
  );
  const handles = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      const byName = new Map(handles.map((h) => [h.name, h]));
      // Everything that talks to PostgreSQL first; PostgreSQL (fast shutdown) last.
      await Promise.allSettled(['temporal', 'anvil', 'openbao'].map((n) => byName.get(n)?.stop()));
      await byName.get('postgres')?.stop();
      release();
      cleanupTestDir();
    })();
    return stopped;
  };

  if (failures.length > 0) {
    await stop();
    const messages = failures.map((f) => (f instanceof Error ? f.message : String(f)));
    const first = failures[0];
    if (failures.length === 1 && first instanceof ComponentError) throw first;
    throw new Error(`the local stack did not start:\n${messages.join('\n\n')}`);
  }

  const env: Record<string, string> = Object.assign({}, ...handles.map((h) => h.env), secrets.app) as Record<string, string>;
  return { mode, dataDir, logDir, runDir, env, handles, secrets, stop };
}

/**
 * .env.example spells out the dev defaults (TEMPORAL_ADDRESS=127.0.0.1:7233, …), so a copied
 * .env must not stop `npm run dev` from starting its own components: an address equal to the
 * dev default counts as external only when something already answers there.
 */
async function resolveExternal(
  wanted: NonNullable<StackOptions['external']>,
  note: (message: string) => void,
): Promise<NonNullable<StackOptions['external']>> {
  const defaults: Array<[keyof typeof wanted, RegExp, number]> = [
    ['TEMPORAL_ADDRESS', /^(127\.0\.0\.1|localhost):7233$/, DEV_TEMPORAL_PORT],
    ['VAULT_ADDR', /^http:\/\/(127\.0\.0\.1|localhost):8200\/?$/, DEV_OPENBAO_PORT],
    ['WEB3_PROVIDER_URI', /^http:\/\/(127\.0\.0\.1|localhost):8545\/?$/, DEV_ANVIL_PORT],
  ];
  const resolved = { ...wanted };
  for (const [key, pattern, port] of defaults) {
    const value = resolved[key];
    if (value && pattern.test(value) && (await isPortFree(port))) {
      note(`${key}=${value} is the dev default and nothing listens there: starting the embedded one`);
      delete resolved[key];
    }
  }
  for (const [key, value] of Object.entries(resolved)) if (value) note(`${key} is set: using ${redactUrl(value)} instead of starting one`);
  return resolved;
}

function redactUrl(value: string): string {
  return value.replace(/\/\/[^@/]*@/, '//***@');
}

/** All three role URLs of an external PostgreSQL, or none (then the embedded one starts). */
function externalDatabase(external: NonNullable<StackOptions['external']>): ExternalDatabase | undefined {
  const set = EXTERNAL_DATABASE_VARS.filter((key) => external[key]);
  if (set.length === 0) return undefined;
  if (set.length < EXTERNAL_DATABASE_VARS.length) {
    const missing = EXTERNAL_DATABASE_VARS.filter((key) => !external[key]);
    throw new ComponentError('postgres', `an external PostgreSQL needs a URL per role: ${set.join(', ')} set, ${missing.join(', ')} missing (README, "Database roles")`);
  }
  return Object.fromEntries(EXTERNAL_DATABASE_VARS.map((key) => [key, external[key]!])) as ExternalDatabase;
}

function pickExternal(env: NodeJS.ProcessEnv): NonNullable<StackOptions['external']> {
  const pick = (key: string) => (env[key] && env[key] !== '' ? env[key] : undefined);
  if (pick('DATABASE_URL') && !EXTERNAL_DATABASE_VARS.some((key) => pick(key))) {
    throw new ComponentError(
      'postgres',
      `DATABASE_URL is set, but the API and the worker now connect as roles of their own: for an external PostgreSQL set ${EXTERNAL_DATABASE_VARS.join(', ')} instead (README, "Database roles"), or unset DATABASE_URL to use the embedded one`,
    );
  }
  return {
    ...Object.fromEntries(EXTERNAL_DATABASE_VARS.map((key) => [key, pick(key)])),
    TEMPORAL_ADDRESS: pick('TEMPORAL_ADDRESS'),
    VAULT_ADDR: pick('VAULT_ADDR'),
    WEB3_PROVIDER_URI: pick('WEB3_PROVIDER_URI'),
  };
}
