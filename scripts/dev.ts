/**
 * `npm run dev`: the whole service on real components, data kept under .data/.
 *
 * Starts PostgreSQL (5433), Temporal (7233, UI 8233), OpenBao (8200) and anvil (8545) —
 * or uses DATABASE_URL / TEMPORAL_ADDRESS / VAULT_ADDR / WEB3_PROVIDER_URI from the
 * environment or .env — then the worker (health on WORKER_HEALTH_PORT, 3001) and the API
 * (PORT, 3000), waits for each /readyz, prints the URLs and streams every log line
 * prefixed by its component. Ctrl-C / SIGTERM stops API → worker → Temporal/anvil/OpenBao
 * → PostgreSQL. A component that fails to start ends it with that component's log tail.
 *
 * Credentials: the API process gets only the encrypt-side Vault token, the worker only
 * the decrypt-side one; neither sees the operator token or the OpenBao root token.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { devDataDir, REPO_ROOT, runDirOf } from './infra/paths';
import { devPostgresDataPath } from './infra/postgres';
import {
  assertPortsFree,
  ComponentError,
  httpOk,
  linePrefix,
  runningLauncher,
  spawnManaged,
  StackRunningError,
  waitUntilReady,
  type ExitInfo,
  type Handle,
  type ManagedProcess,
} from './infra/process';
import { startStack, type Stack } from './infra/stack';
import type { TemporalHandle } from './infra/temporal';

const say = (message: string) => process.stdout.write(`${linePrefix('dev')} ${message}\n`);

/** .env fills in what the shell did not set (the shell wins, as in the apps' dotenv). */
function loadDotEnv(): void {
  const file = path.join(REPO_ROOT, '.env');
  if (!fs.existsSync(file)) return;
  for (const [key, value] of Object.entries(parseDotenv(fs.readFileSync(file)))) {
    if (process.env[key] === undefined) process.env[key] = value;
  }
}

const VAULT_SECRETS = [
  'VAULT_API_TOKEN',
  'VAULT_WORKER_TOKEN',
  'VAULT_OPERATOR_TOKEN',
  'VAULT_ROOT_TOKEN',
  'VAULT_API_ROLE_ID',
  'VAULT_API_SECRET_ID',
  'VAULT_WORKER_ROLE_ID',
  'VAULT_WORKER_SECRET_ID',
] as const;

type Role = 'api' | 'worker';

/**
 * The Vault identity of one process. Values are set to '' rather than deleted because the
 * apps load .env themselves and dotenv never overrides a variable that exists.
 */
function vaultIdentity(env: Record<string, string | undefined>, role: Role): Record<string, string> {
  const upper = role === 'api' ? 'API' : 'WORKER';
  const scrubbed: Record<string, string> = Object.fromEntries(VAULT_SECRETS.map((key) => [key, '']));
  const token = env[`VAULT_${upper}_TOKEN`];
  if (token) return { ...scrubbed, VAULT_TOKEN: token, VAULT_ROLE_ID: '', VAULT_SECRET_ID: '' };
  const roleId = env[`VAULT_${upper}_ROLE_ID`];
  const secretId = env[`VAULT_${upper}_SECRET_ID`];
  if (roleId && secretId) return { ...scrubbed, VAULT_TOKEN: '', VAULT_ROLE_ID: roleId, VAULT_SECRET_ID: secretId };
  if (env.VAULT_TOKEN || (env.VAULT_ROLE_ID && env.VAULT_SECRET_ID)) return scrubbed; // the user's own single identity, from .env
  throw new Error(
    `VAULT_ADDR points at an external Vault but no credential for the ${role} is set: set VAULT_${upper}_TOKEN (or VAULT_${upper}_ROLE_ID + VAULT_${upper}_SECRET_ID)`,
  );
}

interface App {
  name: Role;
  entry: string;
  port: number;
  portVar: 'PORT' | 'WORKER_HEALTH_PORT';
}

function startApp(app: App, stack: Stack): ManagedProcess {
  const env = {
    ...process.env,
    ...stack.env,
    ...vaultIdentity({ ...process.env, ...stack.env }, app.name),
    NODE_ENV: 'development',
    KEYSTORE: 'vault',
    WEBHOOK_ALLOW_LOOPBACK: 'true',
    [app.portVar]: String(app.port),
  };
  return spawnManaged({
    name: app.name,
    command: path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
    args: [app.entry],
    cwd: REPO_ROOT,
    env,
    logDir: stack.logDir,
    runDir: stack.runDir,
    console: true,
  });
}

