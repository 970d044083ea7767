/**
 * The worker as a child process, for crash tests: SIGKILL it (or let a
 * failpoint kill it) and start another against the same task queue.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { REPO_ROOT } from '../../scripts/infra/paths';
import { requireEnv } from './db';
import type { TestApp } from './app';

export interface WorkerProcess {
  child: ChildProcess;
  output: string[];
  /** Resolves with the signal or exit code when the process ends. */
  exited: Promise<NodeJS.Signals | number | null>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function spawnWorker(app: TestApp, options: { failpoint?: 'after_sign' | 'after_broadcast'; env?: Record<string, string> } = {}): Promise<WorkerProcess> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: app.database.worker.url,
    TEMPORAL_ADDRESS: app.config.TEMPORAL_ADDRESS,
    TEMPORAL_NAMESPACE: app.config.TEMPORAL_NAMESPACE,
    TEMPORAL_TASK_QUEUE: app.taskQueue,
    KEYSTORE: 'vault',
    VAULT_ADDR: requireEnv('VAULT_ADDR'),
    VAULT_TOKEN: requireEnv('VAULT_WORKER_TOKEN'),
    WEB3_PROVIDER_URI: requireEnv('WEB3_PROVIDER_URI'),
    JWT_SECRET_KEY: requireEnv('JWT_SECRET_KEY'),
    AUDIT_HMAC_KEY: requireEnv('AUDIT_HMAC_KEY'),
    API_KEY_HMAC_KEY: requireEnv('API_KEY_HMAC_KEY'),
    WORKER_HEALTH_PORT: String(await freePort()),
    ...(process.env.WORKFLOW_BUNDLE_PATH ? { WORKFLOW_BUNDLE_PATH: process.env.WORKFLOW_BUNDLE_PATH } : {}),
    ...(options.failpoint ? { COUNTERSIGN_FAILPOINT: options.failpoint } : {}),
    ...(options.env ?? {}),
  };
  // One process (node with the tsx loader), so a signal reaches the worker itself, not a wrapper.
  const child = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  // Ready when its health port says so.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`worker exited early:\n${output.join('')}`);
    const ok = await fetch(`http://127.0.0.1:${env.WORKER_HEALTH_PORT}/readyz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`worker not ready:\n${output.join('')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child,
    output,
    exited,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
