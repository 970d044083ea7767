/**
 * Agent webhooks on real PostgreSQL and OpenBao: the routes (create with a
 * secret shown once and stored encrypted, list without it, delete, 404 for a
 * foreign id, the URL policy in both modes, the per-agent limit), and delivery
 * by the `notifyWebhooks` activity to local receivers — every signature
 * verified, deliveries recorded, a failing receiver retried and recorded,
 * redirects not followed, the connection pinned to the checked address,
 * nothing secret in the logs — and the workflow's "does this agent have a
 * webhook?" hint agreeing with what the activity would deliver.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import http, { type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { getAddress } from 'ethers';
import { pino } from 'pino';
import type Koa from 'koa';
import { createApp } from '../../api/app';
import { webhookRoutes } from '../../api/routes/webhooks';
import type { Authenticator, Principal } from '../../api/http/principal';
import { createWebhookActivities } from '../../activities/webhooks';
import { systemClock } from '../../lib/clock';
import type { Db } from '../../lib/db';
import { createAuditLog } from '../../domains/audit';
import { createVaultKeyStore, type VaultKeyStore } from '../../domains/keystore';
import { insertTransaction, projectStatus } from '../../domains/transactions/dal';
import { checkWebhookUrl, createWebhookService, postWebhook, verifyWebhookSignature, webhookUrlPolicy, type LookupFn, type StackConfig } from '../../domains/webhooks';
import { agentHasActiveWebhook } from '../../domains/webhooks/dal';
import type { TransactionStatus } from '../../workflows/definitions';
import { freshDatabase, type TestDatabase } from '../support/db';
import { AGREED_KEYS, provisionIsolated, provisionTransit, useTestVault, type TestVault } from '../support/keystore-openbao';

let database: TestDatabase;
let db: Db;
let vault: TestVault;
let apiStore: VaultKeyStore;
let workerStore: VaultKeyStore;
const logs: string[] = [];
const logger = pino({ level: 'debug' }, { write: (line: string) => logs.push(line) } as never);
const principals = new Map<string, Principal>();
const servers: Server[] = [];
/** Every secret shown by the API in this file, for the log scan at the end. */
const shownSecrets: string[] = [];

type WebhookConfig = { production: boolean; WEBHOOK_ALLOW_LOOPBACK: boolean } & StackConfig;
/** This run's stack as an API's configuration names it: its ports are not webhook receivers (set in `before`). */
let stack: StackConfig;
let LOOPBACK: WebhookConfig;
let PRODUCTION: WebhookConfig;

const authenticator: Authenticator = {
  verifyUserToken: async (token) => {
    const p = principals.get(token);
    return p?.type === 'user' ? { type: 'user', userId: p.userId, jti: randomUUID(), expiresAt: new Date(Date.now() + 3_600_000) } : undefined;
  },
  verifyApiKey: async (key) => {
    const p = principals.get(key);
    return p?.type === 'agent' ? p : undefined;
  },
  // No cookie sessions here: bearer tokens only.
  csrfToken: (jti) => `no-cookie-sessions-${jti}`,
};

