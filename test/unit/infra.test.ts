import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { databaseIdentity, vaultIdentity } from '../../scripts/infra/apps';
import { POLICIES } from '../../scripts/infra/openbao';
import { traversalBlocker } from '../../scripts/infra/postgres';
import {
  assertPortsFree,
  claimRunDir,
  ComponentError,
  getFreePort,
  isAlive,
  isPortFree,
  PortInUseError,
  portInUseMessage,
  reapOrphans,
  spawnManaged,
  StackRunningError,
  waitUntilReady,
  type PidRecord,
} from '../../scripts/infra/process';
import { diffSearchAttributes } from '../../scripts/infra/temporal';
import { formatSummary, parseTapTotals, SUMMARY_PATTERN } from '../../scripts/infra/test-summary';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'infra-unit-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

function listen(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('ports', () => {
  test('the busy-port message names the component and the port', () => {
    const message = portInUseMessage('temporal', 7233);
    assert.match(message, /^temporal: port 7233 on 127\.0\.0\.1 is already in use/);
    assert.match(portInUseMessage('openbao', 8200, '127.0.0.1', 'or set VAULT_ADDR'), /or set VAULT_ADDR$/);
  });

  test('assertPortsFree throws PortInUseError for a port someone listens on', async () => {
    const port = await getFreePort();
    const server = await listen(port);
    try {
      assert.equal(await isPortFree(port), false);
      await assert.rejects(assertPortsFree('anvil', [port]), (error: unknown) => {
        assert.ok(error instanceof PortInUseError);
        assert.equal(error.component, 'anvil');
        assert.equal(error.port, port);
        assert.match(error.message, new RegExp(`^anvil: port ${port} `));
        return true;
      });
    } finally {
      server.close();
    }
    assert.equal(await isPortFree(port), true);
  });

  test('getFreePort never hands out the same port twice and honours consecutive', async () => {
    const ports = await Promise.all(Array.from({ length: 10 }, () => getFreePort()));
    assert.equal(new Set(ports).size, ports.length);
    const pair = await getFreePort({ consecutive: 2 });
    assert.equal(await isPortFree(pair), true);
    assert.equal(await isPortFree(pair + 1), true);
  });
});

describe('processes', () => {
  test('stop escalates to SIGKILL after the timeout when SIGTERM is ignored', async () => {
    const proc = spawnManaged({
      name: 'stubborn',
      command: '/bin/sh',
      args: ['-c', 'trap "" TERM; echo "trap-$((6*7))"; while true; do sleep 0.1; done'],
      logDir: scratch,
      stopTimeoutMs: 400,
    });
    // The marker is computed by the shell, so the logged command line cannot match it.
    await waitUntilReady(proc, async () => proc.logTail().split('\n').includes('trap-42'), { timeoutMs: 5000, what: 'echo' });
    const result = await proc.stop();
    assert.equal(result.killed, true);
    assert.ok(result.durationMs >= 400, `stopped after ${result.durationMs} ms`);
    assert.ok(result.durationMs < 5000, `stopped after ${result.durationMs} ms`);
    assert.equal(result.exit.signal, 'SIGKILL');
    assert.equal(isAlive(proc.pid), false);
  });

  test('stop is quick and graceful for a process that honours SIGTERM', async () => {
    const proc = spawnManaged({ name: 'polite', command: '/bin/sleep', args: ['30'], logDir: scratch, stopTimeoutMs: 10_000 });
    const result = await proc.stop();
    assert.equal(result.killed, false);
    assert.ok(result.durationMs < 2000);
    assert.equal(result.exit.signal, 'SIGTERM');
    // Idempotent.
    assert.deepEqual((await proc.stop()).exit, result.exit);
  });

  test('a component that dies during start-up fails the wait at once, with its log tail', async () => {
    const proc = spawnManaged({ name: 'broken', command: '/bin/sh', args: ['-c', 'echo "fatal: bad config"; exit 3'], logDir: scratch });
    const started = Date.now();
    await assert.rejects(
      waitUntilReady(proc, async () => false, { timeoutMs: 30_000, what: 'probe' }),
      (error: unknown) => {
        assert.ok(error instanceof ComponentError);
        assert.match(error.message, /^broken: exited during start-up \(exit code 3\)/);
        assert.match(error.message, /fatal: bad config/);
        return true;
      },
    );
    assert.ok(Date.now() - started < 5000);
    assert.match(fs.readFileSync(path.join(scratch, 'broken.log'), 'utf8'), /fatal: bad config/);
  });

  test('a component that never gets ready times out with the last probe error (never hangs)', async () => {
    const proc = spawnManaged({ name: 'silent', command: '/bin/sleep', args: ['30'], logDir: scratch });
    try {
      await assert.rejects(
        waitUntilReady(proc, async () => Promise.reject(new Error('connection refused')), { timeoutMs: 500, what: 'GET /health' }),
        (error: unknown) => {
          assert.ok(error instanceof ComponentError);
          assert.match(error.message, /^silent: not ready after 1 s \(GET \/health: connection refused\)/);
          return true;
        },
      );
    } finally {
      await proc.stop();
    }
  });

  test('reapOrphans stops processes whose launcher is gone and removes their pidfiles', async () => {
    const runDir = path.join(scratch, 'run-orphans');
    const proc = spawnManaged({ name: 'orphan', command: '/bin/sleep', args: ['30'], logDir: scratch, runDir });
    const pidFile = path.join(runDir, 'orphan.pid');
    const record = JSON.parse(fs.readFileSync(pidFile, 'utf8')) as PidRecord;
    assert.equal(record.pid, proc.pid);
    // Pretend a crashed launcher wrote it: pid 2^22 is beyond pid_max on default systems.
    fs.writeFileSync(pidFile, JSON.stringify({ ...record, launcherPid: 4_194_304 + 1 }));
    const reaped = await reapOrphans(runDir);
    assert.deepEqual(reaped, ['orphan']);
    await proc.exited;
    assert.equal(isAlive(proc.pid), false);
    assert.equal(fs.existsSync(pidFile), false);
  });

  test('claimRunDir refuses while another live launcher holds the directory', async () => {
    const runDir = path.join(scratch, 'run-claimed');
    fs.mkdirSync(runDir, { recursive: true });
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      fs.writeFileSync(path.join(runDir, 'launcher.json'), JSON.stringify({ pid: other.pid, mode: 'dev', startedAt: 'then' }));
      assert.throws(() => claimRunDir(runDir, 'dev'), (error: unknown) => {
        assert.ok(error instanceof StackRunningError);
        assert.match(error.message, new RegExp(`a dev stack is already running .*launcher pid ${other.pid}`));
        return true;
      });
    } finally {
      other.kill('SIGKILL');
    }
    await new Promise((resolve) => other.once('exit', resolve));
    // Its launcher is dead now: the claim succeeds and release removes the record.
    const release = claimRunDir(runDir, 'dev');
    assert.equal((JSON.parse(fs.readFileSync(path.join(runDir, 'launcher.json'), 'utf8')) as { pid: number }).pid, process.pid);
    release();
    assert.equal(fs.existsSync(path.join(runDir, 'launcher.json')), false);
  });
});

