/**
 * GET /api/events on real PostgreSQL rows (transactions written through the
 * transaction DAL, i.e. the projection's own event writes): the JSON batch,
 * the SSE stream in order, resumption from Last-Event-ID without loss
 * (including an event whose transaction commits after a later one), and
 * object-level scoping for users and agents. The app is built in-process with
 * createApp and a test Authenticator that only maps tokens to principals.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import pg from 'pg';
import { pino } from 'pino';
import { createApp } from '../../api/app';
import { eventRoutes } from '../../api/routes/events';
import type { Authenticator, Principal } from '../../api/http/principal';
import { createTestClock } from '../../lib/clock';
import type { Db } from '../../lib/db';
import { createEventService } from '../../domains/events';
import { insertTransaction, projectStatus } from '../../domains/transactions/dal';
import type { TransactionStatus } from '../../workflows/definitions';
import { freshDatabase, type TestDatabase } from '../support/db';

let database: TestDatabase;
let db: Db;
let server: Server;
let base: string;
const infoLogs: string[] = [];
const principals = new Map<string, Principal>();

const authenticator: Authenticator = {
  verifyUserToken: async (token) => {
    const p = principals.get(token);
    return p?.type === 'user' ? { type: 'user', userId: p.userId, jti: randomUUID(), expiresAt: new Date(Date.now() + 3_600_000) } : undefined;
  },
  verifyApiKey: async (key) => {
    const p = principals.get(key);
    return p?.type === 'agent' ? p : undefined;
  },
};

// ---- fixtures: real rows ----
interface Owner {
  userId: string;
  token: string;
  walletId: string;
}
interface Agent {
  agentId: string;
  userId: string;
  apiKey: string;
}

async function newOwner(): Promise<Owner> {
  const userId = randomUUID();
  await db('users').insert({ id: userId, username: `u${randomBytes(5).toString('hex')}`, password_hash: 'not-a-real-hash' });
  const walletId = randomUUID();
  await db('wallets').insert({ id: walletId, user_id: userId, address: `0x${randomBytes(20).toString('hex')}`, key_ciphertext: 'vault:v1:AAAA' });
  const token = `user-${randomUUID()}`;
  principals.set(token, { type: 'user', userId, jti: 'x', expiresAt: new Date(), via: 'bearer' });
  return { userId, token, walletId };
}

async function newAgent(owner: Owner): Promise<Agent> {
  const agentId = randomUUID();
  await db('agents').insert({ id: agentId, user_id: owner.userId, name: 'bot', key_id: randomBytes(12).toString('hex'), key_digest: randomBytes(32) });
  const apiKey = `cs_${randomBytes(12).toString('hex')}_${randomBytes(16).toString('hex')}`;
  principals.set(apiKey, { type: 'agent', agentId, userId: owner.userId });
  return { agentId, userId: owner.userId, apiKey };
}

/** A transaction as prepare writes it (version 1, `pending_approval`, and its event). */
async function newTransaction(owner: Owner, agent?: Agent, trx: Db | pg.Client = db): Promise<string> {
  const id = randomUUID();
  const row = {
    id,
    wallet_id: owner.walletId,
    user_id: owner.userId,
    agent_id: agent?.agentId ?? null,
    origin: agent ? ('agent' as const) : ('user' as const),
    kind: 'native' as const,
    chain_id: 31337,
    from_address: `0x${'11'.repeat(20)}`,
    to_address: `0x${'22'.repeat(20)}`,
    value: '1000',
    data: '0x',
    gas_limit: '21000',
    max_fee_per_gas: '2000000000',
    max_priority_fee_per_gas: '1000000000',
    approval_expires_at: new Date(Date.now() + 3_600_000),
    digest: `0x${'ab'.repeat(32)}`,
    recipient: `0x${'22'.repeat(20)}`,
    token_address: null,
    amount: '1000',
    memo: null,
    summary: { title: 'Send 1000 wei' } as never,
    auto_execute: false,
    idempotency_key: null,
    request_hash: null,
  };
  if (trx instanceof pg.Client) throw new Error('use db');
  await insertTransaction(trx, row, new Date());
  return id;
}

const advance = (transactionId: string, status: TransactionStatus, version: number) => projectStatus(db, { transactionId, status, version, at: new Date() });

