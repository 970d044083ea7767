/**
 * The wallet routes over HTTP with a stand-in service and authenticator:
 * who may call what, the two load_wallet forms, validation, the OpenAPI
 * document (and that no route exports a key).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createApp } from '../../api/app';
import { walletRoutes, type WalletRouteDeps } from '../../api/routes/wallets';
import type { Authenticator } from '../../api/http/principal';
import { createLogger } from '../../lib/logger';
import { createTestClock } from '../../lib/clock';
import { unavailable } from '../../lib/errors';

const USER_TOKEN = 'user-token';
const AGENT_KEY = `cs_${'a'.repeat(24)}_${'b'.repeat(43)}`;
const USER_ID = '11111111-1111-4111-8111-111111111111';
const AGENT_ID = '22222222-2222-4222-8222-222222222222';
const ADDRESS = '0x' + 'ab'.repeat(20);

const calls: Array<{ method: string; args: unknown[] }> = [];
let failChain = false;

const wallets: WalletRouteDeps['wallets'] = {
  async create(...args) {
    calls.push({ method: 'create', args });
    return { wallet_id: '33333333-3333-4333-8333-333333333333', address: ADDRESS, label: null, created_at: new Date(0).toISOString() };
  },
  async loadForUser(...args) {
    calls.push({ method: 'loadForUser', args });
    if (failChain) throw unavailable('the chain node is unavailable, try again shortly');
    return { address: ADDRESS, balance: '5', nonce: '0', chain_id: 31337 };
  },
  async loadForAgent(...args) {
    calls.push({ method: 'loadForAgent', args });
    return { wallets: [{ address: ADDRESS, balance: '5', chain_id: 31337, label: 'x' }] };
  },
  async list(...args) {
    calls.push({ method: 'list', args });
    return { wallets: [] };
  },
  async get(...args) {
    calls.push({ method: 'get', args });
    return { wallet_id: '33333333-3333-4333-8333-333333333333', address: ADDRESS, label: null, balance: '0', chain_id: 31337, created_at: new Date(0).toISOString(), frozen: false, tokens: [] };
  },
  async grant(...args) {
    calls.push({ method: 'grant', args });
    return { agent_id: AGENT_ID, wallets: [ADDRESS] };
  },
  async withdraw(...args) {
    calls.push({ method: 'withdraw', args });
  },
};

const authenticator: Authenticator = {
  verifyUserToken: async (token) => (token === USER_TOKEN ? { type: 'user', userId: USER_ID, jti: 'j', expiresAt: new Date(Date.now() + 60_000) } : undefined),
  verifyApiKey: async (key) => (key === AGENT_KEY ? { type: 'agent', agentId: AGENT_ID, userId: USER_ID } : undefined),
  // No cookie sessions here: bearer tokens only.
  csrfToken: (jti) => `no-cookie-sessions-${jti}`,
};

let server: Server;
let base: string;

before(async () => {
  const app = createApp({
    logger: createLogger({ level: 'silent' }),
    clock: createTestClock(),
    authenticator,
    readiness: {},
    routes: walletRoutes({ wallets, chainIds: [31337] }),
    version: 'test',
    trustProxy: false,
    limits: { perMinute: 10_000, agentPerMinute: 10_000 },
    webDist: '/nonexistent',
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

const asUser = { authorization: `Bearer ${USER_TOKEN}` };
const asAgent = { 'x-api-key': AGENT_KEY };

async function call(method: string, path: string, headers: Record<string, string>, body?: unknown) {
  const response = await fetch(base + path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

describe('who may call what', () => {
  test('create_wallet and grants are for users; an API key gets 403 wrong_principal', async () => {
    for (const [method, path, body] of [
      ['POST', '/api/create_wallet', { password: 'x' }],
      ['POST', `/api/agents/${AGENT_ID}/wallets`, { address: ADDRESS, mfa_code: '123456' }],
      ['DELETE', `/api/agents/${AGENT_ID}/wallets/${ADDRESS}`, undefined],
    ] as const) {
      const r = await call(method, path, asAgent, body);
      assert.equal(r.status, 403, path);
      assert.equal(r.body.error.code, 'wrong_principal');
    }
  });

  test('without credentials every wallet route is 401', async () => {
    for (const [method, path] of [
      ['POST', '/api/create_wallet'],
      ['POST', '/api/load_wallet'],
      ['GET', '/api/wallets'],
      ['GET', `/api/wallets/${ADDRESS}`],
      ['POST', `/api/agents/${AGENT_ID}/wallets`],
      ['DELETE', `/api/agents/${AGENT_ID}/wallets/${ADDRESS}`],
    ] as const) {
      assert.equal((await call(method, path, {})).status, 401, `${method} ${path}`);
    }
  });

  test('load_wallet: a user with the user form, an agent with {} or no body at all', async () => {
    calls.length = 0;
    const user = await call('POST', '/api/load_wallet', asUser, { password: 'pw', mfa_code: '123456', address: ADDRESS });
    assert.equal(user.status, 200);
    assert.deepEqual(user.body, { address: ADDRESS, balance: '5', nonce: '0', chain_id: 31337 });
    assert.equal(calls[0]!.method, 'loadForUser');
    assert.equal(calls[0]!.args[0], USER_ID);

    const agent = await call('POST', '/api/load_wallet', asAgent, {});
    assert.equal(agent.status, 200);
    assert.equal(agent.body.wallets.length, 1);
    const empty = await fetch(`${base}/api/load_wallet`, { method: 'POST', headers: asAgent });
    assert.equal(empty.status, 200, 'an empty body without Content-Type is the agent form');
  });

  test('load_wallet: each form is refused to the other kind of caller with 403, not 400', async () => {
    const user = await call('POST', '/api/load_wallet', asUser, {});
    assert.equal(user.status, 403);
    assert.equal(user.body.error.code, 'wrong_principal');
    const agent = await call('POST', '/api/load_wallet', asAgent, { password: 'pw', mfa_code: '123456', address: ADDRESS });
    assert.equal(agent.status, 403);
    assert.equal(agent.body.error.code, 'wrong_principal');
  });

  test('a 503 from the service stays a 503 with Retry-After', async () => {
    failChain = true;
    try {
      const response = await fetch(`${base}/api/load_wallet`, {
        method: 'POST',
        headers: { ...asUser, 'content-type': 'application/json' },
        body: JSON.stringify({ password: 'pw', mfa_code: '123456', address: ADDRESS }),
      });
      assert.equal(response.status, 503);
      assert.ok(response.headers.get('retry-after'));
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'unavailable');
    } finally {
      failChain = false;
    }
  });
});

describe('validation', () => {
  test('bad input is a 400 that names the field and reaches no service', async () => {
    calls.length = 0;
    const cases: Array<[string, string, Record<string, string>, unknown]> = [
      ['POST', '/api/create_wallet', asUser, { password: '' }],
      ['POST', '/api/create_wallet', asUser, { password: 'x', label: 'x'.repeat(101) }],
      ['POST', '/api/load_wallet', asUser, { password: 'x', mfa_code: 'abcdef', address: ADDRESS }],
      ['GET', `/api/wallets/0x1234`, asUser, undefined],
      ['GET', `/api/wallets/${ADDRESS}?chain_id=1`, asUser, undefined],
      ['GET', `/api/wallets/${ADDRESS}?tokens=${Array(21).fill(ADDRESS).join(',')}`, asUser, undefined],
      ['GET', '/api/wallets?unknown=1', asUser, undefined],
      ['POST', '/api/agents/not-a-uuid/wallets', asUser, { address: ADDRESS, mfa_code: '123456' }],
      ['DELETE', `/api/agents/${AGENT_ID}/wallets/0xzz`, asUser, undefined],
    ];
    for (const [method, path, headers, body] of cases) {
      const r = await call(method, path, headers, body);
      assert.equal(r.status, 400, `${method} ${path} ${JSON.stringify(body)}`);
      assert.equal(r.body.error.code, 'invalid_request');
      assert.ok(Array.isArray(r.body.error.details));
    }
    assert.equal(calls.length, 0);
  });

  test('tokens and chain_id reach the service parsed; an uppercase agent id is lowercased', async () => {
    calls.length = 0;
    const token = '0x' + 'Cd'.repeat(20);
    assert.equal((await call('GET', `/api/wallets/${ADDRESS}?tokens=${token},${token.toLowerCase()}&chain_id=31337`, asUser)).status, 200);
    assert.deepEqual(calls[0]!.args[2], { tokens: [token.toLowerCase()], chain_id: 31337 });
    assert.equal((await call('POST', `/api/agents/${AGENT_ID.toUpperCase()}/wallets`, asUser, { address: ADDRESS, mfa_code: '123456' })).status, 200);
    assert.equal(calls[1]!.args[1], AGENT_ID);
    assert.equal((await call('DELETE', `/api/agents/${AGENT_ID}/wallets/${ADDRESS}`, asUser)).status, 204);
  });
});

describe('OpenAPI', () => {
  test('documents every wallet route, and no route exports or signs with a key', async () => {
    const doc = (await call('GET', '/openapi.json', {})).body as { paths: Record<string, Record<string, { requestBody?: unknown }>> };
    assert.ok(doc.paths['/api/create_wallet']?.post);
    assert.ok(doc.paths['/api/load_wallet']?.post?.requestBody);
    assert.ok(doc.paths['/api/wallets']?.get);
    assert.ok(doc.paths['/api/wallets/{address}']?.get);
    assert.ok(doc.paths['/api/agents/{id}/wallets']?.post);
    assert.ok(doc.paths['/api/agents/{id}/wallets/{address}']?.delete);
    for (const path of Object.keys(doc.paths)) assert.doesNotMatch(path, /export|private|secret|mnemonic|sign_message|key/i);
  });
});
