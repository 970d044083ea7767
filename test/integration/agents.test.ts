/**
 * Agents and API keys against the real PostgreSQL: creation behind the TOTP
 * gate, keys stored as HMAC digests, listing without keys, revocation and
 * expiry, object-level authorization, wallet grants, last_used_at.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { getAddress } from 'ethers';
import { z } from 'zod';
import { defineRoute } from '../../api/http/route';
import { CreateAgentResponse, ListAgentsResponse } from '../../api/routes/agents';
import { call, codeNow, enrollMfa, newUser, startAccountsApp, type AccountsHarness } from '../support/accounts';

const whoAmI = defineRoute({
  method: 'GET',
  path: '/api/test/agent-only',
  auth: 'agent',
  summary: 'test: who am I (agents only)',
  tags: ['test'],
  responses: { 200: z.object({ agent_id: z.string(), user_id: z.string() }) },
  handler: async ({ principal }) => ({ status: 200, body: { agent_id: principal.agentId, user_id: principal.userId } }),
});

let h: AccountsHarness;
before(async () => {
  h = await startAccountsApp({ env: { JWT_ACCESS_TOKEN_EXPIRES: '4h' }, extraRoutes: [whoAmI] });
});
after(async () => h?.close());

const errorCode = (answer: { body: Record<string, unknown> }) => (answer.body.error as { code: string } | undefined)?.code;

/** A user with MFA and a fresh code ready. */
async function owner() {
  const user = await newUser(h);
  const secret = await enrollMfa(h, user.token);
  return { ...user, secret, code: () => codeNow(h, secret), nextStep: () => h.clock.advance(30_000) };
}

async function addWallet(userId: string): Promise<string> {
  const address = `0x${randomBytes(20).toString('hex')}`;
  await h.database.db('wallets').insert({ id: randomUUID(), user_id: userId, address, key_ciphertext: 'local:v1:AAAA' });
  return address;
}

const create = (token: string, body: Record<string, unknown>) => call(h.url, 'POST', '/api/agents', { token, body });
const whoami = (apiKey: string) => call(h.url, 'GET', '/api/test/agent-only', { apiKey });