async function listen(app: Koa | http.RequestListener): Promise<string> {
  const server = typeof app === 'function' ? http.createServer(app) : app.listen(0, '127.0.0.1');
  if (typeof app === 'function') server.listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function buildApi(config: WebhookConfig, lookup?: LookupFn) {
  // The service as the API's role, the activity (below) as the worker's; `db` (the owner) sets up and inspects.
  const webhooks = createWebhookService({
    db: database.api.db,
    keystore: apiStore,
    clock: systemClock,
    config,
    audit: createAuditLog({ db: database.api.db, hmacKey: 'test-audit-hmac-key-0123456789abcdef', clock: systemClock }),
    ...(lookup ? { lookup } : {}),
  });
  return listen(
    createApp({
      logger,
      clock: systemClock,
      authenticator,
      readiness: {},
      routes: webhookRoutes({ webhooks }),
      version: 'test',
      trustProxy: false,
      limits: { perMinute: 100_000, agentPerMinute: 100_000 },
    }),
  );
}

let api: string;

// ---- fixtures: real rows ----
interface Owner {
  userId: string;
  token: string;
  walletId: string;
}
interface Agent {
  agentId: string;
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
  return { agentId, apiKey };
}

async function newTransaction(owner: Owner, agent: Agent | undefined, addresses: { from?: string; to?: string } = {}): Promise<string> {
  const id = randomUUID();
  await insertTransaction(
    db,
    {
      id,
      wallet_id: owner.walletId,
      user_id: owner.userId,
      agent_id: agent?.agentId ?? null,
      origin: agent ? 'agent' : 'user',
      kind: 'native',
      chain_id: 31337,
      from_address: addresses.from ?? `0x${'11'.repeat(20)}`,
      to_address: addresses.to ?? `0x${'22'.repeat(20)}`,
      value: '1000',
      data: '0x',
      gas_limit: '21000',
      max_fee_per_gas: '2000000000',
      max_priority_fee_per_gas: '1000000000',
      approval_expires_at: new Date(Date.now() + 3_600_000),
      digest: `0x${'ab'.repeat(32)}`,
      recipient: addresses.to ?? `0x${'22'.repeat(20)}`,
      token_address: null,
      amount: '1000',
      memo: null,
      summary: { title: 'Send 1000 wei' } as never,
      auto_execute: false,
      idempotency_key: null,
      request_hash: null,
    },
    new Date(),
  );
  return id;
}

const advance = (transactionId: string, status: TransactionStatus, version: number) => projectStatus(db, { transactionId, status, version, at: new Date() });

/** Any answer of these routes: a test reads the fields its status implies. */
interface Answer {
  webhook_id: string;
  url: string;
  secret: string;
  created_at: string;
  webhooks: Array<{ webhook_id: string; url: string; created_at: string }>;
  error: { code: string; message: string; reason?: string; details: Array<{ field: string; message: string }> };
}

interface OpenApiDoc {
  paths: Record<string, Record<string, { requestBody: { content: Record<string, { schema: { properties: Record<string, { pattern: string }> } }> } }>>;
}

async function urlPattern(base: string): Promise<string> {
  const doc = (await (await fetch(`${base}/openapi.json`)).json()) as OpenApiDoc;
  return doc.paths['/api/webhooks']!.post!.requestBody.content['application/json']!.schema.properties.url!.pattern;
}

async function call(method: string, path: string, credential: string | undefined, body?: unknown, base = api) {
  const headers: Record<string, string> = {};
  if (credential?.startsWith('cs_')) headers['x-api-key'] = credential;
  else if (credential) headers.authorization = `Bearer ${credential}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as Answer };
}

async function createWebhook(agent: Agent, url: string) {
  const result = await call('POST', '/api/webhooks', agent.apiKey, { url });
  assert.equal(result.status, 201, JSON.stringify(result.body));
  shownSecrets.push(result.body.secret);
  return result.body as { webhook_id: string; url: string; secret: string; created_at: string };
}

// ---- receivers ----
interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  path: string;
}

/** A local receiver; `respond` decides each answer (default 200). */
async function receiver(respond: (req: Received, n: number) => { status: number; headers?: Record<string, string> } | 'hang' = () => ({ status: 200 })) {
  const received: Received[] = [];
  const url = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const entry = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), path: req.url ?? '' };
      received.push(entry);
      const answer = respond(entry, received.length);
      if (answer === 'hang') return;
      res.writeHead(answer.status, answer.headers ?? {}).end('ok');
    });
  });
  return { url, received };
}

function activities(options: { maxAttempts?: number; timeoutMs?: number; lookup?: LookupFn } = {}) {
  return createWebhookActivities({ db: database.worker.db, keystore: workerStore, logger, config: LOOPBACK, clock: systemClock, timeoutMs: options.timeoutMs ?? 2000, ...options });
}

async function deliveries(transactionId: string) {
  return db('webhook_deliveries as d')
    .join('transaction_events as e', 'e.id', 'd.event_id')
    .where('e.transaction_id', transactionId)
    .orderBy([{ column: 'e.version' }, { column: 'd.created_at' }])
    .select('d.*', 'e.version');
}

async function rejectsPending(promise: Promise<unknown>, type = 'WebhookDeliveryPending') {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, type);
    assert.equal(err.nonRetryable, false);
    return true;
  });
}

before(async () => {
  database = await freshDatabase('webhooks');
  db = database.db;
  vault = await useTestVault();
  stack = {
    DATABASE_URL: database.url,
    VAULT_ADDR: vault.addr,
    TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
    chains: new Map([[31337, process.env.WEB3_PROVIDER_URI ?? 'http://127.0.0.1:8545']]),
    PORT: 3000,
    WORKER_HEALTH_PORT: 3001,
  };
  LOOPBACK = { production: false, WEBHOOK_ALLOW_LOOPBACK: true, ...stack };
  PRODUCTION = { production: true, WEBHOOK_ALLOW_LOOPBACK: false, ...stack };
  const env = process.env;
  let layout: { mount: string; keys: typeof AGREED_KEYS; apiToken: string; workerToken: string };
  if (vault.shared && env.VAULT_API_TOKEN && env.VAULT_WORKER_TOKEN) {
    layout = {
      mount: env.VAULT_TRANSIT_MOUNT ?? 'transit',
      keys: { wallet: env.VAULT_WALLET_KEY ?? AGREED_KEYS.wallet, mfa: env.VAULT_MFA_KEY ?? AGREED_KEYS.mfa, webhook: env.VAULT_WEBHOOK_KEY ?? AGREED_KEYS.webhook, history: env.VAULT_HISTORY_KEY ?? AGREED_KEYS.history },
      apiToken: env.VAULT_API_TOKEN,
      workerToken: env.VAULT_WORKER_TOKEN,
    };
  } else {
    layout = vault.shared ? await provisionIsolated(vault.addr, vault.rootToken) : await provisionTransit(vault.addr, vault.rootToken);
  }
  // The API's credential encrypts webhook secrets; only the worker's decrypts them.
  apiStore = createVaultKeyStore({ addr: vault.addr, token: layout.apiToken, mount: layout.mount, keys: layout.keys, timeoutMs: 5000 });
  workerStore = createVaultKeyStore({ addr: vault.addr, token: layout.workerToken, mount: layout.mount, keys: layout.keys, timeoutMs: 5000 });
  api = await buildApi(LOOPBACK);
});

after(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
  await apiStore?.close();
  await workerStore?.close();
  await database?.drop();
  await vault?.stop();
});

describe('webhook routes', () => {
  test('create shows the secret once and stores only its ciphertext; list never shows it', async () => {
    const owner = await newOwner();
    const agent = await newAgent(owner);
    const created = await createWebhook(agent, 'http://127.0.0.1:9/hooks/countersign?tenant=1');
    assert.match(created.webhook_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(created.url, 'http://127.0.0.1:9/hooks/countersign?tenant=1');
    assert.match(created.secret, /^whsec_[A-Za-z0-9_-]{43}$/);
    assert.match(created.created_at, /Z$/);

    const row = await db('webhooks').where({ id: created.webhook_id }).first();
    assert.equal(row.agent_id, agent.agentId);
    assert.ok(row.secret_ciphertext.startsWith('vault:v'), 'encrypted by the key store');
    assert.ok(!row.secret_ciphertext.includes(created.secret.slice(6, 20)));
    // Bound to this webhook: the worker decrypts it under its own id, the API cannot decrypt at all.
    assert.equal((await workerStore.decrypt('webhook', created.webhook_id, row.secret_ciphertext)).toString('utf8'), created.secret);
    await assert.rejects(workerStore.decrypt('webhook', randomUUID(), row.secret_ciphertext));
    await assert.rejects(apiStore.decrypt('webhook', created.webhook_id, row.secret_ciphertext));

    const list = await call('GET', '/api/webhooks', agent.apiKey);
    assert.equal(list.status, 200);
    assert.deepEqual(list.body, { webhooks: [{ webhook_id: created.webhook_id, url: created.url, created_at: created.created_at }] });
    assert.ok(!JSON.stringify(list.body).includes('whsec_'));

    const audit = await db('audit_events').where({ action: 'webhook.created', subject_id: created.webhook_id }).first();
    assert.ok(audit, 'audited');
    assert.ok(!JSON.stringify(audit).includes(created.secret));
  });

  test('delete: 204, then 404; another agent’s webhook is a 404 and stays', async () => {
    const owner = await newOwner();
    const agent = await newAgent(owner);
    const other = await newAgent(owner);
    const mine = await createWebhook(agent, 'http://localhost:9/a');
    const theirs = await createWebhook(other, 'http://[::1]:9/b');

    const foreign = await call('DELETE', `/api/webhooks/${theirs.webhook_id}`, agent.apiKey);
    assert.equal(foreign.status, 404);
    assert.equal(foreign.body.error.code, 'not_found');
    const unknown = await call('DELETE', `/api/webhooks/${randomUUID()}`, agent.apiKey);
    assert.deepEqual(unknown.body, foreign.body, 'unknown and foreign look the same');
    assert.equal((await call('GET', '/api/webhooks', other.apiKey)).body.webhooks.length, 1);

    const removed = await call('DELETE', `/api/webhooks/${mine.webhook_id}`, agent.apiKey);
    assert.equal(removed.status, 204);
    assert.equal(removed.body, undefined);
    assert.equal((await call('DELETE', `/api/webhooks/${mine.webhook_id}`, agent.apiKey)).status, 404);
    assert.deepEqual((await call('GET', '/api/webhooks', agent.apiKey)).body, { webhooks: [] });
    assert.equal((await call('DELETE', '/api/webhooks/not-a-uuid', agent.apiKey)).status, 400);
  });

  test('agents only: a user token is 403, no credential 401', async () => {
    const owner = await newOwner();
    for (const [method, path] of [
      ['POST', '/api/webhooks'],
      ['GET', '/api/webhooks'],
      ['DELETE', `/api/webhooks/${randomUUID()}`],
    ] as const) {
      const asUser = await call(method, path, owner.token, method === 'POST' ? { url: 'http://127.0.0.1:9/' } : undefined);
      assert.equal(asUser.status, 403, `${method} ${path}`);
      assert.equal(asUser.body.error.code, 'wrong_principal');
      assert.equal((await call(method, path, undefined)).status, 401);
    }
  });

  test('development / tests: only loopback receivers; a refused URL is a 400 naming the field', async () => {
    const owner = await newOwner();
    const agent = await newAgent(owner);
    for (const url of ['https://hooks.example.com/x', 'http://10.0.0.1/', 'http://user:pw@127.0.0.1/', 'ftp://127.0.0.1/', 'not a url', '']) {
      const result = await call('POST', '/api/webhooks', agent.apiKey, { url });
      assert.equal(result.status, 400, url);
      assert.equal(result.body.error.code, 'invalid_request');
      assert.equal(result.body.error.details[0]!.field, 'url');
    }
    assert.equal((await call('POST', '/api/webhooks', agent.apiKey, { url: 'http://127.0.0.1/', extra: 1 })).status, 400);
    assert.equal((await call('POST', '/api/webhooks', agent.apiKey, {})).status, 400);
    assert.equal((await db('webhooks').where({ agent_id: agent.agentId })).length, 0);
  });

  test("development / tests: never a loopback port of the stack itself (PostgreSQL, OpenBao, Temporal, anvil, API, worker); the published schema says so", async () => {
    const owner = await newOwner();
    const agent = await newAgent(owner);
    const port = (url: string) => Number(new URL(url).port);
    const vaultPort = port(vault.addr);
    const own = {
      postgres: port(database.url),
      openbao: vaultPort,
      'openbao cluster': vaultPort + 1,
      temporal: Number(stack.TEMPORAL_ADDRESS.split(':').pop()),
      anvil: port(stack.chains.get(31337)!),
      api: 3000,
      worker: 3001,
    };
    const document = (await (await fetch(`${api}/openapi.json`)).json()) as { paths: Record<string, { post?: { requestBody: { content: Record<string, { schema: { properties: { url: { pattern: string } } } }> } } }> };
    const published = new RegExp(document.paths['/api/webhooks']!.post!.requestBody.content['application/json']!.schema.properties.url.pattern);
    for (const [what, p] of Object.entries(own)) {
      for (const url of [`http://127.0.0.1:${p}/hook`, `https://localhost:${p}/`, `http://[::1]:${p}/`, `http://127.9.9.9:${p}/x`]) {
        const result = await call('POST', '/api/webhooks', agent.apiKey, { url });
        assert.equal(result.status, 400, `${what}: ${url} → ${result.status}`);
        assert.equal(result.body.error.code, 'invalid_request');
        assert.equal(result.body.error.details[0]!.field, 'url');
        assert.equal(published.test(url), false, `the published pattern offers ${url}`);
      }
    }
    assert.equal((await db('webhooks').where({ agent_id: agent.agentId })).length, 0);
    const free = await receiver();
    assert.ok(published.test(`${free.url}/hook`), 'another loopback port matches the published pattern');
    assert.equal((await call('POST', '/api/webhooks', agent.apiKey, { url: `${free.url}/hook` })).status, 201, 'another loopback port is fine');

    // A stored URL on a stack port (created before this rule) is not delivered to either.
    const hook = randomUUID();
    const secret = await apiStore.encrypt('webhook', hook, Buffer.from('whsec_stored-before-the-rule'));
    await db('webhooks').insert({ id: hook, agent_id: agent.agentId, url: `http://127.0.0.1:${own.openbao}/v1/sys/health`, secret_ciphertext: secret, created_at: new Date() });
    const tx = await newTransaction(owner, agent);
    await activities({ maxAttempts: 1 }).notifyWebhooks({ transactionId: tx, version: 1 }).catch(() => undefined);
    const row = (await deliveries(tx)).find((d: { webhook_id: string }) => d.webhook_id === hook);
    assert.equal(row?.last_error, 'url_not_allowed');
  });

  test('development / tests with WEBHOOK_LOOPBACK_PORTS: only the listed loopback ports, never a stack port', async () => {
    const listed = await buildApi({ ...LOOPBACK, WEBHOOK_LOOPBACK_PORTS: '9000-9001,9005' });
    const owner = await newOwner();
    const agent = await newAgent(owner);
    const post = async (url: string) => {
      const response = await fetch(`${listed}/api/webhooks`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': agent.apiKey }, body: JSON.stringify({ url }) });
      return response.status;
    };
    assert.equal(await post('http://127.0.0.1:9002/'), 400);
    assert.equal(await post('http://127.0.0.1/'), 400, 'the default port 80 is not listed');
    assert.equal(await post(`http://127.0.0.1:${new URL(database.url).port}/`), 400);
    assert.equal(await post('http://127.0.0.1:9001/'), 201);
    assert.equal(await post('http://localhost:9005/x'), 201);
  });

  test('production mode: https to public addresses only — loopback, private and http refused', async () => {
    const dns: LookupFn = async (hostname) => {
      const answers: Record<string, string[]> = {
        'hooks.example.com': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
        'internal.example.com': ['10.1.2.3'],
        'mixed.example.com': ['93.184.216.34', '169.254.169.254'],
        'loop.example.com': ['127.0.0.1'],
      };
      const list = answers[hostname];
      if (!list) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
      return list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    };
    const prod = await buildApi(PRODUCTION, dns);
    const owner = await newOwner();
    const agent = await newAgent(owner);
    const refused: Array<[string, RegExp]> = [
      ['http://127.0.0.1:8080/', /must be an https URL/],
      ['https://127.0.0.1/', /loopback/],
      ['https://localhost.example/', /does not resolve/],
      ['https://internal.example.com/', /private address/],
      ['https://mixed.example.com/', /link-local/],
      ['https://loop.example.com/', /loopback/],
      ['https://192.168.1.20/', /private/],
      ['http://hooks.example.com/', /https/],
      ['https://user:pw@hooks.example.com/', /https URL without credentials/],
    ];
    for (const [url, message] of refused) {
      const result = await call('POST', '/api/webhooks', agent.apiKey, { url }, prod);
      assert.equal(result.status, 400, url);
      assert.equal(result.body.error.details[0]!.field, 'url');
      assert.match(result.body.error.details[0]!.message, message, url);
    }
    const ok = await call('POST', '/api/webhooks', agent.apiKey, { url: 'https://hooks.example.com:8443/cb' }, prod);
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    shownSecrets.push(ok.body.secret);
    // The OpenAPI document tells a client (and a fuzzer) what this deployment accepts.
    assert.match(await urlPattern(prod), /^\^https:/);
    assert.match(await urlPattern(api), /localhost/);
  });

  test('at most 10 webhooks per agent: the 11th is a 409, also under concurrency', async () => {
    const owner = await newOwner();
    const agent = await newAgent(owner);
    const results = await Promise.all(Array.from({ length: 14 }, (_, i) => call('POST', '/api/webhooks', agent.apiKey, { url: `http://127.0.0.1:9/${i}` })));
    const created = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status === 409);
    shownSecrets.push(...created.map((r) => r.body.secret));
    assert.equal(created.length, 10);
    assert.equal(refused.length, 4);
    assert.equal(refused[0]!.body.error.code, 'invalid_state');
    assert.equal(refused[0]!.body.error.reason, 'webhook_limit_reached');
    assert.equal((await call('GET', '/api/webhooks', agent.apiKey)).body.webhooks.length, 10);
    // Deleting one frees a place.
    await call('DELETE', `/api/webhooks/${created[0]!.body.webhook_id}`, agent.apiKey);
    await createWebhook(agent, 'http://127.0.0.1:9/again');
  });
});

