/**
 * The bench's world: the stack (started here on free ports, or the one named
 * by POSTGRES_ADMIN_URL + MIGRATION_DATABASE_URL + API_DATABASE_URL +
 * WORKER_DATABASE_URL + TEMPORAL_ADDRESS + VAULT_ADDR + WEB3_PROVIDER_URI), a
 * fresh database on its PostgreSQL (made by the admin URL, owned and migrated
 * by the migration role; the API and the worker connect as their own roles,
 * as in production), one prebuilt workflow bundle, and the API and the worker
 * as real child processes (`node --import tsx …`, so /proc describes the
 * application itself, not a wrapper).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { bundleWorkflows } from '../../lib/workflow-bundle';
import { REPO_ROOT } from '../../scripts/infra/paths';
import { getFreePort, httpOk, readPidRecords } from '../../scripts/infra/process';
import { appNodeFlags } from '../../scripts/infra/apps';
import { startStack, type Stack } from '../../scripts/infra/stack';
import { generateSecrets } from '../../scripts/infra/secrets';
import { loadMigrationConfig } from '../../config/env';
import { createDb, migrateLatest } from '../../lib/db';
import { sleep } from './stats';

export interface BenchWorld {
  external: boolean;
  /** Service locations and app secrets; the *_DATABASE_URLs point at the bench's own database. */
  env: Record<string, string>;
  /** Root pids of the components we started (for CPU accounting); empty when external. */
  componentPids: Record<string, number>;
  workDir: string;
  logDir: string;
  runDir: string | undefined;
  bundlePath: string;
  stop(): Promise<void>;
}

const DATABASE_VARS = ['MIGRATION_DATABASE_URL', 'API_DATABASE_URL', 'WORKER_DATABASE_URL'] as const;
const EXTERNAL_VARS = ['POSTGRES_ADMIN_URL', ...DATABASE_VARS, 'TEMPORAL_ADDRESS', 'VAULT_ADDR', 'WEB3_PROVIDER_URI'] as const;

export function externalRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  return EXTERNAL_VARS.every((key) => env[key] !== undefined && env[key] !== '');
}