describe('postgres directory traversal', () => {
  const pgUid = 101;
  const pgGid = 104;
  const dir = (p: string, mode: number, uid = 0, gid = 0) => ({ path: p, mode: 0o040000 | mode, uid, gid });

  test('a 0700 root-owned directory (mktemp -d, /root) blocks the postgres user', () => {
    const chain = [dir('/', 0o755), dir('/tmp', 0o1777), dir('/tmp/tmp.abc', 0o700), dir('/tmp/tmp.abc/.data', 0o755)];
    assert.equal(traversalBlocker(chain, pgUid, [pgGid]), '/tmp/tmp.abc');
  });

  test('execute for others, for the group, or ownership is enough', () => {
    assert.equal(traversalBlocker([dir('/', 0o755), dir('/var/tmp/x', 0o711)], pgUid, [pgGid]), undefined);
    assert.equal(traversalBlocker([dir('/', 0o755), dir('/srv', 0o750, 0, pgGid)], pgUid, [pgGid]), undefined);
    assert.equal(traversalBlocker([dir('/', 0o755), dir('/srv/pg', 0o700, pgUid, pgGid)], pgUid, [pgGid]), undefined);
    assert.equal(traversalBlocker([dir('/', 0o755), dir('/srv', 0o750, 0, 0)], pgUid, [pgGid]), '/srv');
  });
});

describe('test summary', () => {
  test('totals come from the TAP footer; cancelled counts as failed', () => {
    const tap = ['TAP version 13', 'ok 1 - a', 'not ok 2 - b', '1..2', '# tests 5', '# suites 1', '# pass 3', '# fail 1', '# cancelled 1', '# skipped 0', '# todo 0', '# duration_ms 12.5'].join('\n');
    assert.deepEqual(parseTapTotals(tap), { passed: 3, failed: 2 });
    assert.equal(parseTapTotals('TAP version 13\nok 1 - a\n'), undefined);
  });

  test('the last line CI reads is exactly "N passed, N failed"', () => {
    assert.equal(formatSummary({ passed: 12, failed: 0 }), '12 passed, 0 failed');
    assert.match(formatSummary({ passed: 0, failed: 3 }), SUMMARY_PATTERN);
  });
});

