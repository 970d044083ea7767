/**
 * Abuse, part 1: who may call what, on whose objects (docs/http-contract.md, "Who may
 * call what" and "Order of checks"), against the real stack.
 *
 *  - The authorization matrix: every operation of the served OpenAPI document
 *    × {no credentials, another user's JWT, another user's agent key, own agent
 *    key, owner's JWT, revoked key, expired JWT}. The operations come from the
 *    document, so a new route without an expectation here fails the test.
 *  - Object-level authorization (BOLA) across two tenants for every operation
 *    that takes an id or an address: someone else's object and an unknown one
 *    are the same 404 with byte-identical bodies, and the 404 comes before a
 *    TOTP step is consumed.
 *  - Unknown fields and query parameters (400), oversized bodies (413), wrong
 *    content types (415), replayed TOTP codes (403 mfa_code_used), credentials
 *    in the query string (401), cookie writes without the CSRF header (401).
 *  - Every error answer, whichever test produced it: `{error:{code,message}}`
 *    with a docs/http-contract.md code for its status, no stack or internals, the request
 *    id in a header only; and no 5xx at all.
 *
 * Brute-force lock-outs move the clock and live in abuse-lockouts.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Wallet } from 'ethers';
import { generate } from 'otplib';
import { startTestApp, type TestApp } from '../support/app';
import { chainProvider, newAgent, newUser, newWallet, randomAddress, type TestUser } from '../support/actors';
import { deployReverter, deployTestToken, fundedWallet, mintTestToken, Reverter } from '../support/contracts';
import { createTestClock } from '../../lib/clock';
import { createTokenService } from '../../domains/users/tokens';
import { BODY_LIMIT_BYTES } from '../../api/http/body';
import { recordProofRow } from './support/summary';

// ---------------------------------------------------------------------------------------------
// HTTP, with every answer kept for the error-shape and server-error checks

interface Answer {
  status: number;
  body: unknown;
  text: string;
  headers: Headers;
  label: string;
}

interface Req {
  method: string;
  path: string;
  body?: unknown;
  /** Raw body bytes (sent as is, with `contentType` if given). */
  raw?: string | Buffer;
  contentType?: string;
  token?: string;
  apiKey?: string;
  headers?: Record<string, string>;
}

const answers: Answer[] = [];
let app: TestApp;
/** Set by any failing test: the summary row says whether the whole file held. */
let anyFailed = false;
function it(name: string, fn: () => Promise<void> | void): void {
  void test(name, async () => {
    try {
      await fn();
    } catch (error) {
      anyFailed = true;
      throw error;
    }
  });
}

async function send(req: Req, label = `${req.method} ${req.path}`): Promise<Answer> {
  const headers: Record<string, string> = { ...(req.headers ?? {}) };
  if (req.token) headers.authorization = `Bearer ${req.token}`;
  if (req.apiKey) headers['x-api-key'] = req.apiKey;
  let body: string | Buffer | undefined;
  if (req.raw !== undefined) {
    body = req.raw;
    if (req.contentType) headers['content-type'] = req.contentType;
  } else if (req.body !== undefined) {
    body = JSON.stringify(req.body);
    headers['content-type'] = req.contentType ?? 'application/json';
  }
  const response = await fetch(`${app.url}${req.path}`, { method: req.method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON: the shape check reports it */
  }
  const answer = { status: response.status, body: parsed, text, headers: response.headers, label };
  answers.push(answer);
  return answer;
}

const errorCode = (a: Answer) => (a.body as { error?: { code?: string } } | undefined)?.error?.code;

function expectAnswer(a: Answer, status: number | number[], code?: string) {
  const statuses = Array.isArray(status) ? status : [status];
  assert.ok(statuses.includes(a.status), `${a.label}: expected ${statuses.join('|')}${code ? ` ${code}` : ''}, got ${a.status} ${a.text.slice(0, 300)}`);
  if (code) assert.equal(errorCode(a), code, `${a.label}: expected code ${code}, got ${a.text.slice(0, 300)}`);
}

// ---------------------------------------------------------------------------------------------
// Two tenants

interface Tenant {
  user: TestUser;
  wallet: string;
  agent: { agentId: string; apiKey: string };
  /** A pending request prepared by `agent` on `wallet`, never decided by anyone. */
  pendingTx: string;
  pendingDigest: string;
  webhookId: string;
}

let A: Tenant;
let B: Tenant;
let revokedKey: string;
let expiredJwt: string;
/** A second agent of A granted wallet A: the withdraw route works on it, not on A's main agent. */
let withdrawAgent: string;
let token: string;
let reverter: string;
let deployer: Wallet;
const provider = chainProvider();
let preparedCount = 0;
let approvedCount = 0;
/** An address in A's address book (and in nobody else's). */
let labelledByA = '';

/** Labels a fresh address in A's book; returns it. */
async function labelInA(): Promise<string> {
  const address = randomAddress();
  expectAnswer(await send({ method: 'POST', path: '/api/address_book', token: A.user.token, body: { address, label: 'Matrix entry', mfa_code: await A.user.nextCode() } }, 'setup: label'), 201);
  return address;
}

async function prepare(tenant: Tenant): Promise<{ id: string; digest: string }> {
  const a = await send({
    method: 'POST',
    path: '/api/prepare_transaction',
    apiKey: tenant.agent.apiKey,
    body: { wallet_address: tenant.wallet, kind: 'native', to_address: randomAddress(), amount: '1000' },
  }, 'setup: prepare');
  expectAnswer(a, 202);
  preparedCount += 1;
  const body = a.body as { transaction_id: string; digest: string };
  return { id: body.transaction_id, digest: body.digest };
}

async function approve(tenant: Tenant, tx: { id: string; digest: string }) {
  const a = await send({
    method: 'POST',
    path: '/api/authorize_transaction',
    token: tenant.user.token,
    body: { transaction_id: tx.id, digest: tx.digest, mfa_code: await tenant.user.nextCode() },
  }, 'setup: authorize');
  expectAnswer(a, 200);
  approvedCount += 1;
}

async function createWebhook(tenant: Tenant): Promise<string> {
  const a = await send({ method: 'POST', path: '/api/webhooks', apiKey: tenant.agent.apiKey, body: { url: `http://127.0.0.1:9/hook-${randomBytes(4).toString('hex')}` } }, 'setup: webhook');
  expectAnswer(a, 201);
  return (a.body as { webhook_id: string }).webhook_id;
}

async function newTenant(): Promise<Tenant> {
  const user = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, user);
  const agent = await newAgent(app.url, user, [wallet]);
  const tenant = { user, wallet, agent, pendingTx: '', pendingDigest: '', webhookId: '' };
  const pending = await prepare(tenant);
  tenant.pendingTx = pending.id;
  tenant.pendingDigest = pending.digest;
  tenant.webhookId = await createWebhook(tenant);
  return tenant;
}

/** Registered and logged in, no MFA yet. */
async function freshLogin(): Promise<{ token: string; username: string; password: string }> {
  const username = `f${randomBytes(5).toString('hex')}`;
  const password = `pw-${randomBytes(9).toString('base64url')}`;
  expectAnswer(await send({ method: 'POST', path: '/api/register', body: { username, password } }, 'setup: register'), 201);
  const login = await send({ method: 'POST', path: '/api/login', body: { username, password } }, 'setup: login');
  expectAnswer(login, 200);
  return { token: (login.body as { access_token: string }).access_token, username, password };
}

async function freshToken(user: TestUser): Promise<string> {
  const login = await send({ method: 'POST', path: '/api/login', body: { username: user.username, password: user.password } }, 'setup: login');
  expectAnswer(login, 200);
  return (login.body as { access_token: string }).access_token;
}

/** A new session of `user` (a fresh login), by its id. */
async function spareSessionOf(user: TestUser): Promise<string> {
  const t = await freshToken(user);
  const list = await send({ method: 'GET', path: '/api/sessions', token: t }, 'setup: sessions');
  expectAnswer(list, 200);
  return (list.body as { sessions: { id: string; current: boolean }[] }).sessions.find((x) => x.current)!.id;
}

