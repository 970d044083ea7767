/**
 * The long-poll across API replicas: two real API processes (`node --import
 * tsx api/server.ts`, the product's heap limit) on this test's database and
 * task queue, the in-process app's worker behind them. A request held on
 * process A is answered within a second of a change made through process B
 * (the NOTIFY of migration 009 reaches every listener); 200 requests held at
 * once on A keep it within the API's memory target (RSS ≤ 250 MiB), and all
 * of them wake when B changes their transactions.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startTestApp, type TestApp } from '../support/app';
import { call, expectStatus, newAgent, newUser, newWallet, randomAddress, type TestUser } from '../support/actors';
import { spawnProgram, type AppProcess } from '../proof/support/processes';
import { appNodeFlags } from '../../scripts/infra/apps';

/** The API's memory target (README, benchmarks: API peak RSS ≤ 250 MiB). */
const API_RSS_TARGET_MIB = 250;

let app: TestApp;
let apiA: AppProcess;
let apiB: AppProcess;
/** Set up through the in-process app (its test clock makes the TOTP codes). */
let owner: TestUser;
/** The owner's token from a replica, which runs on the real clock. */
let replicaToken: string;
let wallet: string;

before(async () => {
  app = await startTestApp({ env: { JWT_ACCESS_TOKEN_EXPIRES: '1d' } });
  const logDir = path.join(process.env.COUNTERSIGN_TEST_DIR ?? '/tmp', 'logs', 'longpoll-replicas');
  const stack = { env: process.env as Record<string, string>, logDir };
  [apiA, apiB] = await Promise.all([
    // 200 held requests come from one test address: lift the per-address connection cap as the bench does.
    spawnProgram('api', stack, app, { name: 'api-a', nodeFlags: appNodeFlags('api'), env: { HTTP_MAX_CONNECTIONS_PER_ADDRESS: '1000' } }),
    spawnProgram('api', stack, app, { name: 'api-b', nodeFlags: appNodeFlags('api') }),
  ]);
  owner = await newUser(app.url, app.clock);
  wallet = await newWallet(app.url, owner);
  // The replicas run on the real clock: the owner logs in through one of them (password only).
  const login = await call<{ access_token: string }>(apiB.url, 'POST', '/api/login', { body: { username: owner.username, password: owner.password } });
  expectStatus(login, 200, 'login through api-b');
  replicaToken = login.body.access_token;
});

after(async () => {
  await Promise.all([apiA?.kill('SIGTERM'), apiB?.kill('SIGTERM')]);
  await app?.stop();
});

async function prepare(base: string, apiKey: string): Promise<string> {
  const prepared = await call<{ transaction_id: string }>(base, 'POST', '/api/prepare_transaction', {
    apiKey,
    body: { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '1000' },
  });
  expectStatus(prepared, 202, 'prepare');
  return prepared.body.transaction_id;
}

async function hold(base: string, apiKey: string, id: string, seconds: number) {
  const response = await fetch(`${base}/api/transaction_status?transaction_id=${id}&wait=${seconds}&if_status=pending_approval`, { headers: { 'x-api-key': apiKey } });
  const body = (await response.json()) as { status: string; rejection_reason: string | null };
  return { status: response.status, body, at: Date.now() };
}

/** Resident and peak resident memory of a process, from /proc (MiB). */
function memoryMiB(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

describe('long-poll across two API processes', () => {
  test('a request held on API A is answered within 1 s of a rejection made through API B, with the reason', async () => {
    const agent = await newAgent(app.url, owner, [wallet]);
    const id = await prepare(apiA.url, agent.apiKey);
    const held = hold(apiA.url, agent.apiKey, id, 30);
    await new Promise((r) => setTimeout(r, 1_500));
    const sentAt = Date.now();
    expectStatus(await call(apiB.url, 'POST', '/api/reject_transaction', { token: replicaToken, body: { transaction_id: id, reason: 'rejected on the other replica' } }), 200, 'reject through api-b');
    const doneAt = Date.now();
    const answer = await held;
    assert.equal(answer.status, 200);
    assert.equal(answer.body.status, 'rejected');
    assert.equal(answer.body.rejection_reason, 'rejected on the other replica');
    assert.ok(answer.at >= sentAt, 'it was still held when the change was made');
    assert.ok(answer.at - doneAt <= 1_000, `answered ${answer.at - doneAt} ms after the change through api-b had been made`);
  });

  test('200 requests held at once on API A stay within the memory target and all wake when API B changes them', { timeout: 120_000 }, async () => {
    // 25 held requests per agent (the per-principal bound), 8 agents, one pending transaction each.
    const agents = [];
    for (let i = 0; i < 8; i++) agents.push(await newAgent(app.url, owner, [wallet]));
    const ids = await Promise.all(agents.map((a) => prepare(apiB.url, a.apiKey)));
    const before = memoryMiB(apiA.pid);
    const answers: Array<{ status: number; body: { status: string } } | undefined> = [];
    const held = agents.flatMap((agent, i) =>
      Array.from({ length: 25 }, (_, j) => hold(apiA.url, agent.apiKey, ids[i]!, 60).then((a) => (answers[i * 25 + j] = a))),
    );
    assert.equal(held.length, 200);
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(answers.filter(Boolean).length, 0, 'none answered early: all 200 are held');
    const during = memoryMiB(apiA.pid);
    process.stdout.write(`# api-a memory: ${before.rss.toFixed(1)} MiB before, ${during.rss.toFixed(1)} MiB with 200 held (peak ${during.peak.toFixed(1)} MiB)\n`);
    assert.ok(during.peak <= API_RSS_TARGET_MIB, `api-a peak RSS ${during.peak.toFixed(1)} MiB > ${API_RSS_TARGET_MIB} MiB`);

    for (const [i, agent] of agents.entries()) {
      expectStatus(await call(apiB.url, 'POST', `/api/transactions/${ids[i]}/cancel`, { apiKey: agent.apiKey }), 200, 'cancel through api-b');
    }
    await Promise.all(held);
    assert.equal(answers.filter((a) => a?.status === 200 && a.body.status === 'cancelled').length, 200, 'every held request was answered with the change');
  });
});
