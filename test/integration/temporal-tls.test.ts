/**
 * mTLS between the apps and Temporal (TEMPORAL_TLS_*): certificates from
 * scripts/temporal-certs.sh, the run's real Temporal dev server behind an mTLS
 * front (test/support/tls-terminator.ts: `temporal server start-dev` has no
 * TLS flags), and the real API and worker programs connecting through it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../../config/env';
import { assertSearchAttributes, connectTemporal, temporalTls } from '../../lib/temporal';
import { REPO_ROOT } from '../../scripts/infra/paths';
import { getFreePort } from '../../scripts/infra/process';
import { call, expectStatus } from '../support/actors';
import { freshDatabase, requireEnv, type TestDatabase } from '../support/db';
import { startTlsTerminator, type TlsTerminator } from '../support/tls-terminator';

let dir: string;
let certs: string;
let rogue: string;
let front: TlsTerminator;
let database: TestDatabase;
const children: ChildProcess[] = [];

function makeCerts(out: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('sh', [path.join(REPO_ROOT, 'scripts', 'temporal-certs.sh'), '--out', out, '--days', '2'], (error, _stdout, stderr) =>
      error ? reject(new Error(`temporal-certs.sh failed: ${stderr}`)) : resolve(),
    );
  });
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'temporal-tls-'));
  certs = path.join(dir, 'certs');
  rogue = path.join(dir, 'rogue');
  await Promise.all([makeCerts(certs), makeCerts(rogue)]);
  const file = (name: string) => readFile(path.join(certs, name));
  front = await startTlsTerminator({ target: requireEnv('TEMPORAL_ADDRESS'), cert: await file('server.pem'), key: await file('server.key'), ca: await file('ca.pem') });
  database = await freshDatabase('tls');
});

after(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await front?.close();
  await database?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The TEMPORAL_TLS_* of one process, from a certificate directory. */
function tlsEnv(from: string, client: 'api' | 'worker' | 'operator', serverName = 'temporal'): Record<string, string> {
  return {
    TEMPORAL_TLS_CERT: path.join(from, `${client}.pem`),
    TEMPORAL_TLS_KEY: path.join(from, `${client}.key`),
    TEMPORAL_TLS_CA: path.join(certs, 'ca.pem'),
    TEMPORAL_TLS_SERVER_NAME: serverName,
  };
}

function configWith(extra: Record<string, string>) {
  return loadConfig({
    NODE_ENV: 'test',
    DATABASE_URL: 'postgres://unused@127.0.0.1:1/unused',
    TEMPORAL_ADDRESS: front.address,
    KEYSTORE: 'vault',
    VAULT_ADDR: 'http://127.0.0.1:1',
    VAULT_TOKEN: 'unused',
    JWT_SECRET_KEY: 'j'.repeat(32),
    AUDIT_HMAC_KEY: 'a'.repeat(32),
    API_KEY_HMAC_KEY: 'k'.repeat(32),
    ...extra,
  });
}

/** Connection.connect with the config's TLS, failing fast. */
async function tryConnect(extra: Record<string, string>): Promise<void> {
  const tls = temporalTls(configWith(extra));
  const connection = await Connection.connect({ address: front.address, connectTimeout: '3s', ...(tls ? { tls } : {}) });
  try {
    await connection.healthService.check({});
  } finally {
    await connection.close();
  }
}

describe('the client TLS configuration', () => {
  test('with the API’s certificate: the client and a worker connection get through, and the namespace has its search attributes', async () => {
    const config = configWith(tlsEnv(certs, 'api'));
    const tls = temporalTls(config);
    assert.ok(tls?.clientCertPair && tls.serverRootCACertificate);
    assert.equal(tls.serverNameOverride, 'temporal');
    const { connection } = await connectTemporal({ address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE, tls });
    try {
      assert.equal((await connection.healthService.check({})).status, 1, 'SERVING through mTLS');
      await assertSearchAttributes(connection, config.TEMPORAL_NAMESPACE);
    } finally {
      await connection.close();
    }
    const native = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS, tls });
    await native.close();
    assert.ok(front.accepted.includes('countersign-api'));
  });

  test('refused: no TLS, no client certificate, a certificate of another CA, the wrong server name', async () => {
    const refusedBefore = front.refused.length;
    await assert.rejects(tryConnect({}), 'plaintext to an mTLS server');
    await assert.rejects(tryConnect({ TEMPORAL_TLS_CA: path.join(certs, 'ca.pem'), TEMPORAL_TLS_SERVER_NAME: 'temporal' }), 'TLS without a client certificate');
    await assert.rejects(tryConnect({ ...tlsEnv(rogue, 'worker') }), 'a client certificate another CA signed');
    assert.ok(front.refused.length > refusedBefore, `the server refused the handshakes: ${front.refused.join('; ')}`);
    await assert.rejects(tryConnect(tlsEnv(certs, 'api', 'not-temporal')), 'a server certificate for another name');
  });

  test('configuration errors name the variable and never print a key', async () => {
    assert.throws(() => configWith({ TEMPORAL_TLS_CERT: path.join(certs, 'api.pem') }), /TEMPORAL_TLS_KEY: TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together/);
    assert.throws(() => temporalTls(configWith({ ...tlsEnv(certs, 'api'), TEMPORAL_TLS_CERT: path.join(dir, 'missing.pem') })), /TEMPORAL_TLS_CERT: cannot read .*missing\.pem \(ENOENT\)/);
    assert.throws(() => temporalTls(configWith({ ...tlsEnv(certs, 'api'), TEMPORAL_TLS_CERT: path.join(certs, 'api.key') })), (err: unknown) => {
      assert.match((err as Error).message, /TEMPORAL_TLS_CERT: .*api\.key is not a PEM file of the expected kind/);
      assert.ok(!(err as Error).message.includes('BEGIN'), 'the file content is not echoed');
      return true;
    });
    assert.throws(
      () => configWith({ NODE_ENV: 'production', TEMPORAL_ADDRESS: 'temporal.internal:7233' }),
      /TEMPORAL_TLS_CERT: required in production for a Temporal server off loopback \(temporal\.internal:7233\)/,
    );
    assert.equal(configWith({ NODE_ENV: 'production', TEMPORAL_ADDRESS: '127.0.0.1:7233' }).TEMPORAL_TLS_CERT, undefined, 'loopback may stay plaintext');
    assert.equal(configWith({ NODE_ENV: 'production', TEMPORAL_ADDRESS: 'temporal:7233', ...tlsEnv(certs, 'api') }).TEMPORAL_TLS_SERVER_NAME, 'temporal');
  });
});

