/**
 * GET /api/transaction_status?wait=N (domains/transactions/status-wait.ts,
 * domains/events/waiters.ts) against the real stack: it answers at once when
 * the caller is behind, holds until the status changes otherwise (woken by the
 * NOTIFY of migration 009, not by polling), carries version and last_event_id
 * consistent with GET /api/events, is bounded per principal, and lets go of a
 * client that leaves. Across API processes: transactions-longpoll-replicas.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApp, type TestApp } from '../support/app';
import { call, expectStatus, newAgent, newUser, newWallet, randomAddress, type TestUser } from '../support/actors';

let app: TestApp;
let owner: TestUser;
let wallet: string;
let agent: { agentId: string; apiKey: string };

before(async () => {
  app = await startTestApp({ env: { JWT_ACCESS_TOKEN_EXPIRES: '1d' } });
  owner = await newUser(app.url, app.clock);
  wallet = await newWallet(app.url, owner);
  agent = await newAgent(app.url, owner, [wallet]);
});

after(async () => {
  await app?.stop();
});

async function prepare(apiKey = agent.apiKey): Promise<{ transaction_id: string; digest: string }> {
  const prepared = await call<{ transaction_id: string; digest: string }>(app.url, 'POST', '/api/prepare_transaction', {
    apiKey,
    body: { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '1000' },
  });
  expectStatus(prepared, 202, 'prepare');
  return prepared.body;
}

type View = { status: string; version: number; last_event_id: string | null; rejection_reason: string | null };

async function status(id: string, query = '', auth: { apiKey?: string; token?: string } = { apiKey: agent.apiKey }, signal?: AbortSignal) {
  const started = Date.now();
  const response = await fetch(`${app.url}/api/transaction_status?transaction_id=${id}${query}`, {
    headers: auth.apiKey ? { 'x-api-key': auth.apiKey } : { authorization: `Bearer ${auth.token}` },
    ...(signal ? { signal } : {}),
  });
  return { status: response.status, body: (await response.json()) as View & { error?: { code: string; hint: string } }, ms: Date.now() - started, headers: response.headers };
}

const approve = async (tx: { transaction_id: string; digest: string }) =>
  expectStatus(await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: tx.transaction_id, digest: tx.digest, mfa_code: await owner.nextCode() } }), 200, 'approve');

async function untilWaiters(count: number) {
  const deadline = Date.now() + 10_000;
  while (app.waiters.size() !== count) {
    assert.ok(Date.now() < deadline, `expected ${count} held requests, have ${app.waiters.size()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('long-poll on GET /api/transaction_status', () => {
  test('answers at once when the status already differs from if_status or the version is newer than if_version', async () => {
    const tx = await prepare();
    const differs = await status(tx.transaction_id, '&wait=60&if_status=approved');
    assert.equal(differs.status, 200);
    assert.equal(differs.body.status, 'pending_approval');
    assert.ok(differs.ms < 3_000, `answered after ${differs.ms} ms`);
    const newer = await status(tx.transaction_id, '&wait=60&if_version=0');
    assert.equal(newer.body.version, 1);
    assert.ok(newer.ms < 3_000, `answered after ${newer.ms} ms`);
    assert.equal(app.waiters.size(), 0, 'nothing was held');
    for (const query of ['&wait=0', '&wait=61', '&wait=1.5', '&wait=5&if_version=-1', '&wait=5&if_status=done']) {
      const invalid = await status(tx.transaction_id, query);
      assert.equal(invalid.status, 400, query);
      assert.equal(invalid.body.error?.code, 'invalid_request', query);
    }
  });

  test('a held request answers when the owner approves; version and last_event_id agree with GET /api/events for agent and owner', async () => {
    const tx = await prepare();
    const before = await status(tx.transaction_id);
    assert.equal(before.body.version, 1);
    const held = status(tx.transaction_id, `&wait=30&if_version=${before.body.version}`);
    await untilWaiters(1);
    await new Promise((r) => setTimeout(r, 1_000));
    const approvedAt = Date.now();
    await approve(tx);
    const answer = await held;
    assert.equal(answer.status, 200);
    assert.equal(answer.body.status, 'approved');
    assert.ok(answer.body.version > before.body.version);
    assert.ok(answer.ms >= 1_000, `it held (${answer.ms} ms)`);
    assert.ok(Date.now() - approvedAt < 5_000, 'answered soon after the change');
    assert.equal(app.waiters.size(), 0);

    for (const auth of [{ apiKey: agent.apiKey }, { token: owner.token }]) {
      const events = await call<{ events: Array<{ id: string; transaction_id: string; version: number }> }>(app.url, 'GET', '/api/events?after=0', auth);
      const mine = events.body.events.filter((e) => e.transaction_id === tx.transaction_id);
      const now = await status(tx.transaction_id, '', auth);
      assert.equal(now.body.last_event_id, mine.at(-1)!.id, 'last_event_id is the id of its latest event as /api/events numbers it');
      assert.equal(now.body.version, mine.at(-1)!.version);
    }
    const list = await call<{ transactions: View[] }>(app.url, 'GET', '/api/transactions?limit=5', { apiKey: agent.apiKey });
    assert.ok(list.body.transactions.every((t) => typeof t.version === 'number' && (t.last_event_id === null || /^[0-9]+$/.test(t.last_event_id))));
  });

  test('without if_status / if_version it waits for a change from what it finds; wait=1 answers the unchanged status after a second', async () => {
    const tx = await prepare();
    const answer = await status(tx.transaction_id, '&wait=1');
    assert.equal(answer.status, 200);
    assert.equal(answer.body.status, 'pending_approval');
    assert.ok(answer.ms >= 950, `held ${answer.ms} ms`);
  });

  test("a rejection is answered with the owner's reason", async () => {
    const tx = await prepare();
    const held = status(tx.transaction_id, '&wait=30&if_status=pending_approval');
    await untilWaiters(1);
    expectStatus(await call(app.url, 'POST', '/api/reject_transaction', { token: owner.token, body: { transaction_id: tx.transaction_id, reason: 'not this week' } }), 200, 'reject');
    const rejectedAt = Date.now();
    const answer = await held;
    assert.ok(Date.now() - rejectedAt < 5_000, 'woken by the change, not by the deadline');
    assert.equal(answer.body.status, 'rejected');
    assert.equal(answer.body.rejection_reason, 'not this week');
  });

  test("an unknown id or another agent's transaction is a 404 at once, before any waiting", async () => {
    const other = await newAgent(app.url, owner, [wallet]);
    const tx = await prepare(other.apiKey);
    for (const id of [tx.transaction_id, '00000000-0000-4000-8000-000000000000']) {
      const answer = await status(id, '&wait=60');
      assert.equal(answer.status, 404);
      assert.equal(answer.body.error?.code, 'not_found');
      assert.ok(answer.ms < 3_000);
    }
  });

  test('at most 25 held requests per principal (then 429 with Retry-After and a hint); a client that leaves is let go at once', async () => {
    const tx = await prepare();
    const controllers = Array.from({ length: 25 }, () => new AbortController());
    const held = controllers.map((c) => status(tx.transaction_id, '&wait=60&if_status=pending_approval', { apiKey: agent.apiKey }, c.signal).catch((e: unknown) => e));
    await untilWaiters(25);
    const over = await status(tx.transaction_id, '&wait=60&if_status=pending_approval');
    assert.equal(over.status, 429);
    assert.equal(over.body.error?.code, 'rate_limited');
    assert.equal(over.headers.get('retry-after'), '5');
    assert.match(over.body.error!.hint, /5 seconds/);
    // Someone else is not affected by this agent's bound.
    const ownerWait = status(tx.transaction_id, '&wait=1&if_status=pending_approval', { token: owner.token });
    assert.equal((await ownerWait).status, 200);

    for (const c of controllers) c.abort();
    await Promise.all(held);
    await untilWaiters(0);
  });

  test('held requests cost no database query while nothing changes, and all wake on the change', async () => {
    const tx = await prepare();
    const held = Array.from({ length: 10 }, () => status(tx.transaction_id, '&wait=30&if_status=pending_approval'));
    await untilWaiters(10);
    let queries = 0;
    const count = () => (queries += 1);
    app.database.db.on('query', count);
    await new Promise((r) => setTimeout(r, 3_000));
    app.database.db.off('query', count);
    assert.equal(queries, 0, 'no query while 10 requests were held for 3 s');
    expectStatus(await call(app.url, 'POST', `/api/transactions/${tx.transaction_id}/cancel`, { apiKey: agent.apiKey }), 200, 'cancel');
    const cancelledAt = Date.now();
    const answers = await Promise.all(held);
    assert.ok(Date.now() - cancelledAt < 5_000, 'woken by the change, not by the deadline');
    assert.deepEqual(new Set(answers.map((a) => a.body.status)), new Set(['cancelled']));
  });
});