describe('create', () => {
  test('201 with the key shown once; only an HMAC digest is stored; audited', async () => {
    const u = await owner();
    const answer = await create(u.token, { name: 'trader', mfa_code: await u.code() });
    assert.equal(answer.status, 201);
    assert.ok(CreateAgentResponse.safeParse(answer.body).success, JSON.stringify(answer.body));
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    const apiKey = answer.body.api_key as string;
    const [, keyId, secret] = /^cs_([0-9a-f]{24})_([A-Za-z0-9_-]{43})$/.exec(apiKey)!;
    assert.equal(Buffer.from(secret!, 'base64url').length, 32, '256-bit secret');
    assert.deepEqual(answer.body.wallets, [], 'an omitted list grants nothing');
    assert.equal(answer.body.expires_at, null);

    const row = await h.database.db('agents').where({ id: answer.body.agent_id }).first();
    assert.equal(row.key_id, keyId);
    assert.deepEqual(row.key_digest, createHmac('sha256', h.config.API_KEY_HMAC_KEY!).update(secret!).digest());
    assert.ok(!JSON.stringify(row).includes(secret!), 'the secret is stored nowhere');
    const events = await h.database.db('audit_events').where({ subject_id: answer.body.agent_id });
    assert.deepEqual(events.map((e: { action: string }) => e.action), ['agent.created']);
    assert.ok(!JSON.stringify(events).includes(secret!), 'nor in the audit log');

    const me = await whoami(apiKey);
    assert.equal(me.status, 200);
    assert.deepEqual(me.body, { agent_id: answer.body.agent_id, user_id: u.userId });
    const bearer = await call(h.url, 'GET', '/api/test/agent-only', { headers: { authorization: `Bearer ${apiKey}` } });
    assert.equal(bearer.status, 200, 'Authorization: Bearer <api_key> works too');
  });

  test('a key in the query string is refused; a wrong secret or unknown key id is 401', async () => {
    const u = await owner();
    const { body } = await create(u.token, { name: 'q', mfa_code: await u.code() });
    const apiKey = body.api_key as string;
    assert.equal((await call(h.url, 'GET', `/api/test/agent-only?api_key=${apiKey}`)).status, 401);
    const flipped = apiKey.slice(0, -1) + (apiKey.endsWith('A') ? 'B' : 'A');
    assert.equal((await whoami(flipped)).status, 401);
    assert.equal((await whoami(`cs_${'0'.repeat(24)}_${apiKey.slice(-43)}`)).status, 401);
    assert.equal((await whoami('cs_nonsense')).status, 401);
  });

  test('wallet_addresses must be the caller’s own: foreign or unknown → 404 before the code is consumed', async () => {
    const u = await owner();
    const other = await newUser(h);
    const mine = await addWallet(u.userId);
    const theirs = await addWallet(other.userId);
    const code = await u.code();
    const foreign = await create(u.token, { name: 'x', wallet_addresses: [theirs], mfa_code: code });
    assert.equal(foreign.status, 404);
    assert.equal(errorCode(foreign), 'not_found');
    const unknown = await create(u.token, { name: 'x', wallet_addresses: [mine, `0x${'ab'.repeat(20)}`], mfa_code: code });
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body, foreign.body, 'foreign and unknown look the same');
    // The same code still works: the 404s consumed nothing.
    const granted = await create(u.token, { name: 'x', wallet_addresses: [mine.toUpperCase().replace('0X', '0x'), mine], mfa_code: code });
    assert.equal(granted.status, 201);
    assert.deepEqual(granted.body.wallets, [getAddress(mine)], 'deduplicated, EIP-55');
    const grants = await h.database.db('agent_wallets').where({ agent_id: granted.body.agent_id });
    assert.equal(grants.length, 1);
  });

  test('bad bodies are 400 and consume nothing', async () => {
    const u = await owner();
    const code = await u.code();
    for (const body of [
      { name: '', mfa_code: code },
      { name: 'x'.repeat(101), mfa_code: code },
      { name: 'bell\u0007', mfa_code: code },
      { name: 'evil\u202Egnp.exe', mfa_code: code },
      { name: 'x', mfa_code: '12345' },
      { name: 'x', mfa_code: code, wallet_addresses: ['0x1234'] },
      { name: 'x', mfa_code: code, expires_at: 'tomorrow' },
      { name: 'x', mfa_code: code, scopes: ['all'] },
    ]) {
      const answer = await create(u.token, body);
      assert.equal(answer.status, 400, JSON.stringify(body));
    }
    assert.equal((await create(u.token, { name: '😀'.repeat(100), mfa_code: code })).status, 201, '100 code points is fine');
  });

  test('a wrong code is 403 mfa_invalid and creates nothing', async () => {
    const u = await owner();
    const good = await u.code();
    const answer = await create(u.token, { name: 'x', mfa_code: good === '000000' ? '111111' : '000000' });
    assert.equal(answer.status, 403);
    assert.equal(errorCode(answer), 'mfa_invalid');
    assert.equal((await h.database.db('agents').where({ user_id: u.userId })).length, 0);
  });
});

