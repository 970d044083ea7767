/**
 * The approval web app (web/, built by Vite into web/dist, served by the API at `/`).
 * web/dist is not committed, so `npm run dev` and the browser tests build it when it is
 * missing or older than its sources (a stamp of their hash, like the bootstrap's).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './paths';
import { ComponentError, ComponentLog } from './process';

const WEB = path.join(REPO_ROOT, 'web');
const DIST = path.join(WEB, 'dist');
const STAMP = path.join(DIST, '.countersign-build-stamp');
/** Relative to web/; the last ones are the backend modules the app imports (one formatter for both). */
const SOURCES = ['src', 'public', 'index.html', 'vite.config.ts', 'tsconfig.json', '../domains/chain/amounts.ts', '../domains/chain/warnings.ts'];

export function webAppExists(): boolean {
  return fs.existsSync(path.join(WEB, 'vite.config.ts'));
}

function listFiles(entry: string): string[] {
  if (!fs.existsSync(entry)) return [];
  if (fs.statSync(entry).isFile()) return [entry];
  return fs
    .readdirSync(entry, { recursive: true, encoding: 'utf8' })
    .map((f) => path.join(entry, f))
    .filter((f) => fs.statSync(f).isFile())
    .sort();
}

/** Hash of everything the build reads (plus the lockfile: a new Vite is a new build). */
export function webSourceHash(): string {
  const hash = createHash('sha256');
  for (const file of [...SOURCES.flatMap((s) => listFiles(path.join(WEB, s))), path.join(REPO_ROOT, 'package-lock.json')]) {
    hash.update(path.relative(REPO_ROOT, file)).update('\0').update(fs.readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}

export function webBuildIsCurrent(): boolean {
  try {
    return fs.readFileSync(STAMP, 'utf8').trim() === webSourceHash() && fs.existsSync(path.join(DIST, 'index.html'));
  } catch {
    return false;
  }
}

/** Builds web/dist unless it is current. Returns false when there is no web app at all. */
export async function ensureWebBuilt(options: { logDir: string; console?: boolean; note?: (m: string) => void }): Promise<boolean> {
  if (!webAppExists()) return false;
  if (webBuildIsCurrent()) return true;
  options.note?.('building the web app (web/dist)…');
  const hash = webSourceHash();
  const log = new ComponentLog('web', path.join(options.logDir, 'web-build.log'), options.console ?? false);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const code = await new Promise<number>((resolve) => {
    const child = spawn(npm, ['run', '--silent', 'build:web'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => log.chunk('out', d));
    child.stderr.on('data', (d: Buffer) => log.chunk('err', d));
    child.on('error', () => resolve(127));
    child.on('close', (c) => resolve(c ?? 1));
  });
  log.close();
  if (code !== 0) throw new ComponentError('web', `npm run build:web failed (exit code ${code})`, log.tail());
  fs.writeFileSync(STAMP, `${hash}\n`);
  return true;
}
