/**
 * `npm run admin` against the real stack: the CLI itself (scripts/admin.ts,
 * a child process with the operator's credentials) finds a request whose
 * workflow never started, re-drives it, shows it, cancels another before
 * signing, freezes an agent (its key stops working) and a wallet, re-sends a
 * failed webhook delivery with the same delivery id, and verifies the audit
 * chain. An operator's command can only stop a request: the database refuses
 * any other.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startTestApp, type TestApp } from '../support/app';
import { requireEnv } from '../support/db';
import { call, expectStatus, newAgent, newUser, newWallet, randomAddress, waitForStatus } from '../support/actors';
import { DELIVERY_HEADER } from '../../domains/webhooks';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

let app: TestApp;
/** While set, the API's workflow starts are dropped, as by an API that died right after its commit. */
let dropStarts = false;
before(async () => {
  app = await startTestApp({ wrapWorkflows: (workflows) => ({ ...workflows, start: async (input, attributes) => (dropStarts ? 'started' : workflows.start(input, attributes)) }) });
});
after(async () => {
  await app?.stop();
});

/** The CLI as an operator runs it: the owner's URL, and the API's Temporal and key-store credentials. */
async function admin(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    ...process.env,
    NODE_ENV: 'test',
    MIGRATION_DATABASE_URL: app.database.url,
    DATABASE_URL: app.database.api.url,
    TEMPORAL_TASK_QUEUE: app.taskQueue,
    KEYSTORE: 'vault',
    VAULT_TOKEN: requireEnv('VAULT_API_TOKEN'),
  };
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'admin.ts'), ...args, '--operator', 'test-operator'], { cwd: ROOT, env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function adminJson<T>(...args: string[]): Promise<T> {
  const result = await admin(...args, '--json');
  assert.equal(result.code, 0, `admin ${args.join(' ')}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

async function party() {
  const owner = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner);
  const agent = await newAgent(app.url, owner, [wallet]);
  return { owner, wallet, agent };
}

async function prepare(p: Awaited<ReturnType<typeof party>>) {
  const prepared = await call<{ transaction_id: string; digest: string }>(app.url, 'POST', '/api/prepare_transaction', {
    apiKey: p.agent.apiKey,
    body: { wallet_address: p.wallet, kind: 'native', to_address: randomAddress(), amount: '1000' },
  });
  expectStatus(prepared, 202, 'prepare');
  return { id: prepared.body.transaction_id, digest: prepared.body.digest };
}

const auditActions = async (subjectId: string) => (await app.database.db('audit_events').where({ subject_id: subjectId }).orderBy('id').pluck('action')) as string[];

test('stuck lists a request whose workflow never started; redrive starts it; show tells its story', { timeout: 120_000 }, async () => {
  const p = await party();
  dropStarts = true;
  const orphan = await prepare(p).finally(() => {
    dropStarts = false;
  });

  const stuck = await adminJson<Array<{ id: string; status: string; workflow: string }>>('stuck', '--older-than', '0', '--status', 'pending_approval');
  const listed = stuck.find((r) => r.id === orphan.id);
  assert.ok(listed, 'the orphan is listed');
  assert.equal(listed.status, 'pending_approval');
  assert.equal(listed.workflow, 'missing');

  const report = await adminJson<{ checked: number; started: string[] }>('redrive', '--grace', '0');
  assert.ok(report.started.includes(orphan.id), 'redrive started its workflow');

  const shown = await adminJson<{ request: { id: string; status: string }; events: Array<{ status: string }>; workflow: { state: string; historyLength: number } }>('show', orphan.id);
  assert.equal(shown.request.id, orphan.id);
  assert.deepEqual(shown.events.map((e) => e.status), ['pending_approval']);
  assert.equal(shown.workflow.state, 'RUNNING');
  assert.ok(shown.workflow.historyLength > 0);
  const text = await admin('show', orphan.id);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /workflow RUNNING/);

  // The re-driven request is a real one: the owner's approval reaches it.
  const approved = await call(app.url, 'POST', '/api/authorize_transaction', {
    token: p.owner.token,
    body: { transaction_id: orphan.id, digest: orphan.digest, mfa_code: await p.owner.nextCode() },
  });
  expectStatus(approved, 200, 'approve the re-driven request');
  assert.ok((await app.database.db('audit_events').where({ action: 'reconciler.run_by_operator' }).first()), 'the redrive is audited');
});

test('cancel stops a request before signing, audited; the owner can no longer approve it; a second cancel is refused', { timeout: 120_000 }, async () => {
  const p = await party();
  const request = await prepare(p);
  const noReason = await admin('cancel', request.id);
  assert.equal(noReason.code, 2, 'a cancel without --reason is a usage error');
  assert.match(noReason.stderr, /--reason/);

  const cancelled = await admin('cancel', request.id, '--reason', 'suspected compromise of the agent');
  assert.equal(cancelled.code, 0, cancelled.stderr);
  assert.match(cancelled.stdout, /cancelled/);
  await waitForStatus(app.url, { token: p.owner.token }, request.id, ['cancelled'], 10_000);

  const command = await app.database.db('transaction_commands').where({ transaction_id: request.id, kind: 'cancel' }).first();
  assert.equal(command.actor_type, 'operator');
  assert.match(command.reason as string, /^test-operator: suspected compromise/);
  assert.ok((await auditActions(request.id)).includes('transaction.cancelled_by_operator'));

  const approve = await call(app.url, 'POST', '/api/authorize_transaction', {
    token: p.owner.token,
    body: { transaction_id: request.id, digest: request.digest, mfa_code: await p.owner.nextCode() },
  });
  assert.equal(approve.status, 409, 'a cancelled request cannot be approved');
  const again = await admin('cancel', request.id, '--reason', 'twice');
  assert.equal(again.code, 1, 'a second cancel is refused');
  assert.match(again.stderr, /already_decided/);
  const unknown = await admin('cancel', randomUUID(), '--reason', 'x');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /not found/i);
});

test('an operator command other than cancel is refused by the database', async () => {
  const p = await party();
  const request = await prepare(p);
  await assert.rejects(
    app.database.db('transaction_commands').insert({ id: randomUUID(), transaction_id: request.id, kind: 'execute', actor_type: 'operator', actor_id: randomUUID() }),
    /transaction_commands_actor/,
  );
});

test('freeze agent: its key is refused until unfrozen; freeze wallet: a new request is marked, nothing is signed', { timeout: 120_000 }, async () => {
  const p = await party();
  const before = await call(app.url, 'GET', '/api/transactions', { apiKey: p.agent.apiKey });
  expectStatus(before, 200, 'the agent before the freeze');

  const frozen = await admin('freeze', 'agent', p.agent.agentId, '--reason', 'leaked key');
  assert.equal(frozen.code, 0, frozen.stderr);
  assert.equal((await call(app.url, 'GET', '/api/transactions', { apiKey: p.agent.apiKey })).status, 401, 'a frozen agent’s key is refused');
  const listed = await call<{ agents: Array<{ agent_id: string; frozen_at: string | null }> }>(app.url, 'GET', '/api/agents', { token: p.owner.token });
  assert.ok(listed.body.agents.find((a) => a.agent_id === p.agent.agentId)?.frozen_at, 'the owner sees the freeze');
  const twice = await admin('freeze', 'agent', p.agent.agentId, '--reason', 'again');
  assert.match(twice.stdout, /frozen already/);

  const unfrozen = await admin('unfreeze', 'agent', p.agent.agentId, '--reason', 'key rotated');
  assert.equal(unfrozen.code, 0, unfrozen.stderr);
  expectStatus(await call(app.url, 'GET', '/api/transactions', { apiKey: p.agent.apiKey }), 200, 'the agent after the unfreeze');
  const agentActions = (await auditActions(p.agent.agentId)).filter((a) => /^agent\.(un)?frozen$/.test(a));
  assert.deepEqual(agentActions, ['agent.frozen', 'agent.unfrozen'], 'one freeze and one unfreeze audited (the second freeze changed nothing)');

  const walletId = (await app.database.db('wallets').where({ address: p.wallet.toLowerCase() }).first('id')).id as string;
  const frozenWallet = await admin('freeze', 'wallet', walletId, '--reason', 'investigation');
  assert.equal(frozenWallet.code, 0, frozenWallet.stderr);
  const prepared = await call<{ summary: { warnings: string[] } }>(app.url, 'POST', '/api/prepare_transaction', {
    apiKey: p.agent.apiKey,
    body: { wallet_address: p.wallet, kind: 'native', to_address: randomAddress(), amount: '1000' },
  });
  expectStatus(prepared, 202, 'prepare on a frozen wallet');
  assert.ok(prepared.body.summary.warnings.includes('wallet_frozen'));
  assert.equal((await admin('unfreeze', 'wallet', walletId, '--reason', 'cleared')).code, 0);
  assert.equal((await app.database.db('wallets').where({ id: walletId }).first('frozen_at')).frozen_at, null);

  assert.equal((await admin('freeze', 'wallet', randomUUID(), '--reason', 'x')).code, 1, 'an unknown wallet');
  assert.equal((await admin('freeze', 'wallet', 'not-a-uuid', '--reason', 'x')).code, 2, 'not a UUID');
});

test('resend delivers a failed webhook delivery again, with the same delivery id', { timeout: 120_000 }, async () => {
  const received: string[] = [];
  const server = http.createServer((req, res) => {
    received.push(String(req.headers[DELIVERY_HEADER.toLowerCase()]));
    req.resume();
    req.on('end', () => res.writeHead(200).end('ok'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const p = await party();
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    expectStatus(await call(app.url, 'POST', '/api/webhooks', { apiKey: p.agent.apiKey, body: { url } }), 201, 'register a webhook');
    const request = await prepare(p);
    const delivered = async () =>
      (await app.database.db('webhook_deliveries as d').join('transaction_events as e', 'e.id', 'd.event_id').where('e.transaction_id', request.id).select('d.id', 'd.state')) as Array<{ id: string; state: string }>;
    for (const deadline = Date.now() + 30_000; received.length === 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 100));
    const [first] = await delivered();
    assert.ok(first, 'the first event was delivered');
    assert.deepEqual(received, [first.id]);

    // As if every attempt had failed: the operator re-sends.
    await app.database.db('webhook_deliveries').where({ id: first.id }).update({ state: 'failed', attempts: 10, last_error: 'http_500' });
    const resent = await adminJson<{ workflowId: string; versions: number[] }>('resend', request.id, '--wait');
    assert.deepEqual(resent.versions, [1]);
    assert.deepEqual(received, [first.id, first.id], 'the same delivery id again');
    assert.equal((await delivered())[0]!.state, 'delivered');
    const nothing = await adminJson<{ versions: number[] }>('resend', request.id, '--wait');
    assert.deepEqual(nothing.versions, [], 'nothing failed, nothing re-sent');
    assert.equal(received.length, 2);
  } finally {
    server.close();
  }
});

test('audit verify reads the whole chain as the owner', async () => {
  const result = await admin('audit', 'verify');
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /^audit chain OK: \d+ events verify/);
  const truncated = await admin('audit', 'verify', '--expect-count', '999999999');
  assert.equal(truncated.code, 1);
  assert.match(truncated.stdout, /TRUNCATED/);
});

test('usage errors exit 2 and say what is wrong', async () => {
  const unknown = await admin('explode');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command/);
  const badStatus = await admin('stuck', '--status', 'nonsense');
  assert.equal(badStatus.code, 2);
  assert.match(badStatus.stderr, /unknown nonsense/);
});
