/**
 * The real API and worker programs as child processes (`node --import tsx
 * api/server.ts` and `worker/main.ts`), each on its own port, against the same
 * database and task queue as the test's in-process app. Their output goes to
 * a log file in the stack's log folder (kept when the test fails).
 *
 * One process per program (node with the tsx loader, no wrapper), so SIGKILL
 * reaches the program itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import type { FailpointName } from '../../../lib/failpoints';
import { REPO_ROOT } from '../../../scripts/infra/paths';
import { getFreePort } from '../../../scripts/infra/process';
import type { TestApp } from '../../support/app';
import { childLogFile, type ProofStack } from './stack';

export type Program = 'api' | 'worker';

export interface AppProcess {
  program: Program;
  name: string;
  child: ChildProcess;
  pid: number;
  port: number;
  /** API: its base URL; worker: its health URL. */
  url: string;
  logFile: string;
  exited: Promise<NodeJS.Signals | number | null>;
  alive(): boolean;
  /** SIGKILL (no cleanup) or SIGTERM (graceful); resolves when the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<NodeJS.Signals | number | null>;
  tail(lines?: number): string;
}

export interface SpawnOptions {
  name?: string;
  failpoint?: FailpointName;
  env?: Record<string, string>;
  /** Node options before the entry point (e.g. the product's heap limit, scripts/infra/apps.ts). */
  nodeFlags?: string[];
  readyTimeoutMs?: number;
}

/** The environment both programs share: this app's database and task queue, the stack's services. */
function baseEnv(stack: Pick<ProofStack, 'env'>, app: TestApp): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    // No developer .env may leak into a test process.
    DOTENV_CONFIG_PATH: '/dev/null',
    HOST: '127.0.0.1',
    TEMPORAL_ADDRESS: app.config.TEMPORAL_ADDRESS,
    TEMPORAL_NAMESPACE: app.config.TEMPORAL_NAMESPACE,
    TEMPORAL_TASK_QUEUE: app.taskQueue,
    KEYSTORE: 'vault',
    VAULT_ADDR: stack.env.VAULT_ADDR!,
    WEB3_PROVIDER_URI: stack.env.WEB3_PROVIDER_URI!,
    JWT_SECRET_KEY: stack.env.JWT_SECRET_KEY!,
    AUDIT_HMAC_KEY: stack.env.AUDIT_HMAC_KEY!,
    API_KEY_HMAC_KEY: stack.env.API_KEY_HMAC_KEY!,
    WORKFLOW_BUNDLE_PATH: stack.env.WORKFLOW_BUNDLE_PATH!,
    RATE_LIMIT_PER_MINUTE: '100000',
    AGENT_RATE_LIMIT_PER_MINUTE: '100000',
  };
}

export async function spawnProgram(program: Program, stack: Pick<ProofStack, 'env' | 'logDir'>, app: TestApp, options: SpawnOptions = {}): Promise<AppProcess> {
  const port = await getFreePort();
  const env: Record<string, string> = {
    ...baseEnv(stack, app),
    // Each program holds only its own Vault identity and its own database role.
    VAULT_TOKEN: program === 'api' ? stack.env.VAULT_API_TOKEN! : stack.env.VAULT_WORKER_TOKEN!,
    DATABASE_URL: program === 'api' ? app.database.api.url : app.database.worker.url,
    ...(program === 'api' ? { PORT: String(port), WORKER_HEALTH_PORT: String(await getFreePort()) } : { WORKER_HEALTH_PORT: String(port), PORT: String(await getFreePort()) }),
    // Several APIs run at once: each its own operations port (metrics, codec server).
    OPS_PORT: String(await getFreePort()),
    ...(options.failpoint ? { COUNTERSIGN_FAILPOINT: options.failpoint } : {}),
    ...(options.env ?? {}),
  };
  const name = options.name ?? program;
  const logFile = childLogFile(stack, name);
  const log = fs.openSync(logFile, 'a');
  const entry = program === 'api' ? 'api/server.ts' : 'worker/main.ts';
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), '--import', 'tsx', entry], { cwd: REPO_ROOT, env, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  const url = `http://127.0.0.1:${port}`;
  const tail = (lines = 40) => {
    try {
      return fs.readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };
  const alive = () => child.exitCode === null && child.signalCode === null;
  const proc: AppProcess = {
    program,
    name,
    child,
    pid: child.pid ?? -1,
    port,
    url,
    logFile,
    exited,
    alive,
    async kill(signal = 'SIGKILL') {
      if (alive()) child.kill(signal);
      return exited;
    },
    tail,
  };
  // Ready: the API answers /healthz (its /readyz would fail while a fault is injected elsewhere); the worker's /readyz says it polls.
  const probe = program === 'api' ? `${url}/healthz` : `${url}/readyz`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 90_000);
  for (;;) {
    if (!alive()) {
      const how = await exited;
      // An armed worker can meet its failpoint before it reports ready: a retried activity left
      // over from an earlier round runs as soon as it polls. That is the fault being injected.
      if (options.failpoint && how === 'SIGKILL') return proc;
      throw new Error(`${name} exited during start-up (${String(how)}):\n${tail()}`);
    }
    if (await fetch(probe, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false)) break;
    if (Date.now() > deadline) {
      await proc.kill();
      throw new Error(`${name} not ready within ${(options.readyTimeoutMs ?? 90_000) / 1000} s:\n${tail()}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  return proc;
}
