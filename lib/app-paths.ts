/**
 * Where the application's files are, whether it runs from source (tsx, `npm run dev`, the
 * tests) or from the compiled build (`node dist/…`, the container image): the application
 * root is the nearest directory above this module with a package.json, and the build puts
 * everything it compiles under <root>/dist.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);

/** True in the compiled build: this module was bundled into a .js file under dist/. */
export const COMPILED = here.endsWith('.js');

function findRoot(from: string): string {
  for (let dir = path.dirname(from); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const APP_ROOT = findRoot(here);
/** The compiled build (scripts/build.ts). */
export const DIST_DIR = path.join(APP_ROOT, 'dist');
/** Migrations: TypeScript from source, JavaScript in the build. */
export const MIGRATIONS_DIR = COMPILED ? path.join(DIST_DIR, 'migrations') : path.join(APP_ROOT, 'migrations');
/** The workflow code: a prebuilt bundle in the build (no bundler at start-up), the sources otherwise. */
export const WORKFLOWS_SOURCE = path.join(APP_ROOT, 'workflows', 'index.ts');
export const WORKFLOW_BUNDLE = path.join(DIST_DIR, 'workflow-bundle.js');
/** The approval web app, built by Vite. */
export const WEB_DIST = path.join(APP_ROOT, 'web', 'dist');
export const DATA_DIR = path.join(APP_ROOT, 'data');