before(async () => {
  // Every TOTP code moves the test clock 30 s; tokens must outlive the many codes of this file.
  app = await startTestApp({ env: { JWT_ACCESS_TOKEN_EXPIRES: '1d' } });
  deployer = await fundedWallet(provider);
  A = await newTenant();
  B = await newTenant();

  const doomed = await newAgent(app.url, A.user, [A.wallet]);
  expectAnswer(await send({ method: 'DELETE', path: `/api/agents/${doomed.agentId}`, token: A.user.token }, 'setup: revoke'), 204);
  revokedKey = doomed.apiKey;
  withdrawAgent = (await newAgent(app.url, A.user, [A.wallet])).agentId;

  // Signed with the server's own key by its own token service, only a day in the past.
  const past = createTokenService({ config: app.config, clock: createTestClock(new Date(app.clock.now().getTime() - 3 * 86_400_000)) });
  expiredJwt = (await past.issue(A.user.userId)).token;

  token = (await deployTestToken(deployer, { symbol: 'ABU', decimals: 18 })).address;
  await mintTestToken(deployer, token, A.wallet, 10n ** 21n);
  reverter = (await deployReverter(deployer)).address;
  labelledByA = await labelInA();
});

after(async () => {
  try {
    if (app) await recordSummary();
  } finally {
    provider.destroy();
    await app?.stop();
  }
});

// ---------------------------------------------------------------------------------------------
// The matrix

const CELLS = ['none', 'otherJwt', 'otherKey', 'ownKey', 'ownerJwt', 'revokedKey', 'expiredJwt'] as const;
type Cell = (typeof CELLS)[number];
type Outcome = { status: number | number[]; code?: string };

function credentials(cell: Cell): Pick<Req, 'token' | 'apiKey'> {
  switch (cell) {
    case 'none':
      return {};
    case 'otherJwt':
      return { token: B.user.token };
    case 'otherKey':
      return { apiKey: B.agent.apiKey };
    case 'ownKey':
      return { apiKey: A.agent.apiKey };
    case 'ownerJwt':
      return { token: A.user.token };
    case 'revokedKey':
      return { apiKey: revokedKey };
    case 'expiredJwt':
      return { token: expiredJwt };
  }
}

/** The person behind a JWT cell (whose password and codes go in the body). */
const actor = (cell: Cell): TestUser => (cell === 'otherJwt' ? B.user : A.user);
const isKey = (cell: Cell) => cell === 'otherKey' || cell === 'ownKey' || cell === 'revokedKey';

const unauth: Outcome = { status: 401, code: 'unauthenticated' };
const wrong: Outcome = { status: 403, code: 'wrong_principal' };
const notFound: Outcome = { status: 404, code: 'not_found' };
const ok = (status: number | number[]): Outcome => ({ status });

const base = { none: unauth, revokedKey: unauth, expiredJwt: unauth };
/** User route on the owner's object: another user gets 404, any key 403. */
const userObject = (success: Outcome): Record<Cell, Outcome> => ({ ...base, otherJwt: notFound, otherKey: wrong, ownKey: wrong, ownerJwt: success });
/** User route on the caller's own account: any user may, no key may. */
const userSelf = (success: Outcome): Record<Cell, Outcome> => ({ ...base, otherJwt: success, otherKey: wrong, ownKey: wrong, ownerJwt: success });
/** Agent route on an object the owner's agent may use. */
const agentObject = (success: Outcome): Record<Cell, Outcome> => ({ ...base, otherJwt: wrong, otherKey: notFound, ownKey: success, ownerJwt: wrong });
const agentSelf = (success: Outcome): Record<Cell, Outcome> => ({ ...base, otherJwt: wrong, otherKey: success, ownKey: success, ownerJwt: wrong });
/** Users and agents, on an object of the owner's (the agent's by grant or because it prepared it). */
const principalObject = (success: Outcome): Record<Cell, Outcome> => ({ ...base, otherJwt: notFound, otherKey: notFound, ownKey: success, ownerJwt: success });
const principalSelf = (success: Outcome): Record<Cell, Outcome> => ({ ...base, otherJwt: success, otherKey: success, ownKey: success, ownerJwt: success });
const publicRoute = (success: Outcome): Record<Cell, Outcome> => Object.fromEntries(CELLS.map((c) => [c, success])) as Record<Cell, Outcome>;

interface MatrixRoute {
  expect: Record<Cell, Outcome>;
  /** The request for one cell, without credentials unless it must replace them (fresh accounts). */
  build(cell: Cell): Promise<Req>;
}

/** Routes that change the caller's own account run on a fresh account in the JWT cells. */
async function freshAccountToken(cell: Cell, make: () => Promise<string>): Promise<Pick<Req, 'token'> | Record<string, never>> {
  return cell === 'ownerJwt' || cell === 'otherJwt' ? { token: await make() } : {};
}