export async function createWorld(note: (message: string) => void): Promise<BenchWorld> {
  const external = externalRequested();
  let stack: Stack | undefined;
  let base: Record<string, string>;
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'countersign-bench-'));
  if (external) {
    note(`using the services named by ${EXTERNAL_VARS.join(', ')}`);
    base = externalEnv();
  } else {
    note('starting PostgreSQL, Temporal, OpenBao and anvil on free ports…');
    stack = await startStack({ mode: 'test', note: (m) => note(`  ${m}`) });
    base = { ...stack.env };
  }
  const logDir = stack?.logDir ?? path.join(workDir, 'logs');
  const componentPids: Record<string, number> = {};
  if (stack) for (const record of readPidRecords(stack.runDir)) componentPids[record.name] = record.pid;

  let dropDatabase: () => Promise<void> = async () => {};
  try {
    const database = await freshDatabase(base);
    dropDatabase = database.drop;
    Object.assign(base, database.urls);

    const started = Date.now();
    const bundle = await bundleWorkflows({ logger: { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} } as never });
    const bundlePath = path.join(workDir, 'workflow-bundle.js');
    fs.writeFileSync(bundlePath, bundle.code);
    note(`workflow code bundled in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    let stopped: Promise<void> | undefined;
    return {
      external,
      env: base,
      componentPids,
      workDir,
      logDir,
      runDir: stack?.runDir,
      bundlePath,
      stop() {
        stopped ??= (async () => {
          await dropDatabase().catch((err: unknown) => note(`could not drop the bench database: ${(err as Error).message}`));
          await stack?.stop();
          fs.rmSync(workDir, { recursive: true, force: true });
        })();
        return stopped;
      },
    };
  } catch (err) {
    await dropDatabase().catch(() => undefined);
    await stack?.stop();
    fs.rmSync(workDir, { recursive: true, force: true });
    throw err;
  }
}

/** Everything the apps need from an external stack; app secrets are generated unless given. */
function externalEnv(): Record<string, string> {
  const env = process.env;
  const pick = (key: string) => (env[key] && env[key] !== '' ? env[key] : undefined);
  const out: Record<string, string> = {};
  for (const key of [...EXTERNAL_VARS, 'TEMPORAL_NAMESPACE', 'CHAIN_ID', 'DATABASE_API_ROLE', 'DATABASE_WORKER_ROLE']) if (pick(key)) out[key] = pick(key)!;
  out.TEMPORAL_NAMESPACE ??= 'default';
  out.CHAIN_ID ??= '31337';
  // One credential per process where given; a single VAULT_TOKEN serves both otherwise.
  for (const key of ['VAULT_API_TOKEN', 'VAULT_WORKER_TOKEN', 'VAULT_API_ROLE_ID', 'VAULT_API_SECRET_ID', 'VAULT_WORKER_ROLE_ID', 'VAULT_WORKER_SECRET_ID']) {
    if (pick(key)) out[key] = pick(key)!;
  }
  if (pick('VAULT_TOKEN')) {
    out.VAULT_API_TOKEN ??= pick('VAULT_TOKEN')!;
    out.VAULT_WORKER_TOKEN ??= pick('VAULT_TOKEN')!;
  }
  const hasApi = out.VAULT_API_TOKEN || (out.VAULT_API_ROLE_ID && out.VAULT_API_SECRET_ID);
  const hasWorker = out.VAULT_WORKER_TOKEN || (out.VAULT_WORKER_ROLE_ID && out.VAULT_WORKER_SECRET_ID);
  if (!hasApi || !hasWorker) {
    throw new Error('VAULT_ADDR is set but no Vault credential is: set VAULT_API_TOKEN and VAULT_WORKER_TOKEN (or VAULT_TOKEN for both, or the AppRole pairs)');
  }
  const secrets = generateSecrets().app;
  for (const [key, value] of Object.entries(secrets)) out[key] = pick(key) ?? value;
  return out;
}

/**
 * A fresh database named bench_<hex> on the given server, owned by the migration role and
 * migrated by it (which grants the API's and the worker's roles); dropped by stop().
 */
async function freshDatabase(env: Record<string, string>): Promise<{ urls: Record<(typeof DATABASE_VARS)[number], string>; drop(): Promise<void> }> {
  const serverUrl = env.POSTGRES_ADMIN_URL!;
  const name = `bench_${randomBytes(6).toString('hex')}`;
  const inBench = (url: string) => {
    const parsed = new URL(url);
    parsed.pathname = `/${name}`;
    return parsed.toString();
  };
  const urls = Object.fromEntries(DATABASE_VARS.map((key) => [key, inBench(env[key]!)])) as Record<(typeof DATABASE_VARS)[number], string>;
  const migration = loadMigrationConfig({ ...env, MIGRATION_DATABASE_URL: urls.MIGRATION_DATABASE_URL });
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} OWNER ${admin.escapeIdentifier(decodeURIComponent(new URL(urls.MIGRATION_DATABASE_URL).username))}`);
  } finally {
    await admin.end();
  }
  const db = createDb({ url: urls.MIGRATION_DATABASE_URL, poolMax: 2, applicationName: 'countersign-bench-migrate' });
  try {
    await migrateLatest(db, migration.roles);
  } finally {
    await db.destroy();
  }
  return {
    urls,
    async drop() {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The API and the worker as child processes

export interface AppProcess {
  name: string;
  /** Running totals of PostgreSQL round trips made by this process, and its main thread's memory (see probe.mjs). */
  pgTotals(): ProbeReading | undefined;
  pid: number;
  port: number;
  url: string;
  logFile: string;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

export interface ProbeReading {
  queries: number;
  ms: number;
  memory?: Record<'rss' | 'heapTotal' | 'heapUsed' | 'external' | 'arrayBuffers', number>;
  peakMemory?: Record<'rss' | 'heapTotal' | 'heapUsed' | 'external', number>;
}

export interface AppOptions {
  /** Extra environment (rate limits, task queue, …). */
  env?: Record<string, string>;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
}

/** The identity of one process: the API's Vault credential only encrypts wallet keys, the worker's only decrypts. */
function vaultIdentity(env: Record<string, string>, role: 'api' | 'worker'): Record<string, string> {
  const upper = role === 'api' ? 'API' : 'WORKER';
  if (env[`VAULT_${upper}_TOKEN`]) return { VAULT_TOKEN: env[`VAULT_${upper}_TOKEN`]! };
  return { VAULT_ROLE_ID: env[`VAULT_${upper}_ROLE_ID`]!, VAULT_SECRET_ID: env[`VAULT_${upper}_SECRET_ID`]! };
}

export async function startApp(world: BenchWorld, role: 'api' | 'worker' | 'noop-worker', options: AppOptions = {}): Promise<AppProcess> {
  const port = await getFreePort();
  const entry = { api: 'api/server.ts', worker: 'worker/main.ts', 'noop-worker': 'bench/noop-worker.ts' }[role];
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? os.homedir(),
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    // Each process as its own role (the no-op worker needs none, but connects as the worker would).
    DATABASE_URL: role === 'api' ? world.env.API_DATABASE_URL! : world.env.WORKER_DATABASE_URL!,
    TEMPORAL_ADDRESS: world.env.TEMPORAL_ADDRESS!,
    TEMPORAL_NAMESPACE: world.env.TEMPORAL_NAMESPACE ?? 'default',
    KEYSTORE: 'vault',
    VAULT_ADDR: world.env.VAULT_ADDR!,
    ...vaultIdentity(world.env, role === 'api' ? 'api' : 'worker'),
    WEB3_PROVIDER_URI: world.env.WEB3_PROVIDER_URI!,
    CHAIN_ID: world.env.CHAIN_ID ?? '31337',
    JWT_SECRET_KEY: world.env.JWT_SECRET_KEY!,
    AUDIT_HMAC_KEY: world.env.AUDIT_HMAC_KEY!,
    API_KEY_HMAC_KEY: world.env.API_KEY_HMAC_KEY!,
    WORKFLOW_BUNDLE_PATH: world.bundlePath,
    HOST: '127.0.0.1',
    ...(role === 'api' ? { PORT: String(port), OPS_PORT: String(await getFreePort()) } : { WORKER_HEALTH_PORT: String(port) }),
    ...(options.env ?? {}),
  };
  // Logs go straight to a file: a pipe through the bench would let a busy load generator
  // stall the application's synchronous log writes and show up as latency.
  fs.mkdirSync(world.logDir, { recursive: true });
  const logFile = path.join(world.logDir, `${role}.log`);
  const fd = fs.openSync(logFile, 'a', 0o600);
  const probeFile = path.join(world.workDir, `${role}-probe.json`);
  env.BENCH_PROBE_FILE = probeFile;
  // The heap limit the product runs with (dev, tests, compose); BENCH_NODE_ARGS can override it.
  const productFlags = appNodeFlags(role === 'api' ? 'api' : 'worker');
  const child = spawn(process.execPath, [...productFlags, ...(options.nodeArgs ?? []), '--import', 'tsx', '--import', './bench/lib/probe.mjs', entry], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', fd, fd],
    detached: true,
  });
  fs.closeSync(fd);
  const pid = child.pid ?? -1;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  let gone = false;
  void exited.then(() => (gone = true));
  // A pidfile beside the stack's, so a later run reaps this process if the bench is killed.
  const pidFile = world.runDir && pid > 0 ? path.join(world.runDir, `bench-${role}.pid`) : undefined;
  if (pidFile) fs.writeFileSync(pidFile, JSON.stringify({ pid, launcherPid: process.pid, name: `bench-${role}`, command: process.execPath, startedAt: new Date().toISOString() }));
  const logTail = (lines = 30) => {
    try {
      return fs.readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (!gone) {
        signal(pid, 'SIGTERM');
        await Promise.race([exited, sleep(15_000)]);
        if (!gone) signal(-pid, 'SIGKILL');
        await exited;
      }
      signal(-pid, 'SIGKILL'); // anything the process left in its group
      if (pidFile) fs.rmSync(pidFile, { force: true });
    })();
    return stopping;
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (gone) throw new Error(`${role} exited while starting:\n${logTail()}`);
    if (await httpOk(`${url}/readyz`, 1000).catch(() => false)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${role} did not become ready within 120 s:\n${logTail()}`);
    }
    await sleep(250);
  }
  const pgTotals = () => {
    try {
      return JSON.parse(fs.readFileSync(probeFile, 'utf8')) as ProbeReading;
    } catch {
      return undefined;
    }
  };
  return { name: role, pid, port, url, logFile, logTail, pgTotals, stop };
}

function signal(pid: number, sig: NodeJS.Signals) {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}
