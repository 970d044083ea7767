/**
 * `npm run build`: the production build, plain JavaScript under dist/ that runs with `node`
 * alone (no tsx, no TypeScript, no bundler at start-up).
 *
 *   dist/api/server.js, dist/worker/main.js   the two processes
 *   dist/scripts/*.js                         migrate, audit:verify, keys:rotate, history:rotate-key, admin, openbao-setup, backup, restore
 *   dist/migrations/*.js                      loaded by lib/db.ts (recorded under their .ts names)
 *   dist/workflow-bundle.js                   the workflow code, bundled once (the worker loads it)
 *
 * Each entry point is bundled with esbuild, with packages left external (node_modules stays the
 * runtime's), as ESM for Node 20. `npm run build` typechecks first (tsc) and builds the web app;
 * this script itself only compiles. `--no-workflows` skips the workflow bundle (the test harness
 * makes its own).
 */
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { REPO_ROOT } from './infra/paths';

export const DIST = path.join(REPO_ROOT, 'dist');

/** Entry points, relative to the repository root. Paths under dist/ mirror them. */
export const ENTRY_POINTS = ['api/server.ts', 'worker/main.ts', 'scripts/migrate.ts', 'scripts/audit-verify.ts', 'scripts/keys-rotate.ts', 'scripts/history-key-rotate.ts', 'scripts/admin.ts', 'scripts/openbao-setup.ts', 'scripts/backup.ts', 'scripts/restore.ts'];

export const compiledPath = (entry: string) => path.join(DIST, entry.replace(/\.ts$/, '.js'));

function migrationEntries(): string[] {
  return fs
    .readdirSync(path.join(REPO_ROOT, 'migrations'))
    .filter((file) => /^\d+.*\.ts$/.test(file))
    .map((file) => `migrations/${file}`);
}

export async function buildServer(options: { workflows?: boolean } = {}): Promise<void> {
  fs.rmSync(DIST, { recursive: true, force: true });
  await build({
    absWorkingDir: REPO_ROOT,
    entryPoints: [...ENTRY_POINTS, ...migrationEntries()],
    outdir: DIST,
    outbase: '.',
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    logLevel: 'warning',
  });
  // No package.json under dist/: the root's ("type": "module") applies, and lib/app-paths.ts finds the root by it.
  if (options.workflows !== false) {
    // The one way workflows are bundled: with the OpenTelemetry workflow interceptors in it.
    const { bundleWorkflows } = await import('../lib/workflow-bundle');
    const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} } as never;
    const bundle = await bundleWorkflows({ logger: quiet });
    fs.writeFileSync(path.join(DIST, 'workflow-bundle.js'), bundle.code);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const workflows = !process.argv.includes('--no-workflows');
  buildServer({ workflows }).then(
    () => process.stdout.write(`built ${path.relative(REPO_ROOT, DIST)}/ (${ENTRY_POINTS.length} entry points${workflows ? ', workflow bundle' : ''})\n`),
    (error: unknown) => {
      process.stderr.write(`build failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