const MATRIX: Record<string, MatrixRoute> = {
  'POST /api/register': {
    expect: publicRoute(ok(201)),
    build: async () => ({ method: 'POST', path: '/api/register', body: { username: `r${randomBytes(5).toString('hex')}`, password: `pw-${randomBytes(9).toString('base64url')}` } }),
  },
  'POST /api/login': {
    expect: publicRoute(ok(200)),
    build: async () => ({ method: 'POST', path: '/api/login', body: { username: A.user.username, password: A.user.password } }),
  },
  'POST /api/logout': {
    expect: userSelf(ok(204)),
    build: async (cell) => ({ method: 'POST', path: '/api/logout', ...(await freshAccountToken(cell, () => freshToken(actor(cell)))) }),
  },
  'POST /api/setup_mfa': {
    expect: userSelf(ok(201)),
    build: async (cell) => ({ method: 'POST', path: '/api/setup_mfa', body: {}, ...(await freshAccountToken(cell, async () => (await freshLogin()).token)) }),
  },
  'POST /api/confirm_mfa': {
    expect: userSelf(ok(200)),
    build: async (cell) => {
      if (cell !== 'ownerJwt' && cell !== 'otherJwt') return { method: 'POST', path: '/api/confirm_mfa', body: { mfa_code: '123456' } };
      const fresh = await freshLogin();
      const setup = await send({ method: 'POST', path: '/api/setup_mfa', token: fresh.token }, 'setup: setup_mfa');
      expectAnswer(setup, 201);
      app.clock.advance(30_000);
      const code = await generate({ secret: (setup.body as { secret: string }).secret, epoch: Math.floor(app.clock.now().getTime() / 1000) });
      return { method: 'POST', path: '/api/confirm_mfa', token: fresh.token, body: { mfa_code: code } };
    },
  },
  'POST /api/change_password': {
    // A fresh user with MFA in the JWT cells: changing A's password would pull it from under the other rows.
    expect: userSelf(ok(204)),
    build: async (cell) => {
      if (cell !== 'ownerJwt' && cell !== 'otherJwt') return { method: 'POST', path: '/api/change_password', body: { current_password: 'x', new_password: 'some new passphrase', mfa_code: '123456' } };
      const fresh = await newUser(app.url, app.clock);
      return { method: 'POST', path: '/api/change_password', token: fresh.token, body: { current_password: fresh.password, new_password: `new-${randomBytes(9).toString('base64url')}`, mfa_code: await fresh.nextCode() } };
    },
  },
  'GET /api/sessions': { expect: userSelf(ok(200)), build: async () => ({ method: 'GET', path: '/api/sessions' }) },
  'DELETE /api/sessions/{id}': {
    // A session of A's own, opened for this cell (never A's main one): another user's 404.
    expect: userObject(ok(204)),
    build: async () => ({ method: 'DELETE', path: `/api/sessions/${await spareSessionOf(A.user)}` }),
  },
  'POST /api/logout_all': {
    expect: userSelf(ok(204)),
    build: async (cell) => ({ method: 'POST', path: '/api/logout_all', ...(await freshAccountToken(cell, async () => (await freshLogin()).token)) }),
  },
  'POST /api/agents': {
    // Granting the owner's wallet makes it an object route: another user's 404.
    expect: userObject(ok(201)),
    build: async (cell) => ({ method: 'POST', path: '/api/agents', body: { name: `m-${cell}`, wallet_addresses: [A.wallet], mfa_code: await actor(cell).nextCode() } }),
  },
  'GET /api/agents': { expect: userSelf(ok(200)), build: async () => ({ method: 'GET', path: '/api/agents' }) },
  'DELETE /api/agents/{id}': {
    expect: userObject(ok(204)),
    build: async (cell) => {
      const id = cell === 'ownerJwt' ? (await newAgent(app.url, A.user, [])).agentId : A.agent.agentId;
      return { method: 'DELETE', path: `/api/agents/${id}` };
    },
  },
  'POST /api/agents/{id}/wallets': {
    expect: userObject(ok(200)),
    build: async (cell) => {
      const id = cell === 'ownerJwt' ? (await newAgent(app.url, A.user, [])).agentId : A.agent.agentId;
      return { method: 'POST', path: `/api/agents/${id}/wallets`, body: { address: A.wallet, mfa_code: await actor(cell).nextCode() } };
    },
  },
  'DELETE /api/agents/{id}/wallets/{address}': {
    expect: userObject(ok(204)),
    build: async () => ({ method: 'DELETE', path: `/api/agents/${withdrawAgent}/wallets/${A.wallet}` }),
  },
  'POST /api/create_wallet': {
    expect: userSelf(ok(201)),
    build: async (cell) => ({ method: 'POST', path: '/api/create_wallet', body: { password: actor(cell).password, label: `m-${cell}` } }),
  },
  'POST /api/load_wallet': {
    // Users name one wallet (with password + TOTP); an agent's {} lists its own grants.
    expect: { ...base, otherJwt: notFound, otherKey: ok(200), ownKey: ok(200), ownerJwt: ok(200) },
    build: async (cell) =>
      isKey(cell) || cell === 'none'
        ? { method: 'POST', path: '/api/load_wallet', body: {} }
        : { method: 'POST', path: '/api/load_wallet', body: { address: A.wallet, password: actor(cell).password, mfa_code: await actor(cell).nextCode() } },
  },
  'GET /api/wallets': { expect: principalSelf(ok(200)), build: async () => ({ method: 'GET', path: '/api/wallets' }) },
  'GET /api/wallets/{address}': { expect: principalObject(ok(200)), build: async () => ({ method: 'GET', path: `/api/wallets/${A.wallet}` }) },
  'POST /api/prepare_transaction': {
    expect: agentObject(ok(202)),
    build: async (cell) => {
      if (cell === 'ownKey') preparedCount += 1;
      return { method: 'POST', path: '/api/prepare_transaction', body: { wallet_address: A.wallet, kind: 'native', to_address: randomAddress(), amount: '1' } };
    },
  },
  'POST /api/authorize_transaction': {
    expect: userObject(ok(200)),
    build: async (cell) => {
      const tx = cell === 'ownerJwt' ? await prepare(A) : { id: A.pendingTx, digest: A.pendingDigest };
      if (cell === 'ownerJwt') approvedCount += 1;
      return { method: 'POST', path: '/api/authorize_transaction', body: { transaction_id: tx.id, digest: tx.digest, mfa_code: await actor(cell).nextCode() } };
    },
  },
  'POST /api/reject_transaction': {
    expect: userObject(ok(200)),
    build: async (cell) => {
      const id = cell === 'ownerJwt' ? (await prepare(A)).id : A.pendingTx;
      return { method: 'POST', path: '/api/reject_transaction', body: { transaction_id: id, reason: 'matrix' } };
    },
  },
  'GET /api/transaction_status': {
    expect: principalObject(ok(200)),
    build: async () => ({ method: 'GET', path: `/api/transaction_status?transaction_id=${A.pendingTx}` }),
  },
  'GET /api/transactions/{id}': { expect: principalObject(ok(200)), build: async () => ({ method: 'GET', path: `/api/transactions/${A.pendingTx}` }) },
  'GET /api/transactions': { expect: principalSelf(ok(200)), build: async () => ({ method: 'GET', path: '/api/transactions' }) },
  'POST /api/execute_transaction': {
    expect: agentObject(ok(202)),
    build: async (cell) => {
      let id = A.pendingTx;
      if (cell === 'ownKey') {
        const tx = await prepare(A);
        await approve(A, tx);
        id = tx.id;
      }
      return { method: 'POST', path: '/api/execute_transaction', body: { transaction_id: id } };
    },
  },
  'POST /api/transactions/{id}/cancel': {
    expect: principalObject(ok(200)),
    build: async (cell) => {
      const id = cell === 'ownKey' || cell === 'ownerJwt' ? (await prepare(A)).id : A.pendingTx;
      return { method: 'POST', path: `/api/transactions/${id}/cancel` };
    },
  },
  'POST /api/transfer': {
    expect: userObject(ok([201, 202])),
    build: async (cell) => {
      if (cell === 'ownerJwt') approvedCount += 1;
      return { method: 'POST', path: '/api/transfer', body: { wallet_address: A.wallet, to_address: randomAddress(), amount: '1', password: actor(cell).password, mfa_code: await actor(cell).nextCode() } };
    },
  },
  'POST /api/transfer_erc20': {
    expect: userObject(ok([201, 202])),
    build: async (cell) => {
      if (cell === 'ownerJwt') approvedCount += 1;
      return {
        method: 'POST',
        path: '/api/transfer_erc20',
        body: { wallet_address: A.wallet, token_address: token, to_address: randomAddress(), amount: '1', password: actor(cell).password, mfa_code: await actor(cell).nextCode() },
      };
    },
  },
  'POST /api/contract_call': {
    expect: userObject(ok([201, 202])),
    build: async (cell) => {
      if (cell === 'ownerJwt') approvedCount += 1;
      return {
        method: 'POST',
        path: '/api/contract_call',
        body: { wallet_address: A.wallet, contract_address: reverter, contract_abi: Reverter.abi, function_name: 'store', function_args: ['5'], password: actor(cell).password, mfa_code: await actor(cell).nextCode() },
      };
    },
  },
  'GET /api/events': { expect: principalSelf(ok(200)), build: async () => ({ method: 'GET', path: '/api/events' }) },
  'POST /api/webhooks': {
    expect: agentSelf(ok(201)),
    build: async (cell) => ({ method: 'POST', path: '/api/webhooks', body: { url: `http://127.0.0.1:9/matrix-${cell}` } }),
  },
  'GET /api/webhooks': { expect: agentSelf(ok(200)), build: async () => ({ method: 'GET', path: '/api/webhooks' }) },
  'DELETE /api/webhooks/{id}': {
    expect: agentObject(ok(204)),
    build: async (cell) => ({ method: 'DELETE', path: `/api/webhooks/${cell === 'ownKey' ? await createWebhook(A) : A.webhookId}` }),
  },
  'POST /api/diagnostics/ping': { expect: principalSelf(ok(200)), build: async () => ({ method: 'POST', path: '/api/diagnostics/ping' }) },
  // Owner policies (issue 14): the owner reads and replaces; the granted agent reads the rules that apply to it.
  'GET /api/wallets/{address}/policy': { expect: principalObject(ok(200)), build: async () => ({ method: 'GET', path: `/api/wallets/${A.wallet}/policy` }) },
  'PUT /api/wallets/{address}/policy': {
    expect: userObject(ok(200)),
    build: async (cell) => ({ method: 'PUT', path: `/api/wallets/${A.wallet}/policy`, body: { rules: [], mfa_code: await actor(cell).nextCode() } }),
  },
  'POST /api/policy/check': {
    expect: principalObject(ok(200)),
    build: async () => ({ method: 'POST', path: '/api/policy/check', body: { wallet_address: A.wallet, kind: 'native', to_address: randomAddress(), amount: '1' } }),
  },
  'GET /api/address_book': { expect: principalSelf(ok(200)), build: async () => ({ method: 'GET', path: '/api/address_book' }) },
  'POST /api/address_book': {
    expect: userSelf(ok(201)),
    build: async (cell) => ({ method: 'POST', path: '/api/address_book', body: { address: randomAddress(), label: `matrix ${cell}`, mfa_code: await actor(cell).nextCode() } }),
  },
  'DELETE /api/address_book/{address}': {
    // Another user's 404: the entry is in A's book only.
    expect: userObject(ok(204)),
    build: async (cell) => ({ method: 'DELETE', path: `/api/address_book/${cell === 'ownerJwt' ? await labelInA() : labelledByA}`, body: { mfa_code: await actor(cell).nextCode() } }),
  },
  'GET /healthz': { expect: publicRoute(ok(200)), build: async () => ({ method: 'GET', path: '/healthz' }) },
  'GET /readyz': { expect: publicRoute(ok(200)), build: async () => ({ method: 'GET', path: '/readyz' }) },
  'GET /openapi.json': { expect: publicRoute(ok(200)), build: async () => ({ method: 'GET', path: '/openapi.json' }) },
};

