/**
 * `npm test` (and `npm run test:proof`): one throwaway stack per run, shared by every
 * test file.
 *
 *   npm test                              lint + typecheck + every *.test.ts under test/ (except test/proof/)
 *   npm test -- test/unit/foo.test.ts     only these files (or directories)
 *   npm test -- --no-lint                 skip lint and typecheck
 *   npm run test:proof                    the proof suite, test/proof/
 *
 * Steps: lint and typecheck run alongside the stack start (PostgreSQL, Temporal, OpenBao,
 * anvil on free ports in /var/tmp/countersign-test-XXXXXX); migrations run once; the
 * workflow code is bundled once (WORKFLOW_BUNDLE_PATH); when black-box, browser or proof
 * tests are selected, the real API and worker run too (COUNTERSIGN_API_URL,
 * COUNTERSIGN_WORKER_URL; web/dist is rebuilt first if stale for browser tests); then the
 * Node test runner runs the files, two at a time. Everything is torn down at the end — also on failure and on
 * SIGINT/SIGTERM. The very last line is `N passed, N failed`; lint, typecheck, migration
 * and bundling each count as one more passed or failed check. Exit code 0 only if
 * nothing failed. On failure the components' logs are copied to test-results/stack-logs/.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startApps, type Apps } from './infra/apps';
import { buildServer } from './build';
import { REPO_ROOT, temporalTestServerBinary } from './infra/paths';
import { getFreePort } from './infra/process';
import { startStack, type Stack } from './infra/stack';
import { addTotals, formatSummary, parseTapTotals, type Totals } from './infra/test-summary';
import { resetSummary } from '../test/proof/support/summary';
import { ensureWebBuilt, webAppExists } from './infra/web';

interface Args {
  proof: boolean;
  lint: boolean;
  filters: string[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { proof: false, lint: true, filters: [] };
  for (const arg of argv) {
    if (arg === '--proof') args.proof = true;
    else if (arg === '--no-lint') args.lint = false;
    else if (arg.startsWith('--')) throw new Error(`unknown option ${arg} (known: --proof, --no-lint)`);
    else args.filters.push(arg);
  }
  return args;
}

const say = (message: string) => process.stdout.write(`[test] ${message}\n`);

// ---------------------------------------------------------------------------------------------
// Child processes, killable as a group on interrupt

const running = new Set<ChildProcess>();

interface RunResult {
  code: number;
  output: string;
}

function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; capture: boolean }): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: REPO_ROOT,
      env: options.env ?? process.env,
      stdio: ['ignore', options.capture ? 'pipe' : 'inherit', options.capture ? 'pipe' : 'inherit'],
      // Own process group: a terminal Ctrl-C reaches us, and we stop it (and its children) ourselves.
      detached: true,
    });
    running.add(child);
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (error) => {
      running.delete(child);
      resolve({ code: 127, output: `${output}${error.message}\n` });
    });
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve({ code: code ?? (signal ? 128 + 15 : 1), output });
    });
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* gone */
  }
}

