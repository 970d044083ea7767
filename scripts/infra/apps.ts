/**
 * The API (`tsx api/server.ts`) and the worker (`tsx worker/main.ts`) as child processes
 * on top of a started stack — for `npm run dev`, and for the black-box and browser tests
 * of `npm test`, which need the real processes.
 *
 * Credentials: the API process gets only the encrypt-side Vault token, the worker only
 * the decrypt-side one; neither sees the operator token or the OpenBao root token. In
 * PostgreSQL each gets its own role's URL as DATABASE_URL (lib/db-roles.ts); neither sees
 * the schema owner's, the superuser's or the other's. Migrations run before, as the owner.
 */
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './paths';
import { ComponentError, httpOk, spawnManaged, waitUntilReady, type ManagedProcess } from './process';
import type { Stack } from './stack';

export type AppRole = 'api' | 'worker';

/**
 * V8 heap limit per process (MiB). Node's default (~4 GiB here) lets the heap grow far past the
 * live set before a full collection, which shows up as resident memory; these keep each process
 * near its measured working set with headroom (`npm run bench` reports both). docker-compose.yml
 * sets the same through NODE_OPTIONS (a unit test compares them).
 */
export const APP_HEAP_LIMIT_MIB: Record<AppRole, number> = { api: 160, worker: 192 };
export const appNodeFlags = (role: AppRole) => [`--max-old-space-size=${APP_HEAP_LIMIT_MIB[role]}`];

/**
 * docker-compose.yml's memory limit per container (MiB): the heap limit plus native memory
 * (Temporal's Rust core in the worker, buffers, code). `npm run bench` measured peak RSS at
 * 250 (API) and 451 MiB (worker, README "Performance"); a container at its limit is killed,
 * so both keep room above that. A unit test holds compose to these.
 */
export const APP_MEMORY_LIMIT_MIB: Record<AppRole, number> = { api: 512, worker: 768 };

const VAULT_SECRETS = [
  'VAULT_API_TOKEN',
  'VAULT_WORKER_TOKEN',
  'VAULT_OPERATOR_TOKEN',
  'VAULT_BACKUP_TOKEN',
  'VAULT_ROOT_TOKEN',
  'VAULT_API_ROLE_ID',
  'VAULT_API_SECRET_ID',
  'VAULT_WORKER_ROLE_ID',
  'VAULT_WORKER_SECRET_ID',
] as const;

/**
 * The Vault identity of one process, from the stack's per-role credentials. Other roles'
 * credentials are set to '' rather than deleted: the apps load .env themselves and dotenv
 * never overrides a variable that exists.
 */
export function vaultIdentity(env: Record<string, string | undefined>, role: AppRole): Record<string, string> {
  const upper = role === 'api' ? 'API' : 'WORKER';
  const scrubbed: Record<string, string> = Object.fromEntries(VAULT_SECRETS.map((key) => [key, '']));
  const token = env[`VAULT_${upper}_TOKEN`];
  if (token) return { ...scrubbed, VAULT_TOKEN: token, VAULT_ROLE_ID: '', VAULT_SECRET_ID: '' };
  const roleId = env[`VAULT_${upper}_ROLE_ID`];
  const secretId = env[`VAULT_${upper}_SECRET_ID`];
  if (roleId && secretId) return { ...scrubbed, VAULT_TOKEN: '', VAULT_ROLE_ID: roleId, VAULT_SECRET_ID: secretId };
  // An external Vault with one identity of the user's own (VAULT_TOKEN or AppRole in .env).
  if (env.VAULT_TOKEN || (env.VAULT_ROLE_ID && env.VAULT_SECRET_ID)) return scrubbed;
  throw new Error(
    `VAULT_ADDR points at an external Vault but no credential for the ${role} is set: set VAULT_${upper}_TOKEN (or VAULT_${upper}_ROLE_ID + VAULT_${upper}_SECRET_ID)`,
  );
}

const DATABASE_SECRETS = ['POSTGRES_ADMIN_URL', 'MIGRATION_DATABASE_URL', 'API_DATABASE_URL', 'WORKER_DATABASE_URL'] as const;