describe('delivery (the notifyWebhooks activity)', () => {
  test('every status change reaches every webhook, signed; deliveries are recorded', async () => {
    const owner = await newOwner();
    const agent = await newAgent(owner);
    const one = await receiver();
    const two = await receiver();
    const hookOne = await createWebhook(agent, `${one.url}/one?x=1`);
    const hookTwo = await createWebhook(agent, `${two.url}/two`);
    const act = activities();

    const tx = await newTransaction(owner, agent);
    await act.notifyWebhooks({ transactionId: tx, version: 1 });
    const steps: TransactionStatus[] = ['approved', 'signing', 'broadcast', 'confirmed'];
    for (const [i, status] of steps.entries()) {
      await advance(tx, status, i + 2);
      await act.notifyWebhooks({ transactionId: tx, version: i + 2 });
    }

    for (const [rx, hook, path] of [
      [one, hookOne, '/one?x=1'],
      [two, hookTwo, '/two'],
    ] as const) {
      assert.equal(rx.received.length, 5);
      const bodies = rx.received.map((r) => JSON.parse(r.body));
      assert.deepEqual(
        bodies.map((b) => [b.event, b.status, b.version, b.transaction_id]),
        ['pending_approval', ...steps].map((s, i) => [`transaction.${s}`, s, i + 1, tx]),
      );
      for (const r of rx.received) {
        assert.equal(r.path, path);
        assert.equal(r.headers['content-type'], 'application/json');
        assert.ok(verifyWebhookSignature(hook.secret, r.headers['x-countersign-signature'] as string, r.body, 60), 'signature verifies');
        assert.ok(!verifyWebhookSignature(`${hook.secret}x`, r.headers['x-countersign-signature'] as string, r.body, 60));
        const body = JSON.parse(r.body);
        assert.equal(r.headers['x-countersign-delivery'], body.delivery_id);
        assert.equal(r.headers['x-countersign-event'], body.event);
        assert.match(body.created_at, /Z$/);
        assert.deepEqual(Object.keys(body).sort(), ['created_at', 'delivery_id', 'event', 'labels', 'status', 'transaction_id', 'version']);
        assert.deepEqual(body.labels, [], 'no label in this book');
      }
    }
    const rows = await deliveries(tx);
    assert.equal(rows.length, 10);
    for (const row of rows) {
      assert.equal(row.state, 'delivered');
      assert.equal(row.attempts, 1);
      assert.equal(row.response_status, 200);
      assert.equal(row.last_error, null);
      assert.ok(row.delivered_at instanceof Date);
    }
    // Idempotent: a repeated call (an activity retry) sends nothing again.
    await act.notifyWebhooks({ transactionId: tx, version: 3 });
    assert.equal(one.received.length, 5);
    assert.equal((await deliveries(tx)).length, 10);
  });

  test("the payload carries the owner's labels of the agent's own wallets, beside their addresses, and no other label", async () => {
    const owner = await newOwner();
    const agent = await newAgent(owner);
    const wallet = ((await db('wallets').where({ id: owner.walletId }).first('address')) as { address: string }).address;
    const payee = `0x${randomBytes(20).toString('hex')}`;
    await db('agent_wallets').insert({ agent_id: agent.agentId, wallet_id: owner.walletId });
    const at = new Date();
    await db('address_book').insert([
      { user_id: owner.userId, address: wallet, label: 'Ops wallet', created_at: at, updated_at: at },
      { user_id: owner.userId, address: payee, label: 'Landlord', created_at: at, updated_at: at },
    ]);
    // Another owner's label of the same wallet address is not this owner's.
    const stranger = await newOwner();
    await db('address_book').insert({ user_id: stranger.userId, address: wallet, label: 'Not yours', created_at: at, updated_at: at });
    const rx = await receiver();
    await createWebhook(agent, `${rx.url}/labels`);
    const act = activities();
    const tx = await newTransaction(owner, agent, { from: wallet, to: payee });

    await act.notifyWebhooks({ transactionId: tx, version: 1 });
    assert.deepEqual(JSON.parse(rx.received[0]!.body).labels, [{ address: getAddress(wallet), label: 'Ops wallet' }]);
    // The grant withdrawn, the agent is no longer told that wallet's name.
    await db('agent_wallets').where({ agent_id: agent.agentId }).delete();
    await advance(tx, 'rejected', 2);
    await act.notifyWebhooks({ transactionId: tx, version: 2 });
    assert.deepEqual(JSON.parse(rx.received[1]!.body).labels, []);
  });

  test('a failing receiver is retried with the same delivery id until it answers 2xx', async () => {
    const owner = await newOwner();
    const agent = await newAgent(owner);
    const flaky = await receiver((_req, n) => ({ status: n <= 2 ? 503 : 204 }));
    const hook = await createWebhook(agent, `${flaky.url}/flaky`);
    const act = activities();
    const tx = await newTransaction(owner, agent);

    await rejectsPending(act.notifyWebhooks({ transactionId: tx, version: 1 }));
    let [row] = await deliveries(tx);
    assert.equal(row.state, 'pending');
    assert.equal(row.attempts, 1);
    assert.equal(row.response_status, 503);
    assert.equal(row.last_error, 'http_503');
    await rejectsPending(act.notifyWebhooks({ transactionId: tx, version: 1 }));
    await act.notifyWebhooks({ transactionId: tx, version: 1 });
    [row] = await deliveries(tx);
    assert.equal(row.state, 'delivered');
    assert.equal(row.attempts, 3);
    assert.equal(row.response_status, 204);
    assert.equal(row.last_error, null);

    assert.equal(flaky.received.length, 3);
    const ids = new Set(flaky.received.map((r) => r.headers['x-countersign-delivery']));
    assert.deepEqual([...ids], [row.id], 'one delivery id across attempts');
    for (const r of flaky.received) assert.ok(verifyWebhookSignature(hook.secret, r.headers['x-countersign-signature'] as string, r.body, 60));
  });

  test('after the attempt cap a delivery is failed and no longer retried', async () => {
    const owner = await newOwner();
    const agent = await newAgent(owner);
    const broken = await receiver(() => ({ status: 500 }));
    const fine = await receiver();
    await createWebhook(agent, `${broken.url}/broken`);
    await createWebhook(agent, `${fine.url}/fine`);
    const act = activities({ maxAttempts: 3 });
    const tx = await newTransaction(owner, agent);

    await rejectsPending(act.notifyWebhooks({ transactionId: tx, version: 1 }));
    await rejectsPending(act.notifyWebhooks({ transactionId: tx, version: 1 }));
    await act.notifyWebhooks({ transactionId: tx, version: 1 }); // third attempt fails for good: nothing left pending
    await act.notifyWebhooks({ transactionId: tx, version: 1 });
    assert.equal(broken.received.length, 3);
    assert.equal(fine.received.length, 1);
    const rows = await deliveries(tx);
    const byState = Object.fromEntries(rows.map((r) => [r.state, r]));
    assert.equal(byState.failed.attempts, 3);
    assert.equal(byState.failed.last_error, 'http_500');
    assert.equal(byState.delivered.attempts, 1);
  });

  test('redirects are not followed; a hanging receiver times out; a closed port is recorded', async () => {
    const owner = await newOwner();
    const agent = await newAgent(owner);
    const target = await receiver();
    const redirecting = await receiver(() => ({ status: 307, headers: { location: `${target.url}/stolen` } }));
    const hanging = await receiver(() => 'hang');
    const closed = await receiver();
    const closedUrl = closed.url;
    const closedServer = servers.at(-1)!;
    await new Promise((resolve) => closedServer.close(resolve));
    await createWebhook(agent, `${redirecting.url}/r`);
    await createWebhook(agent, `${hanging.url}/h`);
    await createWebhook(agent, `${closedUrl}/c`);
    const act = activities({ timeoutMs: 300 });
    const tx = await newTransaction(owner, agent);

    const started = Date.now();
    await rejectsPending(act.notifyWebhooks({ transactionId: tx, version: 1 }));
    assert.ok(Date.now() - started < 2000, 'attempts run in parallel under a short deadline');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(target.received.length, 0, 'the redirect was not followed');
    const errors = (await deliveries(tx)).map((r) => [r.response_status, r.last_error]).sort();
    assert.deepEqual(errors, [
      [307, 'redirect_not_followed'],
      [null, 'connection_refused'],
      [null, 'timeout'],
    ].sort());
  });

  test('the connection goes to the checked address, with the URL’s host name in Host', async () => {
    const rx = await receiver();
    const port = Number(new URL(rx.url).port);
    // A name the system resolver cannot answer: only the pinned address can reach the receiver.
    const target = { href: `http://receiver.invalid:${port}/p`, protocol: 'http:' as const, hostname: 'receiver.invalid', port, path: '/p?q=1' };
    const outcome = await postWebhook({ target, address: { address: '127.0.0.1', family: 4 }, body: '{}', headers: { 'Content-Type': 'application/json' }, timeoutMs: 2000 });
    assert.deepEqual(outcome, { delivered: true, responseStatus: 200, error: null });
    assert.equal(rx.received[0]!.headers.host, `receiver.invalid:${port}`);
    assert.equal(rx.received[0]!.path, '/p?q=1');

    // Through the activity: `localhost` is resolved once (by our lookup), checked, and that address used.
    const owner = await newOwner();
    const agent = await newAgent(owner);
    const hook = await createWebhook(agent, `http://localhost:${port}/named`);
    const looked: string[] = [];
    const act = activities({
      lookup: async (hostname) => {
        looked.push(hostname);
        return [{ address: '127.0.0.1', family: 4 }];
      },
    });
    const tx = await newTransaction(owner, agent);
    await act.notifyWebhooks({ transactionId: tx, version: 1 });
    assert.deepEqual(looked, ['localhost']);
    const last = rx.received.at(-1)!;
    assert.equal(last.headers.host, `localhost:${port}`);
    assert.ok(verifyWebhookSignature(hook.secret, last.headers['x-countersign-signature'] as string, last.body, 60));

    // A lookup that answers with a non-loopback address is refused before connecting.
    const refusing = activities({ maxAttempts: 1, lookup: async () => [{ address: '10.0.0.7', family: 4 }] });
    const tx2 = await newTransaction(owner, agent);
    const before = rx.received.length;
    await refusing.notifyWebhooks({ transactionId: tx2, version: 1 });
    assert.equal(rx.received.length, before);
    const [row] = await deliveries(tx2);
    assert.equal(row.state, 'failed');
    assert.equal(row.last_error, 'address_not_allowed');
    assert.ok(checkWebhookUrl(hook.url, webhookUrlPolicy(LOOPBACK)).ok);
  });

  test('nothing to do: a user-initiated transaction, an agent without webhooks, a revoked agent, a deleted webhook', async () => {
    const owner = await newOwner();
    const agent = await newAgent(owner);
    const rx = await receiver();
    const act = activities();

    const userTx = await newTransaction(owner, undefined);
    await act.notifyWebhooks({ transactionId: userTx, version: 1 });
    const bare = await newTransaction(owner, agent);
    await act.notifyWebhooks({ transactionId: bare, version: 1 });
    assert.equal((await deliveries(userTx)).length + (await deliveries(bare)).length, 0);

    // A delivery left pending when its webhook is deleted is abandoned, not sent.
    const hook = await createWebhook(agent, `${rx.url}/gone`);
    const failing = await receiver(() => ({ status: 500 }));
    await createWebhook(agent, `${failing.url}/failing`);
    const tx = await newTransaction(owner, agent);
    await rejectsPending(act.notifyWebhooks({ transactionId: tx, version: 1 }));
    assert.equal(rx.received.length, 1);
    await db('webhook_deliveries').where({ webhook_id: hook.webhook_id }).update({ state: 'pending' }); // as if it had failed
    await call('DELETE', `/api/webhooks/${hook.webhook_id}`, agent.apiKey);
    await rejectsPending(act.notifyWebhooks({ transactionId: tx, version: 1 }));
    assert.equal(rx.received.length, 1, 'a deleted webhook receives nothing more');
    const gone = (await deliveries(tx)).find((r) => r.webhook_id === hook.webhook_id);
    assert.equal(gone.state, 'failed');
    assert.equal(gone.last_error, 'webhook_deleted');

    // A revoked agent's pending deliveries are abandoned and nothing new is sent.
    await db('agents').where({ id: agent.agentId }).update({ revoked_at: new Date() });
    const sentBefore = failing.received.length;
    await act.notifyWebhooks({ transactionId: tx, version: 1 });
    assert.equal(failing.received.length, sentBefore);
    assert.ok((await deliveries(tx)).every((r) => r.state !== 'pending'));
  });

  test("the workflow's hint (projection and start) is true exactly when the activity delivers something", async () => {
    const owner = await newOwner();
    const agent = await newAgent(owner);
    const rx = await receiver();
    const act = activities();
    const tx = await newTransaction(owner, agent);
    let version = 1;
    /** One more status change: the hints the workflow would get, and whether notifyWebhooks then delivered. */
    const step = async () => {
      version += 1;
      const projected = await advance(tx, 'approved', version);
      assert.equal(projected.applied, true);
      const before = rx.received.length;
      await act.notifyWebhooks({ transactionId: tx, version });
      return { projected: projected.agentHasWebhook, atStart: await agentHasActiveWebhook(db, agent.agentId, new Date()), delivered: rx.received.length > before };
    };
    const none = { projected: false, atStart: false, delivered: false };
    const all = { projected: true, atStart: true, delivered: true };

    assert.deepEqual(await step(), none, 'no webhook');
    const hook = await createWebhook(agent, `${rx.url}/hint`);
    assert.deepEqual(await step(), all, 'a webhook');
    assert.deepEqual(await advance(tx, 'approved', version), { applied: false, agentHasWebhook: true }, 'a repeated write still answers');
    await db('agents').where({ id: agent.agentId }).update({ expires_at: new Date(Date.now() - 1000) });
    assert.deepEqual(await step(), none, 'an expired agent');
    await db('agents').where({ id: agent.agentId }).update({ expires_at: new Date(Date.now() + 3_600_000) });
    assert.deepEqual(await step(), all, 'a key valid for an hour more');
    await call('DELETE', `/api/webhooks/${hook.webhook_id}`, agent.apiKey);
    assert.deepEqual(await step(), none, 'the webhook deleted');
    await createWebhook(agent, `${rx.url}/again`);
    assert.deepEqual(await step(), all, 'a new webhook');
    await db('agents').where({ id: agent.agentId }).update({ revoked_at: new Date() });
    assert.deepEqual(await step(), none, 'a revoked agent');

    const userTx = await newTransaction(owner, undefined);
    assert.deepEqual(await advance(userTx, 'approved', 2), { applied: true, agentHasWebhook: false }, 'a user-initiated transaction');
    assert.deepEqual(await advance(randomUUID(), 'approved', 2), { applied: false, agentHasWebhook: false }, 'no such transaction');
  });

  test('an event not recorded yet is a retryable failure', async () => {
    const owner = await newOwner();
    const agent = await newAgent(owner);
    const tx = await newTransaction(owner, agent);
    await rejectsPending(activities().notifyWebhooks({ transactionId: tx, version: 7 }), 'WebhookEventMissing');
  });

  test('no secret and no signature in any log line', () => {
    assert.ok(shownSecrets.length > 10);
    assert.ok(logs.some((l) => l.includes('webhook delivery attempt')), 'attempts are logged');
    const all = logs.join('\n');
    for (const secret of shownSecrets) assert.ok(!all.includes(secret) && !all.includes(secret.slice(6)), 'a webhook secret was logged');
    assert.ok(!/v1=[0-9a-f]{64}/.test(all), 'a signature was logged');
    assert.ok(!all.includes('whsec_'));
  });
});