type OpenApi = {
  paths: Record<string, Record<string, { security?: Array<Record<string, unknown>>; parameters?: Array<{ name: string; in: string }>; requestBody?: { content: Record<string, { schema: unknown }> } }>>;
};
let documentCache: OpenApi | undefined;
async function openapi(): Promise<OpenApi> {
  documentCache ??= (await send({ method: 'GET', path: '/openapi.json' })).body as OpenApi;
  return documentCache;
}
async function operations(): Promise<string[]> {
  const doc = await openapi();
  return Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`)).sort();
}

let cellsRun = 0;

describe('authorization matrix', () => {
  it('every operation of the OpenAPI document has an expectation for every credential', async () => {
    const ops = await operations();
    assert.ok(ops.length >= 30, `the document lists ${ops.length} operations`);
    assert.deepEqual(ops.filter((op) => !(op in MATRIX)), [], 'operations without a row in the matrix: add one');
    assert.deepEqual(Object.keys(MATRIX).filter((op) => !ops.includes(op)).sort(), [], 'matrix rows for operations the API does not serve');
  });

  it('every cell answers as documented (status and error code)', async () => {
    const failures: string[] = [];
    for (const op of await operations()) {
      const route = MATRIX[op];
      if (!route) continue; // reported by the test above
      for (const cell of CELLS) {
        const req = await route.build(cell);
        const answer = await send({ ...credentials(cell), ...req }, `${op} [${cell}]`);
        cellsRun += 1;
        const want = route.expect[cell];
        const statuses = Array.isArray(want.status) ? want.status : [want.status];
        if (!statuses.includes(answer.status) || (want.code && errorCode(answer) !== want.code)) {
          failures.push(`${op} [${cell}]: expected ${statuses.join('|')}${want.code ? ` ${want.code}` : ''}, got ${answer.status} ${answer.text.slice(0, 200)}`);
        }
      }
    }
    assert.deepEqual(failures, []);
  });

  it('POST /mcp (JSON-RPC, so not in the document) answers each credential like an agent route', async () => {
    const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'matrix', version: '1' } } };
    const expect = agentSelf(ok(200));
    const failures: string[] = [];
    for (const cell of CELLS) {
      const answer = await send({ method: 'POST', path: '/mcp', body: initialize, headers: { accept: 'application/json, text/event-stream' }, ...credentials(cell) }, `POST /mcp [${cell}]`);
      cellsRun += 1;
      const want = expect[cell];
      if (answer.status !== want.status || (want.code && errorCode(answer) !== want.code)) failures.push(`POST /mcp [${cell}]: expected ${String(want.status)} ${want.code ?? ''}, got ${answer.status} ${answer.text.slice(0, 200)}`);
      if (answer.status === 200 && !answer.text.includes('"serverInfo"')) failures.push(`POST /mcp [${cell}]: no initialize result: ${answer.text.slice(0, 200)}`);
    }
    assert.deepEqual(failures, []);
  });

  it('requests someone else tried to approve, execute, reject or cancel are untouched', async () => {
    const view = await send({ method: 'GET', path: `/api/transactions/${A.pendingTx}`, token: A.user.token });
    expectAnswer(view, 200);
    assert.equal((view.body as { status: string }).status, 'pending_approval');
    assert.equal((view.body as { approved_at: string | null }).approved_at, null);
  });
});

// ---------------------------------------------------------------------------------------------
// Object-level authorization (BOLA)

/** Inputs that name an object: every operation taking one must have a BOLA row. */
const OBJECT_FIELDS = ['id', 'address', 'transaction_id', 'transaction_ids', 'wallet_address', 'wallet_addresses', 'wallet'];

interface BolaProbe {
  /** Someone else's object vs an unknown one, asked by the same attacker: both 404, identical bodies. */
  foreign(): Promise<Req>;
  unknown(): Promise<Req>;
}

const uuid4 = () => randomUUID();
/** The attacker's own fresh code, sent with both probes; reused afterwards to prove it was not consumed. */
let bolaCode = '';

const BOLA: Record<string, BolaProbe[]> = {
  'DELETE /api/agents/{id}': [
    { foreign: async () => ({ method: 'DELETE', path: `/api/agents/${A.agent.agentId}`, token: B.user.token }), unknown: async () => ({ method: 'DELETE', path: `/api/agents/${uuid4()}`, token: B.user.token }) },
  ],
  'POST /api/agents/{id}/wallets': [
    {
      // Someone else's agent, one's own wallet.
      foreign: async () => ({ method: 'POST', path: `/api/agents/${A.agent.agentId}/wallets`, token: B.user.token, body: { address: B.wallet, mfa_code: bolaCode } }),
      unknown: async () => ({ method: 'POST', path: `/api/agents/${uuid4()}/wallets`, token: B.user.token, body: { address: B.wallet, mfa_code: bolaCode } }),
    },
    {
      // One's own agent, someone else's wallet.
      foreign: async () => ({ method: 'POST', path: `/api/agents/${B.agent.agentId}/wallets`, token: B.user.token, body: { address: A.wallet, mfa_code: bolaCode } }),
      unknown: async () => ({ method: 'POST', path: `/api/agents/${B.agent.agentId}/wallets`, token: B.user.token, body: { address: randomAddress(), mfa_code: bolaCode } }),
    },
  ],
  'DELETE /api/agents/{id}/wallets/{address}': [
    { foreign: async () => ({ method: 'DELETE', path: `/api/agents/${A.agent.agentId}/wallets/${A.wallet}`, token: B.user.token }), unknown: async () => ({ method: 'DELETE', path: `/api/agents/${uuid4()}/wallets/${A.wallet}`, token: B.user.token }) },
    { foreign: async () => ({ method: 'DELETE', path: `/api/agents/${B.agent.agentId}/wallets/${A.wallet}`, token: B.user.token }), unknown: async () => ({ method: 'DELETE', path: `/api/agents/${B.agent.agentId}/wallets/${randomAddress()}`, token: B.user.token }) },
  ],
  'POST /api/agents': [
    {
      foreign: async () => ({ method: 'POST', path: '/api/agents', token: B.user.token, body: { name: 'bola', wallet_addresses: [A.wallet], mfa_code: bolaCode } }),
      unknown: async () => ({ method: 'POST', path: '/api/agents', token: B.user.token, body: { name: 'bola', wallet_addresses: [randomAddress()], mfa_code: bolaCode } }),
    },
  ],
  'GET /api/wallets/{address}': [
    { foreign: async () => ({ method: 'GET', path: `/api/wallets/${A.wallet}`, token: B.user.token }), unknown: async () => ({ method: 'GET', path: `/api/wallets/${randomAddress()}`, token: B.user.token }) },
    { foreign: async () => ({ method: 'GET', path: `/api/wallets/${A.wallet.toLowerCase()}`, apiKey: B.agent.apiKey }), unknown: async () => ({ method: 'GET', path: `/api/wallets/${randomAddress()}`, apiKey: B.agent.apiKey }) },
  ],
  'POST /api/load_wallet': [
    {
      foreign: async () => ({ method: 'POST', path: '/api/load_wallet', token: B.user.token, body: { address: A.wallet, password: B.user.password, mfa_code: bolaCode } }),
      unknown: async () => ({ method: 'POST', path: '/api/load_wallet', token: B.user.token, body: { address: randomAddress(), password: B.user.password, mfa_code: bolaCode } }),
    },
  ],
  'POST /api/prepare_transaction': [
    {
      foreign: async () => ({ method: 'POST', path: '/api/prepare_transaction', apiKey: B.agent.apiKey, body: { wallet_address: A.wallet, kind: 'native', to_address: B.wallet, amount: '1' } }),
      unknown: async () => ({ method: 'POST', path: '/api/prepare_transaction', apiKey: B.agent.apiKey, body: { wallet_address: randomAddress(), kind: 'native', to_address: B.wallet, amount: '1' } }),
    },
  ],
  'POST /api/authorize_transaction': [
    {
      foreign: async () => ({ method: 'POST', path: '/api/authorize_transaction', token: B.user.token, body: { transaction_id: A.pendingTx, digest: A.pendingDigest, mfa_code: bolaCode } }),
      unknown: async () => ({ method: 'POST', path: '/api/authorize_transaction', token: B.user.token, body: { transaction_id: uuid4(), digest: A.pendingDigest, mfa_code: bolaCode } }),
    },
    {
      // A batch with one of one's own and one of someone else's: nothing is approved.
      foreign: async () => ({ method: 'POST', path: '/api/authorize_transaction', token: B.user.token, body: { transaction_ids: [B.pendingTx, A.pendingTx], digests: [B.pendingDigest, A.pendingDigest], mfa_code: bolaCode } }),
      unknown: async () => ({ method: 'POST', path: '/api/authorize_transaction', token: B.user.token, body: { transaction_ids: [B.pendingTx, uuid4()], digests: [B.pendingDigest, A.pendingDigest], mfa_code: bolaCode } }),
    },
  ],
  'POST /api/reject_transaction': [
    {
      foreign: async () => ({ method: 'POST', path: '/api/reject_transaction', token: B.user.token, body: { transaction_id: A.pendingTx, reason: 'x' } }),
      unknown: async () => ({ method: 'POST', path: '/api/reject_transaction', token: B.user.token, body: { transaction_id: uuid4(), reason: 'x' } }),
    },
  ],
  'GET /api/transaction_status': [
    { foreign: async () => ({ method: 'GET', path: `/api/transaction_status?transaction_id=${A.pendingTx}`, token: B.user.token }), unknown: async () => ({ method: 'GET', path: `/api/transaction_status?transaction_id=${uuid4()}`, token: B.user.token }) },
    { foreign: async () => ({ method: 'GET', path: `/api/transaction_status?transaction_id=${A.pendingTx}`, apiKey: B.agent.apiKey }), unknown: async () => ({ method: 'GET', path: `/api/transaction_status?transaction_id=${uuid4()}`, apiKey: B.agent.apiKey }) },
  ],
  'GET /api/transactions/{id}': [
    { foreign: async () => ({ method: 'GET', path: `/api/transactions/${A.pendingTx}`, token: B.user.token }), unknown: async () => ({ method: 'GET', path: `/api/transactions/${uuid4()}`, token: B.user.token }) },
    { foreign: async () => ({ method: 'GET', path: `/api/transactions/${A.pendingTx.toUpperCase()}`, apiKey: B.agent.apiKey }), unknown: async () => ({ method: 'GET', path: `/api/transactions/${uuid4()}`, apiKey: B.agent.apiKey }) },
  ],
  'POST /api/transactions/{id}/cancel': [
    { foreign: async () => ({ method: 'POST', path: `/api/transactions/${A.pendingTx}/cancel`, token: B.user.token }), unknown: async () => ({ method: 'POST', path: `/api/transactions/${uuid4()}/cancel`, token: B.user.token }) },
    { foreign: async () => ({ method: 'POST', path: `/api/transactions/${A.pendingTx}/cancel`, apiKey: B.agent.apiKey }), unknown: async () => ({ method: 'POST', path: `/api/transactions/${uuid4()}/cancel`, apiKey: B.agent.apiKey }) },
  ],
  'POST /api/execute_transaction': [
    {
      foreign: async () => ({ method: 'POST', path: '/api/execute_transaction', apiKey: B.agent.apiKey, body: { transaction_id: A.pendingTx } }),
      unknown: async () => ({ method: 'POST', path: '/api/execute_transaction', apiKey: B.agent.apiKey, body: { transaction_id: uuid4() } }),
    },
  ],
  'POST /api/transfer': [
    {
      foreign: async () => ({ method: 'POST', path: '/api/transfer', token: B.user.token, body: { wallet_address: A.wallet, to_address: B.wallet, amount: '1', password: B.user.password, mfa_code: bolaCode } }),
      unknown: async () => ({ method: 'POST', path: '/api/transfer', token: B.user.token, body: { wallet_address: randomAddress(), to_address: B.wallet, amount: '1', password: B.user.password, mfa_code: bolaCode } }),
    },
  ],
  'POST /api/transfer_erc20': [
    {
      foreign: async () => ({ method: 'POST', path: '/api/transfer_erc20', token: B.user.token, body: { wallet_address: A.wallet, token_address: token, to_address: B.wallet, amount: '1', password: B.user.password, mfa_code: bolaCode } }),
      unknown: async () => ({ method: 'POST', path: '/api/transfer_erc20', token: B.user.token, body: { wallet_address: randomAddress(), token_address: token, to_address: B.wallet, amount: '1', password: B.user.password, mfa_code: bolaCode } }),
    },
  ],
  'POST /api/contract_call': [
    {
      foreign: async () => ({ method: 'POST', path: '/api/contract_call', token: B.user.token, body: { wallet_address: A.wallet, contract_address: reverter, data: '0x', password: B.user.password, mfa_code: bolaCode } }),
      unknown: async () => ({ method: 'POST', path: '/api/contract_call', token: B.user.token, body: { wallet_address: randomAddress(), contract_address: reverter, data: '0x', password: B.user.password, mfa_code: bolaCode } }),
    },
  ],
  'DELETE /api/sessions/{id}': [
    { foreign: async () => ({ method: 'DELETE', path: `/api/sessions/${await spareSessionOf(A.user)}`, token: B.user.token }), unknown: async () => ({ method: 'DELETE', path: `/api/sessions/${uuid4()}`, token: B.user.token }) },
  ],
  'DELETE /api/webhooks/{id}': [
    { foreign: async () => ({ method: 'DELETE', path: `/api/webhooks/${A.webhookId}`, apiKey: B.agent.apiKey }), unknown: async () => ({ method: 'DELETE', path: `/api/webhooks/${uuid4()}`, apiKey: B.agent.apiKey }) },
  ],
  'GET /api/wallets/{address}/policy': [
    { foreign: async () => ({ method: 'GET', path: `/api/wallets/${A.wallet}/policy`, token: B.user.token }), unknown: async () => ({ method: 'GET', path: `/api/wallets/${randomAddress()}/policy`, token: B.user.token }) },
    { foreign: async () => ({ method: 'GET', path: `/api/wallets/${A.wallet.toLowerCase()}/policy`, apiKey: B.agent.apiKey }), unknown: async () => ({ method: 'GET', path: `/api/wallets/${randomAddress()}/policy`, apiKey: B.agent.apiKey }) },
  ],
  'PUT /api/wallets/{address}/policy': [
    {
      foreign: async () => ({ method: 'PUT', path: `/api/wallets/${A.wallet}/policy`, token: B.user.token, body: { rules: [{ type: 'frozen' }], mfa_code: bolaCode } }),
      unknown: async () => ({ method: 'PUT', path: `/api/wallets/${randomAddress()}/policy`, token: B.user.token, body: { rules: [{ type: 'frozen' }], mfa_code: bolaCode } }),
    },
    {
      // One's own wallet, someone else's agent in a rule.
      foreign: async () => ({ method: 'PUT', path: `/api/wallets/${B.wallet}/policy`, token: B.user.token, body: { rules: [{ type: 'frozen', agent_id: A.agent.agentId }], mfa_code: bolaCode } }),
      unknown: async () => ({ method: 'PUT', path: `/api/wallets/${B.wallet}/policy`, token: B.user.token, body: { rules: [{ type: 'frozen', agent_id: uuid4() }], mfa_code: bolaCode } }),
    },
  ],
  'POST /api/policy/check': [
    {
      foreign: async () => ({ method: 'POST', path: '/api/policy/check', apiKey: B.agent.apiKey, body: { wallet_address: A.wallet, kind: 'native', to_address: B.wallet, amount: '1' } }),
      unknown: async () => ({ method: 'POST', path: '/api/policy/check', apiKey: B.agent.apiKey, body: { wallet_address: randomAddress(), kind: 'native', to_address: B.wallet, amount: '1' } }),
    },
    {
      foreign: async () => ({ method: 'POST', path: '/api/policy/check', token: B.user.token, body: { wallet_address: A.wallet, kind: 'native', to_address: B.wallet, amount: '1' } }),
      unknown: async () => ({ method: 'POST', path: '/api/policy/check', token: B.user.token, body: { wallet_address: randomAddress(), kind: 'native', to_address: B.wallet, amount: '1' } }),
    },
    {
      // The owner dry-running as someone else's agent.
      foreign: async () => ({ method: 'POST', path: '/api/policy/check', token: B.user.token, body: { wallet_address: B.wallet, agent_id: A.agent.agentId, kind: 'native', to_address: A.wallet, amount: '1' } }),
      unknown: async () => ({ method: 'POST', path: '/api/policy/check', token: B.user.token, body: { wallet_address: B.wallet, agent_id: uuid4(), kind: 'native', to_address: A.wallet, amount: '1' } }),
    },
  ],
  'DELETE /api/address_book/{address}': [
    {
      foreign: async () => ({ method: 'DELETE', path: `/api/address_book/${labelledByA}`, token: B.user.token, body: { mfa_code: bolaCode } }),
      unknown: async () => ({ method: 'DELETE', path: `/api/address_book/${randomAddress()}`, token: B.user.token, body: { mfa_code: bolaCode } }),
    },
  ],
};

/** Operations whose path, query or body names an object (an id or an address). */
async function objectOperations(): Promise<string[]> {
  const doc = await openapi();
  const out: string[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const names = new Set((op.parameters ?? []).map((p) => p.name));
      const collect = (schema: unknown) => {
        if (!schema || typeof schema !== 'object') return;
        const s = schema as { properties?: Record<string, unknown>; anyOf?: unknown[]; oneOf?: unknown[] };
        for (const name of Object.keys(s.properties ?? {})) names.add(name);
        for (const branch of [...(s.anyOf ?? []), ...(s.oneOf ?? [])]) collect(branch);
      };
      collect(op.requestBody?.content['application/json']?.schema);
      if ([...names].some((n) => OBJECT_FIELDS.includes(n))) out.push(`${method.toUpperCase()} ${path}`);
    }
  }
  return out.sort();
}

let bolaProbes = 0;

describe('object-level authorization across two tenants', () => {
  it('every operation that takes an id or an address has BOLA probes', async () => {
    const ops = await objectOperations();
    assert.ok(ops.length >= 15, `found ${ops.length}`);
    // GET /api/transactions?wallet= filters the caller's own list; it is checked on its own below.
    // POST /api/address_book labels any address in the caller's own book: there is nothing of anyone's to find.
    const own = ['GET /api/transactions', 'POST /api/address_book'];
    assert.deepEqual(ops.filter((op) => !(op in BOLA) && !own.includes(op)), [], 'object operations without BOLA probes');
  });

  it('someone else’s object and an unknown one are the same 404, byte for byte, before any TOTP step is used', async () => {
    const failures: string[] = [];
    for (const [op, probes] of Object.entries(BOLA)) {
      for (const [i, probe] of probes.entries()) {
        bolaCode = await B.user.nextCode();
        const foreign = await send(await probe.foreign(), `${op} #${i} foreign`);
        const unknown = await send(await probe.unknown(), `${op} #${i} unknown`);
        bolaProbes += 2;
        if (foreign.status !== 404 || unknown.status !== 404) failures.push(`${op} #${i}: foreign ${foreign.status}, unknown ${unknown.status}: ${foreign.text.slice(0, 200)} | ${unknown.text.slice(0, 200)}`);
        else if (foreign.text !== unknown.text) failures.push(`${op} #${i}: bodies differ: ${foreign.text} vs ${unknown.text}`);
        if (errorCode(foreign) !== 'not_found') failures.push(`${op} #${i}: code ${errorCode(foreign)}`);
      }
      // The code sent with the last probes of this operation was not consumed by them.
      const own = await send({ method: 'POST', path: '/api/load_wallet', token: B.user.token, body: { address: B.wallet, password: B.user.password, mfa_code: bolaCode } }, `${op}: code still fresh`);
      if (own.status !== 200) failures.push(`${op}: the TOTP code sent with the 404 probes was used up or refused: ${own.status} ${own.text.slice(0, 200)}`);
    }
    assert.deepEqual(failures, []);
  });

  it('nothing of tenant A changed, and a foreign wallet filter lists nothing', async () => {
    const view = await send({ method: 'GET', path: `/api/transactions/${A.pendingTx}`, token: A.user.token });
    expectAnswer(view, 200);
    assert.equal((view.body as { status: string }).status, 'pending_approval');
    const agents = await send({ method: 'GET', path: '/api/agents', token: A.user.token });
    const main = (agents.body as { agents: Array<{ agent_id: string; revoked_at: string | null; wallets: string[] }> }).agents.find((a) => a.agent_id === A.agent.agentId);
    assert.ok(main && main.revoked_at === null && main.wallets.map((w) => w.toLowerCase()).includes(A.wallet.toLowerCase()), JSON.stringify(main));
    const hooks = await send({ method: 'GET', path: '/api/webhooks', apiKey: A.agent.apiKey });
    assert.ok(JSON.stringify(hooks.body).includes(A.webhookId), 'A’s webhook survives B’s delete');

    for (const auth of [{ token: B.user.token }, { apiKey: B.agent.apiKey }]) {
      const list = await send({ method: 'GET', path: `/api/transactions?wallet=${A.wallet}`, ...auth }, 'list filtered by a foreign wallet');
      expectAnswer(list, [200, 404]);
      if (list.status === 200) assert.deepEqual((list.body as { transactions: unknown[] }).transactions, []);
      const events = await send({ method: 'GET', path: '/api/events', ...auth });
      expectAnswer(events, 200);
      assert.ok(!events.text.includes(A.pendingTx), 'B’s events mention none of A’s transactions');
      const all = await send({ method: 'GET', path: '/api/transactions', ...auth });
      assert.ok(!all.text.includes(A.pendingTx) && !all.text.toLowerCase().includes(A.wallet.toLowerCase()), 'B’s list mentions nothing of A’s');
      const wallets = await send({ method: 'GET', path: '/api/wallets', ...auth });
      assert.ok(!wallets.text.toLowerCase().includes(A.wallet.toLowerCase()), 'B’s wallets do not include A’s');
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Input abuse

/** Credentials that pass authentication and the principal check of an operation. */
function principalFor(op: { security?: Array<Record<string, unknown>> }): Pick<Req, 'token' | 'apiKey'> {
  const schemes = (op.security ?? []).flatMap((s) => Object.keys(s));
  if (schemes.length === 0) return {};
  if (schemes.includes('bearerAuth')) return { token: A.user.token };
  return { apiKey: A.agent.apiKey };
}

async function postOperations() {
  const doc = await openapi();
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => method === 'post')
      .map(([, op]) => ({ path: path.replace(/\{id\}/g, uuid4()).replace(/\{address\}/g, randomAddress()), label: `POST ${path}`, op })),
  );
}

let inputCases = 0;

describe('input abuse', () => {
  it('unknown body fields are a 400 naming the field, on every operation with a body', async () => {
    const doc = await openapi();
    const failures: string[] = [];
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (!op.requestBody) continue;
        const answer = await send({ method: method.toUpperCase(), path: path.replace(/\{id\}/g, uuid4()).replace(/\{address\}/g, randomAddress()), ...principalFor(op), body: { sneaky_extra_field: 'x' } }, `${method} ${path} unknown field`);
        inputCases += 1;
        if (answer.status !== 400 || errorCode(answer) !== 'invalid_request') failures.push(`${method} ${path}: ${answer.status} ${answer.text.slice(0, 200)}`);
        else if (!answer.text.includes('sneaky_extra_field')) failures.push(`${method} ${path}: 400 does not name the field: ${answer.text.slice(0, 300)}`);
      }
    }
    assert.deepEqual(failures, []);
  });

  it('a known body with one unknown field added is refused, not silently trimmed', async () => {
    const cases: Req[] = [
      { method: 'POST', path: '/api/prepare_transaction', apiKey: A.agent.apiKey, body: { wallet_address: A.wallet, kind: 'native', to_address: randomAddress(), amount: '1', gas_price: '1' } },
      { method: 'POST', path: '/api/authorize_transaction', token: A.user.token, body: { transaction_id: A.pendingTx, digest: A.pendingDigest, mfa_code: '000000', skip_mfa: true } },
      { method: 'POST', path: '/api/create_wallet', token: A.user.token, body: { password: A.user.password, private_key: '0x' + '11'.repeat(32) } },
      { method: 'POST', path: '/api/agents', token: A.user.token, body: { name: 'x', mfa_code: '000000', user_id: B.user.userId } },
      { method: 'POST', path: '/api/register', body: { username: `x${randomBytes(4).toString('hex')}`, password: 'long-enough-pass-1', is_admin: true } },
    ];
    for (const req of cases) {
      const answer = await send(req, `${req.path} with an extra field`);
      inputCases += 1;
      expectAnswer(answer, 400, 'invalid_request');
    }
  });

  it('free text: NUL is a 400 naming the field (never a database 500); lengths count code points as the schema says', async () => {
    const nul = await send({ method: 'POST', path: '/api/prepare_transaction', apiKey: A.agent.apiKey, body: { wallet_address: A.wallet, kind: 'native', to_address: randomAddress(), amount: '1', memo: 'pay\u0000me' } }, 'memo with NUL');
    expectAnswer(nul, 400, 'invalid_request');
    assert.match(nul.text, /"field":"memo"/);
    const tx = await prepare(A);
    const reason = await send({ method: 'POST', path: '/api/reject_transaction', token: A.user.token, body: { transaction_id: tx.id, reason: 'no\u0000thanks' } }, 'reason with NUL');
    expectAnswer(reason, 400, 'invalid_request');
    assert.match(reason.text, /"field":"reason"/);
    // 500 astral characters are 1000 UTF-16 units but 500 characters: within maxLength 500.
    const emoji = '\u{1F4B8}'.repeat(500);
    const long = await send({ method: 'POST', path: '/api/prepare_transaction', apiKey: A.agent.apiKey, body: { wallet_address: A.wallet, kind: 'native', to_address: randomAddress(), amount: '1', memo: emoji } }, 'memo of 500 astral characters');
    expectAnswer(long, 202);
    preparedCount += 1;
    expectAnswer(await send({ method: 'POST', path: '/api/reject_transaction', token: A.user.token, body: { transaction_id: tx.id, reason: emoji } }, 'reason of 500 astral characters'), 200);
    const rejected = await send({ method: 'GET', path: `/api/transactions/${tx.id}`, token: A.user.token });
    assert.equal((rejected.body as { rejection_reason: string }).rejection_reason, emoji, 'the reason is kept whole, not cut mid-character');
    expectAnswer(await send({ method: 'POST', path: '/api/prepare_transaction', apiKey: A.agent.apiKey, body: { wallet_address: A.wallet, kind: 'native', to_address: randomAddress(), amount: '1', memo: emoji + 'x' } }, 'memo of 501 characters'), 400, 'invalid_request');
    inputCases += 5;
  });

  it('unknown query parameters are a 400 on operations with a query schema', async () => {
    for (const [path, auth] of [
      ['/api/transactions?limit=5&owner=someone', { token: A.user.token }],
      ['/api/transaction_status?transaction_id=' + A.pendingTx + '&as_user=' + B.user.userId, { token: A.user.token }],
      ['/api/wallets?include_keys=1', { apiKey: A.agent.apiKey }],
      ['/api/events?scope=all', { apiKey: A.agent.apiKey }],
    ] as const) {
      const answer = await send({ method: 'GET', path, ...auth });
      inputCases += 1;
      expectAnswer(answer, 400, 'invalid_request');
    }
  });

  it('bodies over the limit are a 413 on every POST, declared or streamed without a length', async () => {
    const failures: string[] = [];
    const big = JSON.stringify({ padding: 'x'.repeat(BODY_LIMIT_BYTES) });
    for (const { path, label, op } of await postOperations()) {
      const declared = await send({ method: 'POST', path, ...principalFor(op), raw: big, contentType: 'application/json' }, `${label} oversized`);
      inputCases += 1;
      if (declared.status !== 413 || errorCode(declared) !== 'payload_too_large') failures.push(`${label}: ${declared.status} ${declared.text.slice(0, 200)}`);
    }
    // Without Content-Length (chunked): the limit is enforced while reading, not trusted from a header.
    const auth = { authorization: `Bearer ${A.user.token}`, 'content-type': 'application/json' };
    const chunks = (async function* () {
      for (let sent = 0; sent <= BODY_LIMIT_BYTES; sent += 64 * 1024) yield Buffer.from(' '.repeat(64 * 1024));
    })();
    const streamed = await fetch(`${app.url}/api/create_wallet`, { method: 'POST', headers: auth, body: chunks as unknown as RequestInit['body'], duplex: 'half' } as RequestInit);
    const text = await streamed.text();
    answers.push({ status: streamed.status, body: JSON.parse(text) as unknown, text, headers: streamed.headers, label: 'streamed oversized body' });
    if (streamed.status !== 413) failures.push(`streamed: ${streamed.status} ${text}`);
    assert.deepEqual(failures, []);
  });

  it('a body that is not JSON is a 415 on every POST; broken JSON is a 400 invalid_json', async () => {
    const failures: string[] = [];
    for (const { path, label, op } of await postOperations()) {
      for (const [raw, contentType] of [
        ['{"a":1}', 'text/plain'],
        ['a=1&b=2', 'application/x-www-form-urlencoded'],
        ['<a>1</a>', 'application/xml'],
        ['{"a":1}', undefined],
      ] as const) {
        const answer = await send({ method: 'POST', path, ...principalFor(op), raw, ...(contentType ? { contentType } : {}) }, `${label} as ${contentType ?? 'no type'}`);
        inputCases += 1;
        if (answer.status !== 415 || errorCode(answer) !== 'unsupported_media_type') failures.push(`${label} ${contentType}: ${answer.status} ${answer.text.slice(0, 200)}`);
      }
      const broken = await send({ method: 'POST', path, ...principalFor(op), raw: '{"a":', contentType: 'application/json' }, `${label} broken JSON`);
      inputCases += 1;
      if (broken.status !== 400 || errorCode(broken) !== 'invalid_json') failures.push(`${label} broken: ${broken.status} ${broken.text.slice(0, 200)}`);
    }
    assert.deepEqual(failures, []);
  });

  it('a POST without a documented body accepts an empty body with no Content-Type', async () => {
    expectAnswer(await send({ method: 'POST', path: '/api/diagnostics/ping', apiKey: A.agent.apiKey }), 200);
    const tx = await prepare(A);
    expectAnswer(await send({ method: 'POST', path: `/api/transactions/${tx.id}/cancel`, apiKey: A.agent.apiKey }), 200);
    expectAnswer(await send({ method: 'POST', path: '/api/logout', token: await freshToken(A.user) }), 204);
  });
});