/** The database identity of one process: its own role's URL as DATABASE_URL, every other URL blanked. */
export function databaseIdentity(env: Record<string, string | undefined>, role: AppRole): Record<string, string> {
  const own = env[role === 'api' ? 'API_DATABASE_URL' : 'WORKER_DATABASE_URL'];
  if (!own) throw new Error(`no database URL for the ${role}: the stack sets API_DATABASE_URL and WORKER_DATABASE_URL`);
  return { ...Object.fromEntries(DATABASE_SECRETS.map((key) => [key, ''])), DATABASE_URL: own };
}

export const APP_ENTRIES: Record<AppRole, string> = { worker: 'worker/main.ts', api: 'api/server.ts' };
/** The same entry points compiled by `npm run build` (scripts/build.ts). */
export const COMPILED_APP_ENTRIES: Record<AppRole, string> = { worker: 'dist/worker/main.js', api: 'dist/api/server.js' };

export interface AppsOptions {
  stack: Stack;
  apiPort: number;
  workerPort: number;
  /** The API's operations listener (/metrics, /codec/*; OPS_PORT). */
  opsPort: number;
  /** NODE_ENV, feature flags, TEMPORAL_TASK_QUEUE, … (on top of the stack's env). */
  env: Record<string, string>;
  console?: boolean;
  readyTimeoutMs?: number;
  /** Run the compiled build (`node dist/…`, as the container image does) instead of the sources through tsx. */
  compiled?: boolean;
}

export interface Apps {
  api: ManagedProcess;
  worker: ManagedProcess;
  apiUrl: string;
  workerUrl: string;
  /** The API's operations listener: /metrics and the codec server. */
  apiOpsUrl: string;
  /** Resolves when both answer /readyz with 200; rejects (ComponentError with the log tail) otherwise. */
  ready: Promise<void>;
  /** API first (no new requests), then the worker. */
  stop(): Promise<void>;
}

export function missingAppEntries(compiled = false): string[] {
  return Object.values(compiled ? COMPILED_APP_ENTRIES : APP_ENTRIES).filter((entry) => !fs.existsSync(path.join(REPO_ROOT, entry)));
}

export function startApps(options: AppsOptions): Apps {
  const missing = missingAppEntries(options.compiled);
  if (missing.length > 0) throw new ComponentError('apps', `${missing.join(' and ')} do(es) not exist yet`);
  const base = { ...process.env, ...options.stack.env, ...options.env };
  const spawnApp = (role: AppRole, ports: Record<string, number>) =>
    spawnManaged({
      name: role,
      // node itself (with the tsx loader for sources): one process, so a SIGKILL after the stop timeout leaves no orphan behind a wrapper.
      command: process.execPath,
      args: options.compiled ? [...appNodeFlags(role), '--enable-source-maps', COMPILED_APP_ENTRIES[role]] : [...appNodeFlags(role), '--import', 'tsx', APP_ENTRIES[role]],
      cwd: REPO_ROOT,
      env: { ...base, ...vaultIdentity(base, role), ...databaseIdentity(base, role), ...Object.fromEntries(Object.entries(ports).map(([name, port]) => [name, String(port)])) },
      logDir: options.stack.logDir,
      runDir: options.stack.runDir,
      console: options.console ?? false,
    });
  const worker = spawnApp('worker', { WORKER_HEALTH_PORT: options.workerPort });
  const api = spawnApp('api', { PORT: options.apiPort, OPS_PORT: options.opsPort });
  const apiUrl = `http://127.0.0.1:${options.apiPort}`;
  const workerUrl = `http://127.0.0.1:${options.workerPort}`;
  const wait = (proc: ManagedProcess, url: string) =>
    waitUntilReady(proc, () => httpOk(`${url}/readyz`), { timeoutMs: options.readyTimeoutMs ?? 180_000, what: `GET ${url}/readyz` });
  const ready = Promise.all([wait(worker, workerUrl), wait(api, apiUrl)]).then(() => undefined);
  // Callers may race `ready` against a signal; never leave its rejection unhandled.
  ready.catch(() => {});
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      await api.stop();
      await worker.stop();
    })();
    return stopped;
  };
  return { api, worker, apiUrl, workerUrl, apiOpsUrl: `http://127.0.0.1:${options.opsPort}`, ready, stop };
}