// ---- HTTP helpers ----
interface EventJson {
  id: string;
  event: string;
  transaction_id: string;
  status: string;
  version: number;
  created_at: string;
}
/** A batch or an error body: a test reads whichever the status says. */
interface Answer {
  events: EventJson[];
  last_event_id: string | null;
  error: { code: string; message: string; details: Array<{ field: string; message: string }> };
}

const authHeaders = (credential: string): Record<string, string> =>
  credential.startsWith('cs_') ? { 'x-api-key': credential } : { authorization: `Bearer ${credential}` };

async function getJson(path: string, credential: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}${path}`, { headers: { ...authHeaders(credential), ...headers } });
  return { status: response.status, headers: response.headers, body: (await response.json()) as Answer };
}

interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
  retry?: string;
}

/** A minimal SSE client over fetch: parses messages as they arrive. */
async function openStream(path: string, credential: string, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  const response = await fetch(`${base}${path}`, { headers: { accept: 'text/event-stream', ...authHeaders(credential), ...headers }, signal: controller.signal });
  const messages: SseMessage[] = [];
  let buffer = '';
  const decoder = new TextDecoder();
  const reading = (async () => {
    if (!response.body) return;
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const message: SseMessage = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) message.comment = line.slice(1).trim();
            else {
              const colon = line.indexOf(':');
              const field = line.slice(0, colon) as keyof SseMessage;
              message[field] = line.slice(colon + 1).replace(/^ /, '');
            }
          }
          messages.push(message);
        }
      }
    } catch {
      // aborted
    }
  })();
  const events = () => messages.filter((m) => m.event !== undefined);
  return {
    response,
    messages,
    events,
    async waitForEvents(count: number, ms = 5000) {
      const deadline = Date.now() + ms;
      while (events().length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} events, got ${events().length}: ${JSON.stringify(events())}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return events();
    },
    async close() {
      controller.abort();
      await reading;
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

before(async () => {
  database = await freshDatabase('events');
  db = database.db;
  const logger = pino({ level: 'info' }, { write: (line: string) => infoLogs.push(line) } as never);
  // The event service runs as the API's role; the rows are set up as the owner.
  const events = createEventService({ db: database.api.db, logger, pollMs: 50, heartbeatMs: 300 });
  const app = createApp({
    logger,
    clock: createTestClock(),
    authenticator,
    readiness: {},
    routes: eventRoutes({ events, logger, maxStreamsPerPrincipal: 2, reconnectMs: 1000 }),
    version: 'test',
    trustProxy: false,
    limits: { perMinute: 100_000, agentPerMinute: 100_000 },
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await database.drop();
});

describe('JSON batch', () => {
  test('a user sees every event of their transactions, ascending, and nobody else’s', async () => {
    const alice = await newOwner();
    const bob = await newOwner();
    const bot = await newAgent(alice);
    const t1 = await newTransaction(alice, bot);
    const t2 = await newTransaction(alice); // user-initiated
    const t3 = await newTransaction(bob);
    await advance(t1, 'approved', 2);
    await advance(t3, 'approved', 2);
    await advance(t2, 'approved', 2);

    const { status, body } = await getJson('/api/events', alice.token);
    assert.equal(status, 200);
    assert.deepEqual(
      body.events.map((e) => [e.transaction_id, e.status, e.version, e.event]),
      [
        [t1, 'pending_approval', 1, 'transaction.pending_approval'],
        [t2, 'pending_approval', 1, 'transaction.pending_approval'],
        [t1, 'approved', 2, 'transaction.approved'],
        [t2, 'approved', 2, 'transaction.approved'],
      ],
    );
    const ids = body.events.map((e) => BigInt(e.id));
    assert.ok(body.events.every((e) => typeof e.id === 'string' && /^[0-9]+$/.test(e.id)));
    assert.deepEqual([...ids].sort((a, b) => (a < b ? -1 : 1)), ids, 'ascending');
    assert.equal(body.last_event_id, body.events.at(-1)?.id);
    assert.match(body.events[0]!.created_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    assert.deepEqual(Object.keys(body.events[0]!).sort(), ['created_at', 'event', 'id', 'status', 'transaction_id', 'version']);

    const bobs = await getJson('/api/events', bob.token);
    assert.deepEqual(
      bobs.body.events.map((e) => e.transaction_id),
      [t3, t3],
    );
  });

  test('an agent sees only the transactions it prepared', async () => {
    const owner = await newOwner();
    const mine = await newAgent(owner);
    const other = await newAgent(owner);
    const t1 = await newTransaction(owner, mine);
    const t2 = await newTransaction(owner, other);
    const t3 = await newTransaction(owner);
    await advance(t1, 'rejected', 2);
    await advance(t2, 'approved', 2);
    await advance(t3, 'approved', 2);

    const { status, body } = await getJson('/api/events', mine.apiKey);
    assert.equal(status, 200);
    assert.deepEqual(
      body.events.map((e) => [e.transaction_id, e.status]),
      [
        [t1, 'pending_approval'],
        [t1, 'rejected'],
      ],
    );
    // The owner sees all three transactions.
    const owners = await getJson('/api/events', owner.token);
    assert.deepEqual(new Set(owners.body.events.map((e) => e.transaction_id)), new Set([t1, t2, t3]));
  });

  test('after and limit page through without gaps; an empty page has last_event_id null', async () => {
    const owner = await newOwner();
    const tx = await newTransaction(owner);
    const statuses: TransactionStatus[] = ['approved', 'signing', 'broadcast', 'confirmed'];
    for (const [i, status] of statuses.entries()) await advance(tx, status, i + 2);

    const all = (await getJson('/api/events', owner.token)).body.events.map((e) => e.id);
    assert.equal(all.length, 5);
    const seen: string[] = [];
    let cursor = '0';
    for (;;) {
      const page = await getJson(`/api/events?after=${cursor}&limit=2`, owner.token);
      assert.equal(page.status, 200);
      assert.ok(page.body.events.length <= 2);
      if (page.body.events.length === 0) {
        assert.equal(page.body.last_event_id, null);
        break;
      }
      seen.push(...page.body.events.map((e) => e.id));
      cursor = page.body.last_event_id!;
    }
    assert.deepEqual(seen, all);
  });

  test('every value of the documented patterns is accepted; the rest is a 400', async () => {
    const owner = await newOwner();
    for (const query of ['after=9999999999999999999', 'after=9223372036854775808', 'after=0000000000000000000', 'limit=100', 'limit=1', 'after=1&limit=57']) {
      const result = await getJson(`/api/events?${query}`, owner.token);
      assert.equal(result.status, 200, `${query}: ${JSON.stringify(result.body)}`);
    }
    const clamped = await getJson('/api/events?after=9999999999999999999', owner.token);
    assert.deepEqual(clamped.body, { events: [], last_event_id: null });
    for (const query of ['limit=0', 'limit=101', 'after=-1', 'after=abc', 'after=12345678901234567890', 'unknown=1', 'after=1&after=2']) {
      const result = await getJson(`/api/events?${query}`, owner.token);
      assert.equal(result.status, 400, query);
      assert.equal(result.body.error.code, 'invalid_request');
    }
  });

  test('requires a principal', async () => {
    const response = await fetch(`${base}/api/events`);
    assert.equal(response.status, 401);
    assert.equal(((await response.json()) as Answer).error.code, 'unauthenticated');
  });

  test('the OpenAPI document declares the query, the JSON answer and the event stream', async () => {
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { parameters: Array<{ name: string; required: boolean; schema: { pattern?: string } }>; responses: Record<string, { content: Record<string, { schema: { properties?: Record<string, unknown> } }> }> }>>;
    };
    const op = doc.paths['/api/events']!.get!;
    assert.deepEqual(op.parameters.map((p) => p.name).sort(), ['after', 'limit']);
    const after = op.parameters.find((p) => p.name === 'after')!;
    assert.equal(after.schema.pattern, '^[0-9]{1,19}$');
    assert.equal(after.required, false);
    const ok = op.responses['200']!.content;
    assert.ok(ok['application/json']!.schema.properties!.events);
    assert.ok(ok['text/event-stream']);
  });
});

describe('SSE stream', () => {
  test('headers, a retry hint, then only new events, in order, with id / event / data', async () => {
    const owner = await newOwner();
    const agent = await newAgent(owner);
    const existing = await newTransaction(owner, agent);
    await advance(existing, 'approved', 2);

    const stream = await openStream('/api/events', owner.token);
    try {
      assert.equal(stream.response.status, 200);
      assert.equal(stream.response.headers.get('content-type'), 'text/event-stream');
      assert.equal(stream.response.headers.get('cache-control'), 'no-store');
      assert.equal(stream.response.headers.get('x-accel-buffering'), 'no');
      await sleep(150); // the stream has started after the latest existing id

      const tx = await newTransaction(owner, agent);
      const statuses: TransactionStatus[] = ['approved', 'signing', 'broadcast', 'confirmed'];
      for (const [i, status] of statuses.entries()) await advance(tx, status, i + 2);

      const events = await stream.waitForEvents(5);
      assert.equal(stream.messages[0]?.retry, '1000');
      assert.deepEqual(
        events.map((e) => e.event),
        ['transaction.pending_approval', 'transaction.approved', 'transaction.signing', 'transaction.broadcast', 'transaction.confirmed'],
      );
      const datas = events.map((e) => JSON.parse(e.data!));
      assert.ok(datas.every((d) => d.transaction_id === tx), 'the older transaction is not replayed');
      assert.deepEqual(
        datas.map((d) => d.version),
        [1, 2, 3, 4, 5],
      );
      assert.deepEqual(Object.keys(datas[0]).sort(), ['created_at', 'status', 'transaction_id', 'version']);
      const ids = events.map((e) => BigInt(e.id!));
      for (let i = 1; i < ids.length; i += 1) assert.ok(ids[i]! > ids[i - 1]!, 'ids increase');
      // The same ids and order as the JSON batch.
      const batch = await getJson(`/api/events?after=${ids[0]! - 1n}`, owner.token);
      assert.deepEqual(
        batch.body.events.map((e) => e.id),
        events.map((e) => e.id),
      );
    } finally {
      await stream.close();
    }
  });

  test('reconnecting with Last-Event-ID resumes without loss or duplicates', async () => {
    const owner = await newOwner();
    const agent = await newAgent(owner);
    const first = await openStream('/api/events', agent.apiKey);
    await sleep(150);
    const tx = await newTransaction(owner, agent);
    await advance(tx, 'approved', 2);
    const got = await first.waitForEvents(2);
    await first.close();
    const lastId = got.at(-1)!.id!;

    // While disconnected: more transitions, and another transaction.
    await advance(tx, 'signing', 3);
    await advance(tx, 'broadcast', 4);
    const tx2 = await newTransaction(owner, agent);
    await advance(tx, 'confirmed', 5);

    // EventSource repeats the URL and adds Last-Event-ID; the header wins over ?after=.
    const second = await openStream('/api/events?after=0', agent.apiKey, { 'last-event-id': lastId });
    try {
      const resumed = await second.waitForEvents(4);
      await sleep(200);
      assert.equal(second.events().length, 4, 'nothing duplicated or replayed from before Last-Event-ID');
      assert.deepEqual(
        resumed.map((e) => {
          const d = JSON.parse(e.data!);
          return [d.transaction_id, d.status];
        }),
        [
          [tx, 'signing'],
          [tx, 'broadcast'],
          [tx2, 'pending_approval'],
          [tx, 'confirmed'],
        ],
      );
      assert.ok(BigInt(resumed[0]!.id!) > BigInt(lastId));
    } finally {
      await second.close();
    }
  });

  test('?after= starts a stream from a known id', async () => {
    const owner = await newOwner();
    const tx = await newTransaction(owner);
    await advance(tx, 'approved', 2);
    await advance(tx, 'expired', 3);
    const batch = (await getJson('/api/events', owner.token)).body.events;
    const stream = await openStream(`/api/events?after=${batch[0]!.id}`, owner.token);
    try {
      const events = await stream.waitForEvents(2);
      assert.deepEqual(
        events.map((e) => e.event),
        ['transaction.approved', 'transaction.expired'],
      );
    } finally {
      await stream.close();
    }
  });

  test('an event whose transaction commits after a later id was streamed is still delivered', async () => {
    const owner = await newOwner();
    const slow = await newTransaction(owner);
    const fast = await newTransaction(owner);
    const stream = await openStream('/api/events', owner.token);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      await sleep(150);
      // The slow transaction inserts its event first (and so draws a sequence value first) but commits last.
      await client.query('BEGIN');
      await client.query(`UPDATE transactions SET status = 'approved', version = 2 WHERE id = $1`, [slow]);
      await client.query(`INSERT INTO transaction_events (transaction_id, user_id, agent_id, status, version, created_at) VALUES ($1, $2, NULL, 'approved', 2, now())`, [slow, owner.userId]);
      await advance(fast, 'approved', 2);
      const firstBatch = await stream.waitForEvents(1);
      assert.equal(JSON.parse(firstBatch[0]!.data!).transaction_id, fast);
      await sleep(200); // the stream has moved past the fast event's id
      await client.query('COMMIT');

      const events = await stream.waitForEvents(2);
      assert.deepEqual(
        events.map((e) => JSON.parse(e.data!).transaction_id),
        [fast, slow],
      );
      assert.ok(BigInt(events[1]!.id!) > BigInt(events[0]!.id!), 'ids follow commit order');
    } finally {
      await client.end();
      await stream.close();
    }
  });

  test('a stream shows only the principal’s own events', async () => {
    const owner = await newOwner();
    const stranger = await newOwner();
    const agent = await newAgent(owner);
    const otherAgent = await newAgent(owner);
    const userStream = await openStream('/api/events', stranger.token);
    const agentStream = await openStream('/api/events', agent.apiKey);
    try {
      await sleep(150);
      const theirs = await newTransaction(owner, otherAgent);
      await advance(theirs, 'approved', 2);
      const mine = await newTransaction(owner, agent);
      const strangers = await newTransaction(stranger);
      const agentEvents = await agentStream.waitForEvents(1);
      const strangerEvents = await userStream.waitForEvents(1);
      await sleep(300);
      assert.deepEqual(
        agentStream.events().map((e) => JSON.parse(e.data!).transaction_id),
        [mine],
      );
      assert.deepEqual(
        userStream.events().map((e) => JSON.parse(e.data!).transaction_id),
        [strangers],
      );
      assert.ok(agentEvents.length === 1 && strangerEvents.length === 1);
    } finally {
      await userStream.close();
      await agentStream.close();
    }
  });

  test('sends a comment heartbeat while quiet', async () => {
    const owner = await newOwner();
    const stream = await openStream('/api/events', owner.token);
    try {
      const deadline = Date.now() + 3000;
      while (!stream.messages.some((m) => m.comment === 'ping')) {
        if (Date.now() > deadline) throw new Error('no heartbeat');
        await sleep(20);
      }
    } finally {
      await stream.close();
    }
  });

  test('a bad Last-Event-ID is a 400 JSON error, not a stream', async () => {
    const owner = await newOwner();
    const result = await getJson('/api/events', owner.token, { accept: 'text/event-stream', 'last-event-id': 'abc' });
    assert.equal(result.status, 400);
    assert.equal(result.body.error.code, 'invalid_request');
    assert.equal(result.body.error.details[0]!.field, 'Last-Event-ID');
  });

  test('a principal’s open streams are capped; closing one ends its polling and frees its place', async () => {
    const owner = await newOwner();
    const a = await openStream('/api/events', owner.token);
    const b = await openStream('/api/events', owner.token);
    const third = await getJson('/api/events', owner.token, { accept: 'text/event-stream' });
    assert.equal(third.status, 429);
    assert.equal(third.body.error.code, 'rate_limited');
    assert.equal(third.headers.get('retry-after'), '5');
    // Another principal is not affected.
    const other = await newOwner();
    const c = await openStream('/api/events', other.token);
    assert.equal(c.response.status, 200);
    await c.close();

    const closedBefore = infoLogs.filter((l) => l.includes('event stream closed')).length;
    await a.close();
    const deadline = Date.now() + 3000;
    while (infoLogs.filter((l) => l.includes('event stream closed')).length <= closedBefore) {
      if (Date.now() > deadline) throw new Error('the stream loop did not stop after the client left');
      await sleep(20);
    }
    const again = await openStream('/api/events', owner.token);
    assert.equal(again.response.status, 200);
    await again.close();
    await b.close();
  });
});