// ---------------------------------------------------------------------------------------------
// Credentials abuse

describe('credential abuse', () => {
  it('a TOTP code works once: replays are 403 mfa_code_used, across requests and purposes', async () => {
    const first = await prepare(A);
    const second = await prepare(A);
    const code = await A.user.nextCode();
    expectAnswer(await send({ method: 'POST', path: '/api/authorize_transaction', token: A.user.token, body: { transaction_id: first.id, digest: first.digest, mfa_code: code } }), 200);
    approvedCount += 1;
    expectAnswer(await send({ method: 'POST', path: '/api/authorize_transaction', token: A.user.token, body: { transaction_id: second.id, digest: second.digest, mfa_code: code } }, 'replayed code, another request'), 403, 'mfa_code_used');
    expectAnswer(await send({ method: 'POST', path: '/api/load_wallet', token: A.user.token, body: { address: A.wallet, password: A.user.password, mfa_code: code } }, 'replayed code, another purpose'), 403, 'mfa_code_used');
    // The same code from another session of the same user is still the same code.
    expectAnswer(await send({ method: 'POST', path: '/api/authorize_transaction', token: await freshToken(A.user), body: { transaction_id: second.id, digest: second.digest, mfa_code: code } }, 'replayed code, new session'), 403, 'mfa_code_used');
    const view = await send({ method: 'GET', path: `/api/transactions/${second.id}`, token: A.user.token });
    assert.equal((view.body as { status: string }).status, 'pending_approval');
    // An older code (previous steps) is no better than a replay.
    const stale = await generate({ secret: A.user.secret, epoch: Math.floor(app.clock.now().getTime() / 1000) - 90 });
    const old = await send({ method: 'POST', path: '/api/authorize_transaction', token: A.user.token, body: { transaction_id: second.id, digest: second.digest, mfa_code: stale } }, 'code of an earlier step');
    expectAnswer(old, 403);
    assert.ok(['mfa_code_used', 'mfa_invalid'].includes(errorCode(old) ?? ''), old.text);
  });

  it('credentials in the query string are refused, even valid ones', async () => {
    for (const path of [
      `/api/wallets?api_key=${A.agent.apiKey}`,
      `/api/wallets?apikey=${A.agent.apiKey}`,
      `/api/wallets?access_token=${A.user.token}`,
      `/api/wallets?token=${A.user.token}`,
      `/api/wallets?jwt=${A.user.token}`,
    ]) {
      expectAnswer(await send({ method: 'GET', path }, 'key in query'), 401, 'unauthenticated');
      // Also when a valid header rides along: a key that was put in a URL is refused outright.
      expectAnswer(await send({ method: 'GET', path, apiKey: A.agent.apiKey }, 'key in query + header'), 401, 'unauthenticated');
    }
  });

  it('two credentials at once, or malformed ones, are 401', async () => {
    expectAnswer(await send({ method: 'GET', path: '/api/wallets', apiKey: A.agent.apiKey, token: A.user.token }), 401, 'unauthenticated');
    expectAnswer(await send({ method: 'GET', path: '/api/wallets', headers: { 'x-api-key': '' }, token: A.user.token }), 401, 'unauthenticated');
    expectAnswer(await send({ method: 'GET', path: '/api/wallets', headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } }), 401, 'unauthenticated');
    expectAnswer(await send({ method: 'GET', path: '/api/wallets', headers: { authorization: `Bearer ${A.user.token}x` } }), 401, 'unauthenticated');
    const [header, payload] = A.user.token.split('.');
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
    expectAnswer(await send({ method: 'GET', path: '/api/wallets', token: none }, 'alg none'), 401, 'unauthenticated');
    expectAnswer(await send({ method: 'GET', path: '/api/wallets', token: `${header}.${payload}.${'A'.repeat(43)}` }, 'forged signature'), 401, 'unauthenticated');
    const [prefix, keyId] = A.agent.apiKey.split('_');
    expectAnswer(await send({ method: 'GET', path: '/api/wallets', apiKey: `${prefix}_${keyId}_${'A'.repeat(43)}` }, 'right key id, wrong secret'), 401, 'unauthenticated');
  });

  it('a logged-out token is dead at once', async () => {
    const t = await freshToken(A.user);
    expectAnswer(await send({ method: 'GET', path: '/api/wallets', token: t }), 200);
    expectAnswer(await send({ method: 'POST', path: '/api/logout', token: t }), 204);
    expectAnswer(await send({ method: 'GET', path: '/api/wallets', token: t }, 'after logout'), 401, 'unauthenticated');
  });

  it('CSRF: a cookie-authenticated write needs the X-CSRF-Token of its session, from this site; reads do not', async () => {
    const login = await fetch(`${app.url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: A.user.username, password: A.user.password }) });
    assert.equal(login.status, 200);
    const cookies = login.headers.getSetCookie().map((c) => c.split(';')[0]!);
    const session = cookies.find((c) => c.startsWith('cs_session='));
    const csrf = cookies.find((c) => c.startsWith('cs_csrf='));
    assert.ok(session && csrf, `cookies: ${cookies.join(' | ')}`);
    const csrfValue = csrf.slice('cs_csrf='.length);
    const cookie = `${session}; ${csrf}`;
    const setCookies = login.headers.getSetCookie().join('\n');
    assert.match(setCookies, /cs_session=[^;]+;[^\n]*HttpOnly/i);
    assert.match(setCookies, /SameSite=Strict/i);

    expectAnswer(await send({ method: 'GET', path: '/api/wallets', headers: { cookie } }, 'cookie read'), 200);
    const write = (headers: Record<string, string>, label: string) =>
      send({ method: 'POST', path: '/api/create_wallet', headers: { cookie, ...headers }, body: { password: A.user.password, label: 'csrf' } }, label);
    expectAnswer(await write({}, 'cookie write without CSRF header'), 401, 'unauthenticated');
    expectAnswer(await write({ 'x-csrf-token': 'x'.repeat(csrfValue.length) }, 'cookie write with a wrong CSRF header'), 401, 'unauthenticated');
    expectAnswer(await write({ 'x-csrf-token': '' }, 'cookie write with an empty CSRF header'), 401, 'unauthenticated');
    // Only the session cookie (as a cross-site form could make the browser send): still refused.
    expectAnswer(await send({ method: 'POST', path: '/api/create_wallet', headers: { cookie: session, 'x-csrf-token': '' }, body: { password: A.user.password } }, 'session cookie only'), 401, 'unauthenticated');
    // Bound to the session: a cs_csrf cookie planted by someone else (a sibling subdomain can set cookies), echoed in the header.
    const planted = 'P'.repeat(csrfValue.length);
    expectAnswer(await send({ method: 'POST', path: '/api/create_wallet', headers: { cookie: `${session}; cs_csrf=${planted}`, 'x-csrf-token': planted }, body: { password: A.user.password } }, 'planted CSRF cookie'), 401, 'unauthenticated');
    // And from another site, even with the right token.
    expectAnswer(await write({ 'x-csrf-token': csrfValue, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }, 'cookie write from another site'), 401, 'unauthenticated');
    expectAnswer(await write({ 'x-csrf-token': csrfValue }, 'cookie write with the CSRF header'), 201);
    // A form post cannot even get that far: it is not JSON.
    expectAnswer(await send({ method: 'POST', path: '/api/logout', headers: { cookie }, raw: 'a=1', contentType: 'application/x-www-form-urlencoded' }, 'form post'), [401, 415]);
  });
});

// ---------------------------------------------------------------------------------------------
// Every answer, from every test above

const CODES: Record<number, string[]> = {
  400: ['invalid_request', 'invalid_json'],
  401: ['unauthenticated', 'invalid_credentials'],
  403: ['wrong_principal', 'mfa_not_enrolled', 'mfa_invalid', 'mfa_code_used', 'password_invalid', 'policy_denied'],
  404: ['not_found'],
  405: ['method_not_allowed'],
  409: ['invalid_state', 'username_taken'],
  413: ['payload_too_large'],
  415: ['unsupported_media_type'],
  422: ['idempotency_key_reused', 'simulation_failed'],
  429: ['rate_limited', 'mfa_locked'],
  503: ['unavailable'],
};
const INTERNALS = [/\bat .+:\d+:\d+/, /node_modules/, /\/work\//, /\.ts\b/, /stack/i, /\bSELECT\b|\bINSERT\b|violates|constraint|knex|postgres/i, /Error:/, /vault|openbao|temporal/i];

describe('every error answer', () => {
  it('is {error:{code,message}} with a docs/http-contract.md code for its status, no internals, the request id only in a header', () => {
    assert.ok(answers.length > 300, `only ${answers.length} answers collected`);
    const failures: string[] = [];
    for (const a of answers) {
      if (!a.headers.get('x-request-id')) failures.push(`${a.label}: no X-Request-Id`);
      if (a.status < 400) continue;
      const body = a.body as { error?: Record<string, unknown> } | undefined;
      if (!body || typeof body !== 'object' || Object.keys(body).join() !== 'error' || !body.error) {
        failures.push(`${a.label}: ${a.status} body is not {error}: ${a.text.slice(0, 200)}`);
        continue;
      }
      const { code, message, details, reason, hint, revert_reason: revertReason, warnings, ...rest } = body.error;
      if (typeof code !== 'string' || typeof message !== 'string') failures.push(`${a.label}: code/message missing: ${a.text.slice(0, 200)}`);
      // One sentence telling the caller what to do next (lib/errors.ts).
      if (typeof hint !== 'string' || !/^[A-Z].*\.$/.test(hint)) failures.push(`${a.label}: no one-sentence hint: ${a.text.slice(0, 200)}`);
      if (Object.keys(rest).length > 0) failures.push(`${a.label}: extra error keys ${Object.keys(rest).join(',')}`);
      // details: the fields of a 400, or the rules that refused a 403 policy_denied.
      if (details !== undefined && ((a.status !== 400 && code !== 'policy_denied') || !Array.isArray(details))) failures.push(`${a.label}: details on a ${a.status}`);
      const simulationFailed = a.status === 422 && code === 'simulation_failed';
      if (reason !== undefined && ((a.status !== 409 && !simulationFailed) || typeof reason !== 'string')) failures.push(`${a.label}: reason on a ${a.status}`);
      if ((revertReason !== undefined || warnings !== undefined) && !simulationFailed) failures.push(`${a.label}: simulation fields on a ${a.status} ${String(code)}`);
      if (!(CODES[a.status] ?? []).includes(code as string)) failures.push(`${a.label}: ${a.status} with code ${String(code)}`);
      const requestId = a.headers.get('x-request-id') ?? '';
      if (requestId && a.text.includes(requestId)) failures.push(`${a.label}: the request id is in the body`);
      for (const pattern of INTERNALS) if (pattern.test(a.text)) failures.push(`${a.label}: body matches ${pattern}: ${a.text.slice(0, 200)}`);
      if ((a.status === 429 || a.status === 503) && !a.headers.get('retry-after')) failures.push(`${a.label}: ${a.status} without Retry-After`);
    }
    assert.deepEqual(failures, []);
  });

  it('no answer was a 5xx, and nothing unapproved was signed', async () => {
    const { serverErrors, unapprovedSignatures } = await tally();
    assert.deepEqual(serverErrors.map((a) => `${a.label}: ${a.status} ${a.text.slice(0, 200)}`), []);
    assert.equal(unapprovedSignatures, 0);
  });
});

async function tally() {
  const serverErrors = answers.filter((a) => a.status >= 500);
  // Anything the worker signed must carry an owner's approval (the database is the record).
  const rows = await app.database
    .db('signed_transactions as s')
    .leftJoin('approvals as a', 'a.transaction_id', 's.transaction_id')
    .whereNull('a.id')
    .count<Array<{ count: string }>>('s.transaction_id as count');
  return { serverErrors, unapprovedSignatures: Number(rows[0]?.count ?? 0) };
}

/** One row in the proof summary, recorded after all tests, whether they passed or not. */
async function recordSummary() {
  const { serverErrors, unapprovedSignatures } = await tally();
  recordProofRow({
    suite: 'abuse: authorization matrix, BOLA, input and credential abuse',
    requests: preparedCount,
    approved: approvedCount,
    unapprovedSignatures,
    serverErrors: serverErrors.length,
    passed: !anyFailed && serverErrors.length === 0 && unapprovedSignatures === 0,
    notes: `${cellsRun} matrix cells, ${bolaProbes} BOLA probes, ${inputCases} input cases, ${answers.length} HTTP answers checked`,
  });
}