describe('list and revoke', () => {
  test('GET /api/agents lists only the caller’s agents, never a key', async () => {
    const u = await owner();
    const other = await owner();
    const wallet = await addWallet(u.userId);
    const a = await create(u.token, { name: 'first', wallet_addresses: [wallet], mfa_code: await u.code() });
    u.nextStep();
    const b = await create(u.token, { name: 'second', mfa_code: await u.code() });
    await create(other.token, { name: 'not yours', mfa_code: await other.code() });
    const list = await call(h.url, 'GET', '/api/agents', { token: u.token });
    assert.equal(list.status, 200);
    assert.ok(ListAgentsResponse.safeParse(list.body).success, JSON.stringify(list.body));
    const agents = list.body.agents as { agent_id: string; name: string; wallets: string[] }[];
    assert.deepEqual(agents.map((x) => x.agent_id), [a.body.agent_id, b.body.agent_id]);
    assert.deepEqual(agents[0]!.wallets, [getAddress(wallet)]);
    const text = JSON.stringify(list.body);
    for (const key of [a.body.api_key, b.body.api_key] as string[]) {
      assert.ok(!text.includes(key.slice(-43)), 'no secret');
    }
    assert.ok(!/api_key|key_digest|key_id/.test(text));
  });

  test('DELETE: 204, the next request with that key is 401, revoked_at shows; audited; repeat is 204', async () => {
    const u = await owner();
    const { body } = await create(u.token, { name: 'doomed', mfa_code: await u.code() });
    const apiKey = body.api_key as string;
    assert.equal((await whoami(apiKey)).status, 200);
    const revoked = await call(h.url, 'DELETE', `/api/agents/${body.agent_id}`, { token: u.token });
    assert.equal(revoked.status, 204);
    const after = await whoami(apiKey);
    assert.equal(after.status, 401);
    assert.equal(errorCode(after), 'unauthenticated');
    const list = await call(h.url, 'GET', '/api/agents', { token: u.token });
    const agents = list.body.agents as { revoked_at: string | null }[];
    assert.equal(agents[0]!.revoked_at, h.clock.now().toISOString());
    assert.equal((await call(h.url, 'DELETE', `/api/agents/${body.agent_id}`, { token: u.token })).status, 204);
    const events = await h.database.db('audit_events').where({ subject_id: body.agent_id }).orderBy('id');
    assert.deepEqual(events.map((e: { action: string }) => e.action), ['agent.created', 'agent.revoked']);
  });

  test('unknown and foreign ids are 404 alike; a malformed id is 400; an API key cannot revoke', async () => {
    const u = await owner();
    const other = await owner();
    const theirs = await create(other.token, { name: 'theirs', mfa_code: await other.code() });
    const foreign = await call(h.url, 'DELETE', `/api/agents/${theirs.body.agent_id}`, { token: u.token });
    const unknown = await call(h.url, 'DELETE', `/api/agents/${randomUUID()}`, { token: u.token });
    assert.equal(foreign.status, 404);
    assert.deepEqual(foreign.body, unknown.body);
    assert.equal((await whoami(theirs.body.api_key as string)).status, 200, 'still works');
    assert.equal((await call(h.url, 'DELETE', '/api/agents/not-a-uuid', { token: u.token })).status, 400);
    const byKey = await call(h.url, 'DELETE', `/api/agents/${theirs.body.agent_id}`, { apiKey: theirs.body.api_key as string });
    assert.equal(byKey.status, 403);
    assert.equal(errorCode(byKey), 'wrong_principal');
  });
});

describe('expiry and last use', () => {
  test('an expired key is refused', async () => {
    const u = await owner();
    const expiresAt = new Date(h.clock.now().getTime() + 3_600_000);
    const { body } = await create(u.token, { name: 'short-lived', expires_at: expiresAt.toISOString(), mfa_code: await u.code() });
    assert.equal(body.expires_at, expiresAt.toISOString());
    assert.equal((await whoami(body.api_key as string)).status, 200);
    h.clock.advance(3_600_000);
    assert.equal((await whoami(body.api_key as string)).status, 401);
  });

  test('expires_at in the distant past or future is stored as given (a past time makes an expired key)', async () => {
    const u = await owner();
    const past = await create(u.token, { name: 'past', expires_at: '0000-01-01T00:00:00Z', mfa_code: await u.code() });
    assert.equal(past.status, 201);
    assert.equal(past.body.expires_at, '0000-01-01T00:00:00.000Z');
    assert.equal((await whoami(past.body.api_key as string)).status, 401);
    u.nextStep();
    const future = await create(u.token, { name: 'future', expires_at: '9999-12-31T23:59:59.999999Z', mfa_code: await u.code() });
    assert.equal(future.status, 201);
    assert.equal(future.body.expires_at, '9999-12-31T23:59:59.999Z');
    assert.equal((await create(u.token, { name: 'offset', expires_at: '2030-01-01T00:00:00+01:00', mfa_code: await u.code() })).status, 400, 'UTC with Z only');
    assert.equal((await whoami(future.body.api_key as string)).status, 200);
    const list = await call(h.url, 'GET', '/api/agents', { token: u.token });
    assert.ok(ListAgentsResponse.safeParse(list.body).success, JSON.stringify(list.body));
  });

  test('last_used_at is written at most once a minute', async () => {
    const u = await owner();
    const { body } = await create(u.token, { name: 'busy', mfa_code: await u.code() });
    const apiKey = body.api_key as string;
    const lastUsed = async () => (await h.database.db('agents').where({ id: body.agent_id }).first()).last_used_at as Date | null;
    assert.equal(await lastUsed(), null);
    const first = h.clock.now();
    await whoami(apiKey);
    assert.equal((await lastUsed())?.getTime(), first.getTime());
    h.clock.advance(59_000);
    await whoami(apiKey);
    await whoami(apiKey);
    assert.equal((await lastUsed())?.getTime(), first.getTime(), 'not rewritten within the minute');
    h.clock.advance(1_000);
    await whoami(apiKey);
    assert.equal((await lastUsed())?.getTime(), h.clock.now().getTime());
  });
});
