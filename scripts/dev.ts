/**
 * `npm run dev`: the whole service on real components, data kept under .data/.
 *
 * Starts PostgreSQL (5433), Temporal (7233, UI 8233), OpenBao (8200) and anvil (8545) —
 * or uses DATABASE_URL / TEMPORAL_ADDRESS / VAULT_ADDR / WEB3_PROVIDER_URI from the
 * environment or .env — then migrates the schema as its owner (the apps' own database roles
 * cannot; lib/db-roles.ts), starts the worker (health on WORKER_HEALTH_PORT, 3001) and the API
 * (PORT, 3000), waits for each /readyz, prints the URLs and streams every log line
 * prefixed by its component. Ctrl-C / SIGTERM stops API → worker → Temporal/anvil/OpenBao
 * → PostgreSQL. A component that fails to start ends it with that component's log tail.
 *
 * The web app (web/dist) is rebuilt first when its sources changed.
 * Credentials: see scripts/infra/apps.ts (each process gets only its own Vault token).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { devDataDir, logDirOf, REPO_ROOT, runDirOf } from './infra/paths';
import { devPostgresDataPath } from './infra/postgres';
import { missingAppEntries, startApps, type Apps } from './infra/apps';
import { assertPortsFree, ComponentError, linePrefix, runningLauncher, StackRunningError, type ExitInfo, type Handle } from './infra/process';
import { migrateAsOwner } from './infra/schema';
import { startStack, type Stack } from './infra/stack';
import { unmappedTableHint } from '../lib/db-roles';
import type { TemporalHandle } from './infra/temporal';
import { ensureWebBuilt } from './infra/web';

const say = (message: string) => process.stdout.write(`${linePrefix('dev')} ${message}\n`);

/** .env fills in what the shell did not set (the shell wins, as in the apps' dotenv). */
function loadDotEnv(): void {
  const file = path.join(REPO_ROOT, '.env');
  if (!fs.existsSync(file)) return;
  for (const [key, value] of Object.entries(parseDotenv(fs.readFileSync(file)))) {
    if (process.env[key] === undefined) process.env[key] = value;
  }
}

function banner(stack: Stack, apiPort: number, workerPort: number, opsPort: number): string {
  const temporal = stack.handles.find((h) => h.name === 'temporal') as TemporalHandle | undefined;
  const rows: Array<[string, string]> = [
    ['API', `http://127.0.0.1:${apiPort}`],
    ['OpenAPI', `http://127.0.0.1:${apiPort}/openapi.json`],
    ['Web app', `http://127.0.0.1:${apiPort}/`],
    ['Temporal UI', temporal?.uiUrl ?? '(external Temporal)'],
    ['Worker health', `http://127.0.0.1:${workerPort}/readyz (metrics: /metrics)`],
    ['API metrics', `http://127.0.0.1:${opsPort}/metrics`],
    ['Codec server', `http://127.0.0.1:${opsPort}/codec (Authorization: Bearer <CODEC_OPERATOR_TOKEN in .data/secrets.json>)`],
    ['PostgreSQL', `${redact(stack.env.API_DATABASE_URL ?? '')} (API; worker ${userOf(stack.env.WORKER_DATABASE_URL)}, migrations ${userOf(stack.env.MIGRATION_DATABASE_URL)})`],
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

function userOf(url: string | undefined): string {
  try {
    return decodeURIComponent(new URL(url ?? '').username);
  } catch {
    return '?';
  }
}

function describeExit(info: ExitInfo): string {
  return info.signal ? `signal ${info.signal}` : `exit code ${info.code}`;
}

async function main(): Promise<number> {
  loadDotEnv();
  const apiPort = Number(process.env.PORT || 3000);
  const workerPort = Number(process.env.WORKER_HEALTH_PORT || 3001);
  const opsPort = Number(process.env.OPS_PORT || 3002);
  const missing = missingAppEntries();
  if (missing.length > 0) {
    say(`${missing.join(' and ')} do(es) not exist yet — nothing to run on top of the stack`);
    return 1;
  }

  let stack: Stack | undefined;
  let apps: Apps | undefined;
  let stopping: Promise<void> | undefined;
  let firstSignalAt = 0;

  const shutdown = (): Promise<void> => {
    stopping ??= (async () => {
      // API first (no new requests), then the worker, then the stack (PostgreSQL last).
      if (apps) {
        say('stopping the API, then the worker…');
        await apps.stop();
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
    await assertPortsFree('api operations', [opsPort], '127.0.0.1', 'set OPS_PORT to use another');
    say('starting PostgreSQL, Temporal, OpenBao and anvil…');
    const startingStack = startStack({ mode: 'dev', dataDir: devDataDir(), console: true, note: say });
    const web = ensureWebBuilt({ logDir: logDirOf(devDataDir()), note: say }).catch((error: unknown) => {
      say(`the web app did not build; the API serves a placeholder page at / (${(error as Error).message.split('\n')[0]})`);
      return false;
    });
    const first = await Promise.race([startingStack.then(() => undefined), signalled]);
    stack = await startingStack;
    if (first) return 0;
    await web;

    say(`migrating the schema as ${userOf(stack.env.MIGRATION_DATABASE_URL)}…`);
    const migrated = await migrateAsOwner(stack.env, 'countersign-dev-migrate');
    say(migrated.applied.length > 0 ? `migrations applied: ${migrated.applied.join(', ')}` : 'the schema is up to date');
    for (const table of migrated.unmapped) say(`WARNING ${unmappedTableHint(table)}`);

    apps = startApps({
      stack,
      apiPort,
      workerPort,
      opsPort,
      console: true,
      env: {
        NODE_ENV: 'development',
        KEYSTORE: 'vault',
        WEBHOOK_ALLOW_LOOPBACK: 'true',
        // The dev Temporal UI may call the codec server from the operator's browser.
        CODEC_CORS_ORIGINS: process.env.CODEC_CORS_ORIGINS || 'http://127.0.0.1:8233,http://localhost:8233',
      },
    });
    say('waiting for the worker and the API to report ready (/readyz)…');
    const interrupted = await Promise.race([apps.ready.then(() => undefined), signalled]);
    if (interrupted) return 0;
    process.stdout.write(`${banner(stack, apiPort, workerPort, opsPort)}\n`);

    // Run until a signal, or until anything we started dies on its own.
    const watched = [apps.api, apps.worker].map((p) => ({ name: p.name, exited: p.exited, tail: () => p.logTail() }));
    watched.push(...stack.handles.flatMap(watchable));
    const outcome = await Promise.race([signalled.then(() => undefined), ...watched.map((w) => w.exited.then((info) => ({ ...w, info })))]);
    if (!outcome || stopping) return 0;
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
