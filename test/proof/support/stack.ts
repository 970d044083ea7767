/**
 * A private stack for one fault-injection test file: the components that file
 * stops, restarts, seals or kills run here, on their own free ports and data
 * directory, so the faults never reach the run's shared stack (other test
 * files keep using it). Components not asked for come from the shared run's
 * environment when there is one (`npm run test:proof`), and are started
 * privately too otherwise (`npx tsx --test test/proof/faults-….test.ts`).
 *
 * Every private component keeps its state across a restart, as in production:
 *   PostgreSQL  same data directory and port, durable settings (fast shutdown, or SIGKILL of the postmaster)
 *   Temporal    dev server with a persistent --db-filename (SQLite)
 *   OpenBao     raft storage + static seal (auto-unseals on start); `seal()` / `unseal()`
 *               with the root token and recovery key kept in the stack's data directory
 *   anvil       --state file, dumped on a clean exit and every 5 s
 *
 * `applyToProcessEnv()` points everything that reads process.env
 * (test/support/app.ts, worker-process.ts, actors.ts) at this stack.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startAnvil } from '../../../scripts/infra/anvil';
import { createBaoApi, startOpenBao } from '../../../scripts/infra/openbao';
import { REPO_ROOT } from '../../../scripts/infra/paths';
import { startPostgres } from '../../../scripts/infra/postgres';
import { claimRunDir, delay, getFreePort, isAlive, withTimeout, type Handle } from '../../../scripts/infra/process';
import { createTestDataDir } from '../../../scripts/infra/stack';
import { generateSecrets } from '../../../scripts/infra/secrets';
import { startTemporal } from '../../../scripts/infra/temporal';
import { startChainProxy, type ChainProxy } from './chain-proxy';

export type ComponentName = 'postgres' | 'temporal' | 'openbao' | 'anvil';
const ALL: ComponentName[] = ['postgres', 'temporal', 'openbao', 'anvil'];

export interface ProofStackOptions {
  /** Used for log folders (test-results/proof-logs/<name>/). */
  name: string;
  /** Components started privately for this file (default: all four). */
  private?: ComponentName[];
  /** Put a controllable JSON-RPC proxy between the application and anvil. */
  chainProxy?: boolean;
  note?: (message: string) => void;
}

export interface ProofStack {
  dir: string;
  /** Everything an API or worker process needs (services, credentials, app secrets, bundle). */
  env: Record<string, string>;
  privateComponents: ReadonlySet<ComponentName>;
  /** anvil itself (never through the proxy): for assertions and test-side RPC. */
  anvilUrl: string;
  proxy?: ChainProxy;
  applyToProcessEnv(): void;
  isRunning(name: ComponentName): boolean;
  /** Stops one private component the way an operator would (PostgreSQL: fast shutdown). */
  stop(name: ComponentName): Promise<void>;
  /** SIGKILLs one private component's process (PostgreSQL: only the postmaster, as a crash would). */
  kill(name: ComponentName): Promise<void>;
  /** Starts it again: same port, same data. */
  start(name: ComponentName): Promise<void>;
  /** OpenBao: PUT sys/seal with the root token. */
  seal(): Promise<void>;
  /** OpenBao: PUT sys/unseal with the recovery key, then waits until it is active. */
  unseal(): Promise<void>;
  /** JSON-RPC straight to anvil. */
  rpc<T = unknown>(method: string, params?: unknown[]): Promise<T>;
  logDir: string;
  /** Stops everything; keeps the logs under test-results/proof-logs/<name>/ when `failed`. */
  close(options?: { failed?: boolean }): Promise<void>;
}

interface Slot {
  handle?: Handle;
  start: () => Promise<Handle>;
}

/** One prebuilt workflow bundle for every worker this file starts (a worker process bundling on its own takes seconds of CPU). */
async function ensureWorkflowBundle(dir: string): Promise<string> {
  const prebuilt = process.env.WORKFLOW_BUNDLE_PATH;
  if (prebuilt && fs.existsSync(prebuilt)) return prebuilt;
  const { bundleWorkflows } = await import('../../../lib/workflow-bundle');
  const noop = () => {};
  const bundle = await bundleWorkflows({ logger: { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop } as never });
  const file = path.join(dir, 'workflow-bundle.js');
  fs.writeFileSync(file, bundle.code);
  return file;
}

const SHARED_KEYS: Record<ComponentName, string[]> = {
  postgres: ['POSTGRES_ADMIN_URL', 'MIGRATION_DATABASE_URL', 'API_DATABASE_URL', 'WORKER_DATABASE_URL', 'DATABASE_API_ROLE', 'DATABASE_WORKER_ROLE'],
  temporal: ['TEMPORAL_ADDRESS'],
  openbao: ['VAULT_ADDR', 'VAULT_API_TOKEN', 'VAULT_WORKER_TOKEN'],
  anvil: ['WEB3_PROVIDER_URI'],
};