describe('the real API and worker programs', () => {
  async function spawnProgram(program: 'api' | 'worker', tls: Record<string, string>, taskQueue: string): Promise<{ child: ChildProcess; url: string; output: string[] }> {
    const port = await getFreePort();
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      DOTENV_CONFIG_PATH: '/dev/null',
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      DATABASE_URL: program === 'api' ? database.api.url : database.worker.url,
      TEMPORAL_ADDRESS: front.address,
      TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE ?? 'default',
      TEMPORAL_TASK_QUEUE: taskQueue,
      KEYSTORE: 'vault',
      VAULT_ADDR: requireEnv('VAULT_ADDR'),
      VAULT_TOKEN: requireEnv(program === 'api' ? 'VAULT_API_TOKEN' : 'VAULT_WORKER_TOKEN'),
      WEB3_PROVIDER_URI: requireEnv('WEB3_PROVIDER_URI'),
      JWT_SECRET_KEY: requireEnv('JWT_SECRET_KEY'),
      AUDIT_HMAC_KEY: requireEnv('AUDIT_HMAC_KEY'),
      API_KEY_HMAC_KEY: requireEnv('API_KEY_HMAC_KEY'),
      ...(process.env.WORKFLOW_BUNDLE_PATH ? { WORKFLOW_BUNDLE_PATH: process.env.WORKFLOW_BUNDLE_PATH } : {}),
      ...(program === 'api' ? { PORT: String(port), WORKER_HEALTH_PORT: String(await getFreePort()) } : { WORKER_HEALTH_PORT: String(port), PORT: String(await getFreePort()) }),
      ...tls,
    };
    const child = spawn(process.execPath, ['--import', 'tsx', program === 'api' ? 'api/server.ts' : 'worker/main.ts'], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const output: string[] = [];
    child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    return { child, url: `http://127.0.0.1:${port}`, output };
  }

  async function untilReady(proc: { child: ChildProcess; url: string; output: string[] }): Promise<void> {
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (proc.child.exitCode !== null) throw new Error(`exited early:\n${proc.output.join('')}`);
      if (await fetch(`${proc.url}/readyz`).then((r) => r.ok, () => false)) return;
      if (Date.now() > deadline) throw new Error(`not ready:\n${proc.output.join('')}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  test('both run through mTLS: a ping goes API → Temporal → worker → PostgreSQL and back', async () => {
    const taskQueue = `tls-${randomBytes(4).toString('hex')}`;
    const worker = await spawnProgram('worker', tlsEnv(certs, 'worker'), taskQueue);
    const api = await spawnProgram('api', tlsEnv(certs, 'api'), taskQueue);
    try {
      await Promise.all([untilReady(worker), untilReady(api)]);
      const username = `tls-${randomBytes(4).toString('hex')}`;
      const password = `pw-${randomBytes(12).toString('hex')}`;
      expectStatus(await call(api.url, 'POST', '/api/register', { body: { username, password } }), 201, 'register');
      const login = await call<{ access_token: string }>(api.url, 'POST', '/api/login', { body: { username, password } });
      expectStatus(login, 200, 'login');
      const ping = await call<{ recorded_by: string }>(api.url, 'POST', '/api/diagnostics/ping', { token: login.body.access_token });
      expectStatus(ping, 200, 'ping through mTLS');
      assert.match(ping.body.recorded_by, /^worker@/);
      assert.ok(front.accepted.includes('countersign-worker') && front.accepted.includes('countersign-api'), front.accepted.join(', '));
    } finally {
      api.child.kill('SIGTERM');
      worker.child.kill('SIGTERM');
      await Promise.all([api, worker].map((p) => (p.child.exitCode === null ? new Promise((r) => p.child.once('exit', r)) : undefined)));
    }
  });

  test('a worker without its certificate does not start against the mTLS server', async () => {
    const worker = await spawnProgram('worker', { TEMPORAL_TLS_CA: path.join(certs, 'ca.pem'), TEMPORAL_TLS_SERVER_NAME: 'temporal' }, `tls-${randomBytes(4).toString('hex')}`);
    // It gives up on its own (a 10 s connect deadline); one that connected would run until killed.
    const code = await new Promise<number | 'still running'>((resolve) => {
      const timer = setTimeout(() => resolve('still running'), 60_000);
      worker.child.once('exit', (exitCode) => {
        clearTimeout(timer);
        resolve(exitCode ?? -1);
      });
    });
    if (code === 'still running') worker.child.kill('SIGKILL');
    assert.equal(code, 1, worker.output.join(''));
    assert.match(worker.output.join(''), /countersign worker: failed to start/);
  });
});