async function killAll(): Promise<void> {
  const children = [...running];
  children.forEach((c) => killGroup(c, 'SIGTERM'));
  const deadline = Date.now() + 10_000;
  while (running.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  [...running].forEach((c) => killGroup(c, 'SIGKILL'));
}

// ---------------------------------------------------------------------------------------------
// Test files

function collectTests(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  if (fs.statSync(dir).isFile()) return [dir];
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.test.ts') && !file.split(path.sep).includes('node_modules'))
    .map((file) => path.join(dir, file))
    .sort();
}

function selectTestFiles(args: Args): string[] {
  const testRoot = path.join(REPO_ROOT, 'test');
  if (args.filters.length > 0) {
    return args.filters.flatMap((filter) => {
      const full = path.resolve(REPO_ROOT, filter);
      if (!fs.existsSync(full)) throw new Error(`no such test file or directory: ${filter}`);
      return collectTests(full);
    });
  }
  if (args.proof) return collectTests(path.join(testRoot, 'proof'));
  const proofDir = path.join(testRoot, 'proof') + path.sep;
  return collectTests(testRoot).filter((file) => !file.startsWith(proofDir));
}

// ---------------------------------------------------------------------------------------------
// Steps

/** The stack's `countersign` database, as its owner: what the real API and worker processes use. */
async function migrate(env: Record<string, string>): Promise<void> {
  const { migrateAsOwner } = await import('./infra/schema');
  const { applied, unmapped } = await migrateAsOwner(env, 'countersign-test-harness');
  say(`migrations applied (${applied.length})${unmapped.length > 0 ? `; not granted to anyone (lib/db-roles.ts): ${unmapped.join(', ')}` : ''}`);
}

/** Bundles workflows/index.ts once; every test worker loads the same prebuilt bundle. */
async function bundleWorkflows(outDir: string): Promise<string | undefined> {
  const workflowsPath = path.join(REPO_ROOT, 'workflows', 'index.ts');
  if (!fs.existsSync(workflowsPath)) {
    say('workflows/index.ts does not exist yet — no workflow bundle (WORKFLOW_BUNDLE_PATH unset)');
    return undefined;
  }
  // The same bundle the worker builds (the OpenTelemetry workflow interceptors included).
  const { bundleWorkflows: bundleWithInterceptors } = await import('../lib/workflow-bundle');
  const started = Date.now();
  const bundle = await bundleWithInterceptors({ logger: quietBundlerLogger() });
  const file = path.join(outDir, 'workflow-bundle.js');
  fs.writeFileSync(file, bundle.code);
  say(`workflow code bundled in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return file;
}

function quietBundlerLogger() {
  const noop = () => {};
  const warn = (message: string) => say(`bundler: ${message}`);
  return { trace: noop, debug: noop, info: noop, warn, error: warn, log: noop };
}

interface Check {
  name: string;
  ok: boolean;
  detail?: string;
}

async function lintAndTypecheck(): Promise<Check[]> {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const [lint, typecheck] = await Promise.all([
    run(npm, ['run', '--silent', 'lint'], { capture: true }),
    run(npm, ['run', '--silent', 'typecheck'], { capture: true }),
  ]);
  return [
    { name: 'lint', ok: lint.code === 0, detail: lint.output },
    { name: 'typecheck', ok: typecheck.code === 0, detail: typecheck.output },
  ];
}

/** Flags shared by the test files and the API/worker processes the harness runs for them. */
const TEST_FLAGS = { NODE_ENV: 'test', KEYSTORE: 'vault', ALLOW_TEST_CLOCK: 'true', WEBHOOK_ALLOW_LOOPBACK: 'true' } as const;

function testEnv(stack: Stack, bundlePath: string | undefined, apps: Apps | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Tests pick the API or the worker credential explicitly; no ambient Vault identity.
  // …and no ambient database: each test connects as the role it means (test/support/db.ts).
  for (const key of ['DATABASE_URL', 'VAULT_TOKEN', 'VAULT_ROLE_ID', 'VAULT_SECRET_ID', 'WORKFLOW_BUNDLE_PATH', 'COUNTERSIGN_API_URL', 'COUNTERSIGN_WORKER_URL', 'COUNTERSIGN_API_OPS_URL']) {
    delete env[key];
  }
  Object.assign(env, stack.env, TEST_FLAGS, {
    TEMPORAL_TEST_SERVER_PATH: temporalTestServerBinary(),
    COUNTERSIGN_TEST_DIR: stack.dataDir,
  });
  if (bundlePath) env.WORKFLOW_BUNDLE_PATH = bundlePath;
  if (apps) {
    env.COUNTERSIGN_API_URL = apps.apiUrl;
    env.COUNTERSIGN_WORKER_URL = apps.workerUrl;
    env.COUNTERSIGN_API_OPS_URL = apps.apiOpsUrl;
    env.COUNTERSIGN_API_PID = String(apps.api.pid);
    env.COUNTERSIGN_WORKER_PID = String(apps.worker.pid);
  }
  return env;
}

const relative = (file: string) => path.relative(REPO_ROOT, file).split(path.sep).join('/');
/** Black-box, browser and proof tests talk to real API and worker processes. */
const needsApps = (files: string[]) => files.some((f) => /^test\/(blackbox|browser|proof)\//.test(relative(f)));
/** Black-box files whose assertions are deltas of the shared API's and worker's counters. */
const readsSharedCounters = (file: string) => relative(file) === 'test/blackbox/metrics.test.ts';
const needsWeb = (files: string[]) => webAppExists() && files.some((f) => relative(f).startsWith('test/browser/'));

/**
 * The real API and worker, on free ports and their own task queue (integration tests use random ones),
 * compiled as for production (`node dist/…`, scripts/build.ts): the black-box and browser tests exercise
 * the build the container image runs.
 */
async function startTestApps(stack: Stack, bundlePath: string | undefined): Promise<Apps> {
  const built = Date.now();
  await buildServer({ workflows: bundlePath === undefined });
  say(`compiled the API and worker into dist/ in ${((Date.now() - built) / 1000).toFixed(1)} s`);
  const apps = startApps({
    compiled: true,
    stack,
    apiPort: await getFreePort(),
    workerPort: await getFreePort(),
    opsPort: await getFreePort(),
    env: {
      ...TEST_FLAGS,
      TEMPORAL_TASK_QUEUE: `countersign-e2e-${randomBytes(4).toString('hex')}`,
      ...(bundlePath ? { WORKFLOW_BUNDLE_PATH: bundlePath } : {}),
    },
  });
  const started = Date.now();
  await apps.ready.catch(async (error: unknown) => {
    await apps.stop();
    throw error;
  });
  say(`API (${apps.apiUrl}) and worker (${apps.workerUrl}) ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return apps;
}

async function runTests(files: string[], env: NodeJS.ProcessEnv, tapFile: string, budgetMs: number): Promise<Totals> {
  if (files.length === 0) {
    say('no test files found');
    return { passed: 0, failed: 0 };
  }
  say(`running ${files.length} test file(s)`);
  const args = [
    '--import', 'tsx',
    '--test',
    '--test-concurrency=2',
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=tap', `--test-reporter-destination=${tapFile}`,
    ...files.map((f) => path.relative(REPO_ROOT, f)),
  ];
  let timedOut = false;
  const watchdog = setTimeout(() => {
    timedOut = true;
    say(`the test run exceeded its ${Math.round(budgetMs / 60_000)}-minute budget — stopping it`);
    void killAll();
  }, budgetMs);
  const result = await run(process.execPath, args, { env, capture: false });
  clearTimeout(watchdog);
  const tap = fs.existsSync(tapFile) ? fs.readFileSync(tapFile, 'utf8') : '';
  const totals = parseTapTotals(tap) ?? { passed: 0, failed: 0 };
  if ((result.code !== 0 || timedOut) && totals.failed === 0) {
    say(`the test runner exited with code ${result.code} without reporting a failed test; counting it as one failure`);
    totals.failed += 1;
  }
  return totals;
}

function keepLogs(stack: Stack | undefined): void {
  if (!stack || !fs.existsSync(stack.logDir)) return;
  const target = path.join(REPO_ROOT, 'test-results', 'stack-logs');
  fs.rmSync(target, { recursive: true, force: true });
  fs.mkdirSync(target, { recursive: true });
  fs.cpSync(stack.logDir, target, { recursive: true });
  say(`component logs copied to ${path.relative(REPO_ROOT, target)}/`);
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const budgetMs = Number(process.env.TEST_TIMEOUT_MINUTES ?? 25) * 60_000;
  let totals: Totals = { passed: 0, failed: 0 };
  let stack: Stack | undefined;
  let apps: Apps | undefined;
  let interrupted: NodeJS.Signals | undefined;

  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = signal;
    say(`${signal}: stopping tests and tearing the stack down`);
    void killAll();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);

  const count = (check: Check) => {
    totals = addTotals(totals, check.ok ? { passed: 1, failed: 0 } : { passed: 0, failed: 1 });
    if (!check.ok) say(`${check.name} FAILED${check.detail ? `:\n${check.detail.trimEnd()}` : ''}`);
    else say(`${check.name} passed`);
  };

  if (args.proof) resetSummary();
  try {
    const files = selectTestFiles(args);
    const checks = args.lint ? lintAndTypecheck() : Promise.resolve<Check[]>([]);
    const web = needsWeb(files)
      ? ensureWebBuilt({ logDir: path.join(REPO_ROOT, 'test-results'), note: say }).then(
          () => undefined,
          (error: unknown) => ({ name: 'web app build', ok: false, detail: (error as Error).message }) satisfies Check,
        )
      : Promise.resolve(undefined);
    say('starting a throwaway stack (PostgreSQL, Temporal, OpenBao, anvil)…');
    const started = Date.now();
    try {
      stack = await startStack({ mode: 'test', note: (m) => say(m) });
      say(`stack ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${stack.dataDir})`);
    } catch (error) {
      count({ name: 'stack start', ok: false, detail: (error as Error).message });
    }
    let ready = stack !== undefined;
    let bundlePath: string | undefined;
    if (ready && !interrupted) {
      try {
        await migrate(stack!.env);
      } catch (error) {
        count({ name: 'migrations', ok: false, detail: (error as Error).stack ?? String(error) });
        ready = false;
      }
    }
    if (ready && !interrupted) {
      try {
        bundlePath = await bundleWorkflows(stack!.dataDir);
      } catch (error) {
        count({ name: 'workflow bundle', ok: false, detail: (error as Error).message });
      }
    }
    const webFailure = await web;
    if (webFailure) count(webFailure);
    if (ready && stack && !interrupted && needsApps(files)) {
      try {
        apps = await startTestApps(stack, bundlePath);
      } catch (error) {
        count({ name: 'API and worker start', ok: false, detail: (error as Error).message });
      }
    }
    for (const check of await checks) count(check);
    if (ready && stack && !interrupted) {
      // Files that count the shared API's process-wide metrics run after the rest, alone: another
      // file's requests in the same window would be counted too.
      const alone = files.filter(readsSharedCounters);
      const together = files.filter((f) => !readsSharedCounters(f));
      // Both runs share the one budget; the second starts only if the first left time and no signal came.
      const env = testEnv(stack, bundlePath, apps);
      const deadline = Date.now() + budgetMs;
      if (together.length > 0 || alone.length === 0) totals = addTotals(totals, await runTests(together, env, path.join(stack.dataDir, 'results.tap'), budgetMs));
      if (alone.length > 0 && !interrupted && Date.now() < deadline) {
        totals = addTotals(totals, await runTests(alone, env, path.join(stack.dataDir, 'results-alone.tap'), deadline - Date.now()));
      }
    }
  } catch (error) {
    say((error as Error).message);
    totals.failed += 1;
  } finally {
    await killAll();
    if (apps) await apps.stop();
    if (stack) {
      if (totals.failed > 0) keepLogs(stack);
      say('stopping the stack…');
      await stopStack(stack);
    }
  }
  if (args.proof) {
    // The proof table: faults, requests, approved, on chain — and the columns that must be zero.
    const table = spawnSync(process.execPath, ['--import', 'tsx', 'test/proof/support/print-summary.ts'], { cwd: REPO_ROOT, stdio: 'inherit' });
    count({ name: 'proof summary (duplicates, losses, unapproved signatures, server errors all zero)', ok: table.status === 0 });
  }
  if (interrupted) totals.failed = Math.max(totals.failed, 1);
  process.stdout.write(`${formatSummary(totals)}\n`);
  if (interrupted) return interrupted === 'SIGINT' ? 130 : 143;
  return totals.failed > 0 ? 1 : 0;
}

async function stopStack(stack: Stack): Promise<void> {
  try {
    await stack.stop();
  } catch (error) {
    say(`stack stop: ${(error as Error).message}`);
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stdout.write(`[test] ${(error as Error).stack ?? String(error)}\n0 passed, 1 failed\n`);
    process.exit(1);
  },
);