describe('temporal search attributes', () => {
  test('missing and mistyped attributes are both reported', () => {
    const KEYWORD = 2;
    const INT = 3;
    const all = {
      CountersignStatus: KEYWORD,
      CountersignWallet: KEYWORD,
      CountersignAgent: KEYWORD,
      CountersignOwner: KEYWORD,
      CountersignTxHash: KEYWORD,
      CountersignChainId: INT,
      CountersignAmount: KEYWORD,
      CountersignFailure: KEYWORD,
    };
    assert.deepEqual(diffSearchAttributes(all), { missing: [], wrongType: [] });
    const { CountersignTxHash: _dropped, ...partial } = all;
    assert.deepEqual(diffSearchAttributes({ ...partial, CountersignChainId: KEYWORD }), { missing: ['CountersignTxHash'], wrongType: ['CountersignChainId'] });
  });
});

describe('vault policies', () => {
  test('the API may encrypt wallet keys but never decrypt them; the worker the reverse', () => {
    const api = POLICIES['countersign-api'];
    const worker = POLICIES['countersign-worker'];
    assert.match(api, /path "transit\/encrypt\/countersign-wallets"/);
    assert.doesNotMatch(api, /transit\/decrypt\/countersign-wallets/);
    assert.match(worker, /path "transit\/decrypt\/countersign-wallets"/);
    // The worker encrypts nothing but the payload codec's data keys (which open no wallet key).
    assert.doesNotMatch(worker.replace(/path "transit\/encrypt\/countersign-history"/g, ''), /transit\/encrypt\//);
    for (const policy of [api, worker]) {
      assert.match(policy, /path "transit\/encrypt\/countersign-history"/);
      assert.match(policy, /path "transit\/decrypt\/countersign-history"/);
    }
    assert.doesNotMatch(`${api}\n${worker}`, /\*|sudo|"transit\/keys/);
  });
});

describe('app process credentials', () => {
  const stackEnv = {
    VAULT_ADDR: 'http://127.0.0.1:8200',
    VAULT_API_TOKEN: 'api-token',
    VAULT_WORKER_TOKEN: 'worker-token',
    VAULT_OPERATOR_TOKEN: 'operator-token',
    VAULT_ROOT_TOKEN: 'root-token',
    VAULT_API_ROLE_ID: 'api-role',
    VAULT_API_SECRET_ID: 'api-secret',
    VAULT_WORKER_ROLE_ID: 'worker-role',
    VAULT_WORKER_SECRET_ID: 'worker-secret',
  };

  test('the API gets only its own token; every other Vault credential is blanked', () => {
    const api = vaultIdentity(stackEnv, 'api');
    assert.equal(api.VAULT_TOKEN, 'api-token');
    const leaked = Object.values({ ...stackEnv, ...api }).filter((v) => /worker|operator|root/.test(v));
    assert.deepEqual(leaked, []);
  });

  test('the worker gets only its own token', () => {
    const worker = vaultIdentity(stackEnv, 'worker');
    assert.equal(worker.VAULT_TOKEN, 'worker-token');
    const leaked = Object.values({ ...stackEnv, ...worker }).filter((v) => /api-|operator|root/.test(v));
    assert.deepEqual(leaked, []);
  });

  test('an external Vault without a per-process credential is refused by name', () => {
    assert.throws(() => vaultIdentity({ VAULT_ADDR: 'https://vault.example' }, 'worker'), /set VAULT_WORKER_TOKEN/);
    assert.deepEqual(vaultIdentity({ VAULT_ADDR: 'https://vault.example', VAULT_WORKER_ROLE_ID: 'r', VAULT_WORKER_SECRET_ID: 's' }, 'worker').VAULT_ROLE_ID, 'r');
  });
});

describe('database identity of the API and worker processes', () => {
  const stackEnv = {
    POSTGRES_ADMIN_URL: 'postgres://postgres:admin-pw@127.0.0.1:5433/countersign',
    MIGRATION_DATABASE_URL: 'postgres://countersign_owner:owner-pw@127.0.0.1:5433/countersign',
    API_DATABASE_URL: 'postgres://countersign_api:api-pw@127.0.0.1:5433/countersign',
    WORKER_DATABASE_URL: 'postgres://countersign_worker:worker-pw@127.0.0.1:5433/countersign',
  };

  test('each process gets its own role as DATABASE_URL and no other URL (dotenv cannot fill in a blanked one)', () => {
    for (const [role, own, others] of [
      ['api', stackEnv.API_DATABASE_URL, /admin-pw|owner-pw|worker-pw/],
      ['worker', stackEnv.WORKER_DATABASE_URL, /admin-pw|owner-pw|api-pw/],
    ] as const) {
      const identity = databaseIdentity(stackEnv, role);
      assert.equal(identity.DATABASE_URL, own);
      assert.deepEqual(Object.values({ ...stackEnv, ...identity }).filter((v) => others.test(v)), [], role);
      for (const key of Object.keys(stackEnv)) assert.equal(identity[key], '', `${role}: ${key} blanked`);
    }
    assert.throws(() => databaseIdentity({}, 'worker'), /no database URL for the worker/);
  });
});