function banner(stack: Stack, apiPort: number, workerPort: number): string {
  const temporal = stack.handles.find((h) => h.name === 'temporal') as TemporalHandle | undefined;
  const rows: Array<[string, string]> = [
    ['API', `http://127.0.0.1:${apiPort}`],
    ['OpenAPI', `http://127.0.0.1:${apiPort}/openapi.json`],
    ['Web app', `http://127.0.0.1:${apiPort}/`],
    ['Temporal UI', temporal?.uiUrl ?? '(external Temporal)'],
    ['Worker health', `http://127.0.0.1:${workerPort}/readyz`],
    ['PostgreSQL', redact(stack.env.DATABASE_URL ?? '')],
    ['Temporal', stack.env.TEMPORAL_ADDRESS ?? ''],
    ['OpenBao', stack.env.VAULT_ADDR ?? ''],
    ['Chain', `${stack.env.WEB3_PROVIDER_URI} (chain id ${stack.env.CHAIN_ID})`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    '',
    'Countersign is running:',
    ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
    '',
    `Data: ${path.relative(REPO_ROOT, stack.dataDir) || '.'}/ (PostgreSQL: ${devPostgresDataPath(stack.dataDir)}), logs: ${path.relative(REPO_ROOT, stack.logDir)}/`,
    'Press Ctrl-C to stop. `npm run dev:reset` deletes all dev data.',
    '',
  ].join('\n');
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

function describeExit(info: ExitInfo): string {
  return info.signal ? `signal ${info.signal}` : `exit code ${info.code}`;
}

async function main(): Promise<number> {
  loadDotEnv();
  const apiPort = Number(process.env.PORT || 3000);
  const workerPort = Number(process.env.WORKER_HEALTH_PORT || 3001);
  const apps: App[] = [
    { name: 'worker', entry: 'worker/main.ts', port: workerPort, portVar: 'WORKER_HEALTH_PORT' },
    { name: 'api', entry: 'api/server.ts', port: apiPort, portVar: 'PORT' },
  ];
  for (const app of apps) {
    if (!fs.existsSync(path.join(REPO_ROOT, app.entry))) {
      say(`${app.entry} does not exist — the ${app.name} cannot start`);
      return 1;
    }
  }

  let stack: Stack | undefined;
  const running: ManagedProcess[] = [];
  let stopping: Promise<void> | undefined;
  let firstSignalAt = 0;

  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      // API first (no new requests), then the worker, then the stack (PostgreSQL last).
      for (const name of ['api', 'worker'] as const) {
        const proc = running.find((p) => p.name === name);
        if (proc && !proc.exitInfo()) {
          say(`stopping ${name}…`);
          await proc.stop();
        }
      }
      if (stack) {
        say('stopping Temporal, anvil, OpenBao, then PostgreSQL…');
        await stack.stop();
      }
    })();
    return stopping;
  };

  let resolveSignal: (signal: NodeJS.Signals) => void = () => {};
  const signalled = new Promise<NodeJS.Signals>((resolve) => (resolveSignal = resolve));
  const onSignal = (signal: NodeJS.Signals) => {
    const now = Date.now();
    // The terminal and the wrappers (npm, bootstrap, tsx) may each deliver the same Ctrl-C.
    if (firstSignalAt && now - firstSignalAt < 2000) return;
    if (firstSignalAt) {
      say('still stopping — anything that does not exit gets SIGKILL after 20 s');
      return;
    }
    firstSignalAt = now;
    say(`${signal} received: stopping…`);
    resolveSignal(signal);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);

  try {
    const other = runningLauncher(runDirOf(devDataDir()));
    if (other) {
      throw new StackRunningError(
        `a dev stack is already running from this checkout (pid ${other.pid}, since ${other.startedAt}) — use it, or stop it first (Ctrl-C in its terminal, or kill ${other.pid})`,
      );
    }
    await assertPortsFree('api', [apiPort], '127.0.0.1', 'set PORT to use another');
    await assertPortsFree('worker', [workerPort], '127.0.0.1', 'set WORKER_HEALTH_PORT to use another');
    say('starting PostgreSQL, Temporal, OpenBao and anvil…');
    const startingStack = startStack({ mode: 'dev', dataDir: devDataDir(), console: true, note: say });
    const first = await Promise.race([startingStack.then(() => undefined), signalled]);
    stack = await startingStack;
    if (first) return 0;

    for (const app of apps) running.push(startApp(app, stack));
    say('waiting for the worker and the API to report ready (/readyz)…');
    const ready = Promise.all(
      running.map((proc) => {
        const app = apps.find((a) => a.name === proc.name)!;
        return waitUntilReady(proc, () => httpOk(`http://127.0.0.1:${app.port}/readyz`), {
          timeoutMs: 180_000,
          what: `GET http://127.0.0.1:${app.port}/readyz`,
        });
      }),
    );
    const interrupted = await Promise.race([ready.then(() => undefined), signalled]);
    if (interrupted) return 0;
    process.stdout.write(`${banner(stack, apiPort, workerPort)}\n`);

    // Run until a signal, or until anything we started dies on its own.
    const watched = [...running.map((p) => ({ name: p.name, exited: p.exited, tail: () => p.logTail() })), ...stack.handles.flatMap(watchable)];
    const outcome = await Promise.race([
      signalled.then(() => undefined),
      ...watched.map((w) => w.exited.then((info) => ({ ...w, info }))),
    ]);
    if (!outcome) return 0;
    if (stopping) return 0;
    say(`${outcome.name} exited unexpectedly (${describeExit(outcome.info)}) — stopping everything`);
    process.stderr.write(`${new ComponentError(outcome.name, 'last lines before it stopped', outcome.tail()).message}\n`);
    return 1;
  } catch (error) {
    process.stderr.write(`\n${(error as Error).message}\n\n`);
    return 1;
  } finally {
    await shutdown();
    say('stopped.');
  }
}

function watchable(handle: Handle): Array<{ name: string; exited: Promise<ExitInfo>; tail: () => string }> {
  return handle.exited ? [{ name: handle.name, exited: handle.exited, tail: () => handle.logTail() }] : [];
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