export async function startProofStack(options: ProofStackOptions): Promise<ProofStack> {
  const note = options.note ?? (() => {});
  const wanted = new Set(options.private ?? ALL);
  // A component the run does not provide is started privately as well.
  for (const name of ALL) if (!wanted.has(name) && SHARED_KEYS[name].some((key) => !process.env[key])) wanted.add(name);

  const dir = createTestDataDir();
  const runDir = path.join(dir, 'run');
  const logDir = path.join(dir, 'logs');
  const release = claimRunDir(runDir, 'proof');
  const common = { dataDir: dir, runDir, logDir };
  const secrets = generateSecrets();

  const slots = new Map<ComponentName, Slot>();
  const env: Record<string, string> = {};
  let rootToken: string | undefined;
  let recoveryKey: string | undefined;
  let openbaoAddress: string | undefined;

  if (wanted.has('postgres')) {
    const port = await getFreePort();
    // 'dev' mode: durable (the test mode runs with fsync and synchronous_commit off, and a crash
    // then loses commits the application was told had happened — not the production setting).
    slots.set('postgres', { start: () => startPostgres({ ...common, mode: 'dev', password: secrets.postgresPassword, rolePasswords: secrets.databaseRoles, port }) });
  }
  if (wanted.has('temporal')) {
    const [port, uiPort] = [await getFreePort(), await getFreePort()];
    // 'dev' mode is the one with a persistent SQLite file (the UI comes with it, on a free port).
    slots.set('temporal', { start: () => startTemporal({ ...common, mode: 'dev', port, uiPort }) });
  }
  if (wanted.has('openbao')) {
    const port = await getFreePort({ consecutive: 2 });
    // 'dev' mode: raft storage + static seal, initialised once, credentials kept across restarts.
    slots.set('openbao', { start: () => startOpenBao({ ...common, mode: 'dev', port }) });
  }
  if (wanted.has('anvil')) {
    const port = await getFreePort();
    slots.set('anvil', { start: () => startAnvil({ ...common, mode: 'dev', port }) });
  }

  const startSlot = async (name: ComponentName) => {
    const slot = slots.get(name)!;
    const started = Date.now();
    slot.handle = await slot.start();
    note(`${name} up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    Object.assign(env, slot.handle.env);
  };

  let proxy: ChainProxy | undefined;
  const closeAll = async () => {
    await proxy?.close();
    const stops = ['temporal', 'anvil', 'openbao'].map((n) => slots.get(n as ComponentName)?.handle?.stop());
    await Promise.allSettled(stops);
    await slots.get('postgres')?.handle?.stop();
  };

  /**
   * First start. OpenBao's first start initialises raft, and its leader election can take
   * longer than the launcher's 10 s sys/init request (seen about once in six starts): a fresh
   * OpenBao gets two more tries on a clean directory. Restarts never wipe anything.
   */
  const firstStart = async (name: ComponentName) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await startSlot(name);
      } catch (error) {
        if (name !== 'openbao' || attempt >= 3) throw error;
        note(`openbao did not come up (${(error as Error).message.split('\n')[0]}); retrying on a clean directory`);
        fs.rmSync(path.join(dir, 'openbao'), { recursive: true, force: true });
      }
    }
  };

  try {
    const [, bundlePath] = await Promise.all([Promise.all([...slots.keys()].map(firstStart)), ensureWorkflowBundle(dir)]);
    env.WORKFLOW_BUNDLE_PATH = bundlePath;
  } catch (error) {
    await closeAll();
    release();
    throw error;
  }

  for (const name of ALL) {
    if (wanted.has(name)) continue;
    const optional = { temporal: ['TEMPORAL_NAMESPACE'], anvil: ['CHAIN_ID'], openbao: ['VAULT_ROOT_TOKEN'], postgres: [] }[name];
    for (const key of [...SHARED_KEYS[name], ...optional]) {
      if (process.env[key]) env[key] = process.env[key]!;
    }
  }
  env.TEMPORAL_NAMESPACE ??= 'default';
  env.CHAIN_ID ??= '31337';
  // App secrets: the run's when there is one (nothing depends on them being shared), else fresh.
  for (const key of ['JWT_SECRET_KEY', 'AUDIT_HMAC_KEY', 'API_KEY_HMAC_KEY'] as const) env[key] = process.env[key] ?? secrets.app[key];

  if (wanted.has('openbao')) {
    openbaoAddress = env.VAULT_ADDR!;
    const init = JSON.parse(fs.readFileSync(path.join(dir, 'openbao', 'init.json'), 'utf8')) as { root_token: string; recovery_keys_b64?: string[] };
    rootToken = init.root_token;
    recoveryKey = init.recovery_keys_b64?.[0];
    env.VAULT_ROOT_TOKEN = rootToken;
  }

  const anvilUrl = env.WEB3_PROVIDER_URI!;
  if (options.chainProxy) {
    proxy = await startChainProxy(anvilUrl);
    env.WEB3_PROVIDER_URI = proxy.url;
  }

  const requirePrivate = (name: ComponentName) => {
    const slot = slots.get(name);
    if (!slot) throw new Error(`${name} is not private to this test file; faults may only touch private components`);
    return slot;
  };

  const pidOf = (name: ComponentName): number | undefined => {
    try {
      return (JSON.parse(fs.readFileSync(path.join(runDir, `${name}.pid`), 'utf8')) as { pid: number }).pid;
    } catch {
      return undefined;
    }
  };

  const rpc = async <T>(method: string, params: unknown[] = []): Promise<T> => {
    const response = await fetch(anvilUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await response.json()) as { result?: T; error?: { message: string } };
    if (body.error) throw new Error(`${method}: ${body.error.message}`);
    return body.result as T;
  };

  const bao = () => createBaoApi(openbaoAddress!, rootToken);

  let closed: Promise<void> | undefined;
  return {
    dir,
    env,
    privateComponents: new Set(slots.keys()),
    anvilUrl,
    ...(proxy ? { proxy } : {}),
    logDir,
    applyToProcessEnv() {
      Object.assign(process.env, env);
    },
    isRunning(name) {
      const slot = slots.get(name);
      return slot?.handle !== undefined;
    },
    async stop(name) {
      const slot = requirePrivate(name);
      await slot.handle?.stop();
      slot.handle = undefined;
    },
    async kill(name) {
      const slot = requirePrivate(name);
      const pid = pidOf(name);
      if (!slot.handle || pid === undefined) throw new Error(`${name} is not running`);
      process.kill(pid, 'SIGKILL');
      await withTimeout<unknown>(slot.handle.exited ?? Promise.resolve(), 10_000);
      // The postmaster's children notice it is gone and exit on their own; wait for the port's owner to go.
      const deadline = Date.now() + 10_000;
      while (isAlive(pid) && Date.now() < deadline) await delay(50);
      await slot.handle.stop();
      slot.handle = undefined;
    },
    async start(name) {
      const slot = requirePrivate(name);
      if (slot.handle) return;
      // A port just released by a killed process may take a moment to be bindable again.
      for (let attempt = 1; ; attempt++) {
        try {
          await startSlot(name);
          return;
        } catch (error) {
          if (attempt >= 5 || !/already in use/.test((error as Error).message)) throw error;
          await delay(500 * attempt);
        }
      }
    },
    async seal() {
      requirePrivate('openbao');
      await bao().request('PUT', 'sys/seal');
    },
    async unseal() {
      requirePrivate('openbao');
      if (!recoveryKey) throw new Error('no recovery key recorded for the private OpenBao');
      await bao().request('PUT', 'sys/unseal', { key: recoveryKey });
      const deadline = Date.now() + 30_000;
      while ((await bao().healthStatus().catch(() => 0)) !== 200) {
        if (Date.now() > deadline) throw new Error('OpenBao did not become active within 30 s of unsealing');
        await delay(100);
      }
    },
    rpc,
    close(closeOptions = {}) {
      closed ??= (async () => {
        await closeAll();
        if (closeOptions.failed || process.env.KEEP_TEST_DATA) {
          const target = path.join(REPO_ROOT, 'test-results', 'proof-logs', options.name.replace(/[^A-Za-z0-9._-]+/g, '-'));
          fs.rmSync(target, { recursive: true, force: true });
          fs.mkdirSync(target, { recursive: true });
          if (fs.existsSync(logDir)) fs.cpSync(logDir, target, { recursive: true });
          note(`component logs kept in ${path.relative(REPO_ROOT, target)}/`);
        }
        release();
        if (!process.env.KEEP_TEST_DATA) fs.rmSync(dir, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}

/** A log file in the stack's log folder, for child processes the test starts (API, workers). */
export function childLogFile(stack: Pick<ProofStack, 'logDir'>, name: string): string {
  fs.mkdirSync(stack.logDir, { recursive: true });
  return path.join(stack.logDir, `${name}-${randomBytes(3).toString('hex')}.log`);
}
