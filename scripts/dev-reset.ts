/**
 * `npm run dev:reset`: delete every piece of dev state — .data/ (Temporal's store with
 * its long-running workflows, OpenBao and its keys, anvil's chain, generated secrets,
 * logs) and the PostgreSQL data, which may live outside .data (see scripts/infra/paths.ts).
 * Refuses while a dev stack is running; stops orphans a crashed run left behind first.
 */
import fs from 'node:fs';
import path from 'node:path';
import { devDataDir, REPO_ROOT, runDirOf, SHARED_TMP } from './infra/paths';
import { devPostgresDataPath } from './infra/postgres';
import { reapOrphans, runningLauncher } from './infra/process';

async function main(): Promise<number> {
  const dataDir = devDataDir();
  const runDir = runDirOf(dataDir);
  const running = runningLauncher(runDir);
  if (running) {
    process.stderr.write(
      `A dev stack is running (pid ${running.pid}, since ${running.startedAt}). Stop it first (Ctrl-C in its terminal, or kill ${running.pid}), then run npm run dev:reset again.\n`,
    );
    return 1;
  }
  if (!fs.existsSync(dataDir)) {
    process.stdout.write('Nothing to reset: .data/ does not exist.\n');
    return 0;
  }
  const reaped = await reapOrphans(runDir, (m) => process.stdout.write(`${m}\n`));
  if (reaped.length > 0) process.stdout.write(`stopped leftovers: ${reaped.join(', ')}\n`);

  const pgData = devPostgresDataPath(dataDir);
  const outside = !pgData.startsWith(dataDir + path.sep);
  // Only ever delete our own directory outside the repo: /var/tmp/countersign-<hash>/.
  if (outside) {
    const parent = path.dirname(pgData);
    if (path.dirname(parent) === SHARED_TMP && path.basename(parent).startsWith('countersign-')) {
      fs.rmSync(parent, { recursive: true, force: true });
      process.stdout.write(`deleted ${parent}\n`);
    }
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
  process.stdout.write(`deleted ${path.relative(REPO_ROOT, dataDir)}/ — the next npm run dev starts from scratch.\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`dev:reset failed: ${(error as Error).message}\n`);
    process.exit(1);
  },
);
