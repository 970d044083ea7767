/**
 * Accounts against the real PostgreSQL: registration, argon2id at rest, login
 * with one identical failure body, per-account lock-out and back-off, JWT
 * refusal (forged, expired, alg:none, wrong audience, revoked), logout,
 * session cookies with CSRF, and the principal boundary.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { parseOptions } from '@node-rs/argon2';
import { z } from 'zod';
import { unixSeconds } from '../../lib/clock';
import { defineRoute } from '../../api/http/route';
import { LoginResponse, RegisterResponse } from '../../api/routes/accounts';
import { createUserService } from '../../domains/users';
import { createPasswordHasher, type PasswordHasher } from '../../domains/users/password';
import { PASSWORD, call, enrollMfa, codeNow, newUser, startAccountsApp, uniqueName, type AccountsHarness } from '../support/accounts';

const agentOnly = defineRoute({
  method: 'GET',
  path: '/api/test/agent-only',
  auth: 'agent',
  summary: 'test: who am I (agents only)',
  tags: ['test'],
  responses: { 200: z.object({ agent_id: z.string() }) },
  handler: async ({ principal }) => ({ status: 200, body: { agent_id: principal.agentId } }),
});

let h: AccountsHarness;
before(async () => {
  h = await startAccountsApp({ env: { LOGIN_MAX_FAILURES: '3', LOGIN_LOCK_DURATION: '10m' }, extraRoutes: [agentOnly] });
});
after(async () => h?.close());

const register = (username: string, password = PASSWORD) => call(h.url, 'POST', '/api/register', { body: { username, password } });
const login = (username: string, password = PASSWORD) => call(h.url, 'POST', '/api/login', { body: { username, password } });
const auditActions = async (subjectId?: string): Promise<string[]> =>
  (await h.database.db('audit_events').modify((q) => (subjectId ? q.where({ subject_id: subjectId }) : q)).orderBy('id')).map((r: { action: string }) => r.action);

describe('register', () => {
  test('201 {user_id}; the username is stored lowercase and is unique case-insensitively', async () => {
    const name = uniqueName('Alice');
    const created = await register(name);
    assert.equal(created.status, 201);
    assert.ok(RegisterResponse.safeParse(created.body).success, JSON.stringify(created.body));
    const row = await h.database.db('users').where({ id: created.body.user_id }).first();
    assert.equal(row.username, name.toLowerCase());
    const again = await register(name.toUpperCase());
    assert.equal(again.status, 409);
    assert.deepEqual(again.body, { error: { code: 'username_taken', message: 'this username is taken', hint: 'Choose another username.' } });
    assert.equal((await login(name.toUpperCase())).status, 200, 'login is case-insensitive too');
    assert.ok((await auditActions(created.body.user_id as string)).includes('user.registered'));
  });

  test('argon2id parameters read from the stored hash: m ≥ 19456 KiB, t ≥ 2, p = 1', async () => {
    const { userId } = await newUser(h);
    const { password_hash: hash } = await h.database.db('users').where({ id: userId }).first();
    assert.match(hash, /^\$argon2id\$/);
    const params = parseOptions(hash);
    assert.equal(params.algorithm, 2, 'Argon2id');
    assert.ok(params.memoryCost >= 19456, `m=${params.memoryCost}`);
    assert.ok(params.timeCost >= 2, `t=${params.timeCost}`);
    assert.equal(params.parallelism, 1);
    assert.ok(!hash.includes(PASSWORD));
  });

  test('common passwords and the username as password are refused with 403 password_invalid', async () => {
    for (const password of ['password123', 'Qwerty123', '123456789', 'iloveyou1']) {
      const answer = await register(uniqueName(), password);
      assert.equal(answer.status, 403, password);
      assert.deepEqual(answer.body, {
        error: {
          code: 'password_invalid',
          message: 'this password is too common; choose another',
          hint: "Send the account's current password, or, when choosing a new one, a password that is not a common one.",
        },
      });
    }
    const name = uniqueName();
    const same = await register(name, name.toUpperCase());
    assert.equal(same.status, 403);
    assert.equal((same.body.error as { code: string }).code, 'password_invalid');
  });

  test('lengths count code points: 8 emoji pass, 7 do not, 128 emoji pass, 129 do not', async () => {
    assert.equal((await register(uniqueName(), '😀'.repeat(8))).status, 201);
    assert.equal((await register(uniqueName(), '😀'.repeat(128))).status, 201);
    assert.equal((await register(uniqueName(), '😀'.repeat(7))).status, 400);
    assert.equal((await register(uniqueName(), '😀'.repeat(129))).status, 400);
  });

  test('invalid bodies are 400 and change nothing', async () => {
    const before = await h.database.db('users').count('* as n').first();
    for (const body of [
      { username: 'ab', password: PASSWORD },
      { username: 'has space', password: PASSWORD },
      { username: uniqueName(), password: 'short' },
      { username: uniqueName(), password: PASSWORD, admin: true },
      { username: uniqueName() },
      [],
    ]) {
      const answer = await call(h.url, 'POST', '/api/register', { body });
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal((answer.body.error as { code: string }).code, 'invalid_request');
    }
    assert.deepEqual(await h.database.db('users').count('* as n').first(), before);
  });
});

describe('login', () => {
  test('200 {access_token, token_type, expires_in} and the session cookies', async () => {
    const name = uniqueName();
    await register(name);
    const answer = await login(name);
    assert.equal(answer.status, 200);
    assert.ok(LoginResponse.safeParse(answer.body).success, JSON.stringify(answer.body));
    assert.equal(answer.body.token_type, 'Bearer');
    assert.equal(answer.body.expires_in, 900);
    const cookies = answer.headers.getSetCookie();
    const session = cookies.find((c) => c.startsWith('cs_session='));
    const csrf = cookies.find((c) => c.startsWith('cs_csrf='));
    assert.ok(session && csrf, cookies.join(' | '));
    assert.equal(session.split(';')[0], `cs_session=${answer.body.access_token}`);
    assert.match(session, /; HttpOnly/);
    assert.match(session, /; SameSite=Strict/);
    assert.match(session, /; Path=\//);
    assert.doesNotMatch(session, /; Secure/, 'Secure only in production (tests speak plain HTTP)');
    assert.doesNotMatch(csrf, /HttpOnly/, 'the web app must read the CSRF cookie');
    assert.equal(answer.headers.get('cache-control'), 'no-store');
  });

  test('unknown user, wrong password and locked account give the identical 401 body', async () => {
    const name = uniqueName();
    await register(name);
    const unknown = await login(uniqueName('ghost'));
    const wrong = await login(name, 'not the password');
    for (let i = 0; i < 3; i += 1) await login(name, 'not the password');
    const locked = await login(name); // right password, locked account
    const expected = { error: { code: 'invalid_credentials', message: 'invalid username or password', hint: 'Check the username and password and log in again.' } };
    for (const answer of [unknown, wrong, locked]) {
      assert.equal(answer.status, 401);
      assert.deepEqual(answer.body, expected);
      assert.equal(answer.headers.get('set-cookie'), null);
    }
  });

  test('the unknown-user and locked paths still spend one argon2 verification', async () => {
    let dummies = 0;
    const real = createPasswordHasher();
    const counting: PasswordHasher = { ...real, verifyDummy: async (password) => { dummies += 1; await real.verifyDummy(password); } };
    const users = createUserService({ db: h.database.api.db, clock: h.clock, config: h.config, audit: h.audit, hasher: counting });
    await assert.rejects(users.login({ username: uniqueName('ghost'), password: PASSWORD }), { code: 'invalid_credentials' });
    assert.equal(dummies, 1);
    const name = uniqueName();
    await users.register({ username: name, password: PASSWORD });
    for (let i = 0; i < 3; i += 1) await assert.rejects(users.login({ username: name, password: 'nope nope' }), { code: 'invalid_credentials' });
    assert.equal(dummies, 1, 'wrong passwords are checked against the real hash');
    await assert.rejects(users.login({ username: name, password: PASSWORD }), { code: 'invalid_credentials' });
    assert.equal(dummies, 2, 'a locked account spends a dummy verification');
  });

  test('lock-out after LOGIN_MAX_FAILURES, released after LOGIN_LOCK_DURATION; audited', async () => {
    const name = uniqueName();
    const { body } = await register(name);
    for (let i = 0; i < 3; i += 1) assert.equal((await login(name, 'wrong wrong')).status, 401);
    assert.equal((await login(name)).status, 401, 'locked: the right password is refused');
    h.clock.advance(9 * 60_000);
    assert.equal((await login(name)).status, 401, 'still locked after 9 of 10 minutes');
    h.clock.advance(60_000);
    assert.equal((await login(name)).status, 200, 'released after 10 minutes');
    const actions = await auditActions(body.user_id as string);
    assert.equal(actions.filter((a) => a === 'user.login_failed').length, 5);
    assert.equal(actions.filter((a) => a === 'user.locked_out').length, 1);
    assert.ok(actions.includes('user.login_succeeded'));
    const row = await h.database.db('users').where({ id: body.user_id }).first();
    assert.equal(row.failed_logins, 0, 'a success resets the count');
  });

  test('concurrent guesses cannot outrun the counter', async () => {
    const name = uniqueName();
    await register(name);
    let checked = 0;
    const real = createPasswordHasher();
    const counting: PasswordHasher = { ...real, verify: async (hash, password) => { checked += 1; return real.verify(hash, password); } };
    const users = createUserService({ db: h.database.api.db, clock: h.clock, config: h.config, audit: h.audit, hasher: counting });
    const answers = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => users.login({ username: name, password: `guess number ${i}` })));
    assert.ok(answers.every((a) => a.status === 'rejected'));
    assert.equal(checked, 3, 'only LOGIN_MAX_FAILURES guesses were checked against the hash');
  });

  test('back-off: after a few failures the next attempt must wait, even with the right password', async () => {
    const users = createUserService({ db: h.database.api.db, clock: h.clock, config: { ...h.config, LOGIN_MAX_FAILURES: 10 }, audit: h.audit });
    const name = uniqueName();
    await users.register({ username: name, password: PASSWORD });
    for (let i = 0; i < 5; i += 1) await assert.rejects(users.login({ username: name, password: 'wrong wrong' }));
    await assert.rejects(users.login({ username: name, password: PASSWORD }), { code: 'invalid_credentials' });
    h.clock.advance(2_000);
    const ok = await users.login({ username: name, password: PASSWORD });
    assert.ok(ok.token);
  });

  test('verifyPassword (re-authentication) is 403 password_invalid and counts toward the lock-out', async () => {
    const { userId, username } = await newUser(h);
    await assert.rejects(h.users.verifyPassword(userId, 'wrong wrong'), { code: 'password_invalid', status: 403 });
    await assert.rejects(h.users.verifyPassword(userId, 'wrong wrong'), { code: 'password_invalid' });
    await h.users.verifyPassword(userId, PASSWORD);
    for (let i = 0; i < 3; i += 1) await assert.rejects(h.users.verifyPassword(userId, 'wrong wrong'));
    assert.equal((await login(username)).status, 401, 're-auth failures locked the login too');
    await assert.rejects(h.users.verifyPassword(userId, PASSWORD), { code: 'password_invalid' });
    await assert.rejects(h.users.verifyPassword(randomUUID(), PASSWORD), { code: 'password_invalid' });
  });
});

describe('tokens', () => {
  const key = () => new TextEncoder().encode(h.config.JWT_SECRET_KEY!);
  const craft = async (userId: string, change: { key?: Uint8Array; aud?: string; iss?: string; alg?: string; exp?: number } = {}) => {
    const iat = unixSeconds(h.clock.now());
    return new SignJWT({})
      .setProtectedHeader({ alg: change.alg ?? 'HS256' })
      .setSubject(userId)
      .setIssuer(change.iss ?? h.config.JWT_ISSUER)
      .setAudience(change.aud ?? h.config.JWT_AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(change.exp ?? iat + 600)
      .setJti(randomUUID())
      .sign(change.key ?? key());
  };
  const me = (token: string) => call(h.url, 'GET', '/api/agents', { token });

  test('forged, alg:none, other algorithms, wrong audience or issuer, and expired tokens get 401', async () => {
    const { userId, token } = await newUser(h);
    assert.equal((await me(token)).status, 200);
    assert.equal((await me(await craft(userId))).status, 200, 'the hand-made baseline is accepted');
    const now = unixSeconds(h.clock.now());
    const none = new UnsecuredJWT({ jti: randomUUID() }).setSubject(userId).setIssuer(h.config.JWT_ISSUER).setAudience(h.config.JWT_AUDIENCE).setIssuedAt(now).setExpirationTime(now + 600).encode();
    const refused = {
      forged: await craft(userId, { key: new TextEncoder().encode('y'.repeat(64)) }),
      'alg none': none,
      HS512: await craft(userId, { alg: 'HS512' }),
      'wrong audience': await craft(userId, { aud: 'another-service' }),
      'wrong issuer': await craft(userId, { iss: 'someone' }),
      expired: await craft(userId, { exp: now - 1 }),
      'unknown user': await craft(randomUUID()),
    };
    for (const [name, bad] of Object.entries(refused)) {
      const answer = await me(bad);
      assert.equal(answer.status, 401, name);
      assert.equal((answer.body.error as { code: string }).code, 'unauthenticated', name);
    }
  });

  test('a real token expires after JWT_ACCESS_TOKEN_EXPIRES on the injected clock', async () => {
    const { token } = await newUser(h);
    h.clock.advance(899_000);
    assert.equal((await me(token)).status, 200);
    h.clock.advance(1_000);
    assert.equal((await me(token)).status, 401);
  });

  test('logout: 204, clears the cookies, and the token is refused at once', async () => {
    const { userId, token } = await newUser(h);
    const out = await call(h.url, 'POST', '/api/logout', { token });
    assert.equal(out.status, 204);
    const cleared = out.headers.getSetCookie();
    assert.ok(cleared.some((c) => /^cs_session=;.*Max-Age=0/.test(c)), cleared.join(' | '));
    assert.ok(cleared.some((c) => /^cs_csrf=;.*Max-Age=0/.test(c)));
    assert.equal((await me(token)).status, 401);
    assert.equal((await call(h.url, 'POST', '/api/logout', { token })).status, 401);
    const revoked = await h.database.db('revoked_tokens').where({ user_id: userId });
    assert.equal(revoked.length, 1);
    assert.ok((await auditActions(userId)).includes('user.logged_out'));
  });

  test('revokeAllTokens (tokens_valid_after) refuses every earlier token, not later ones', async () => {
    const { userId, username, token } = await newUser(h);
    h.clock.advance(1_000);
    await h.users.revokeAllTokens(userId);
    assert.equal((await me(token)).status, 401);
    h.clock.advance(1_000);
    const fresh = await login(username);
    assert.equal((await me(fresh.body.access_token as string)).status, 200);
  });

  test('the session cookie authenticates; a cookie-authenticated write needs the CSRF header', async () => {
    const name = uniqueName();
    await register(name);
    const answer = await login(name);
    const jar = answer.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const csrf = answer.headers.getSetCookie().find((c) => c.startsWith('cs_csrf='))!.split(';')[0]!.slice('cs_csrf='.length);
    assert.equal((await call(h.url, 'GET', '/api/agents', { headers: { cookie: jar } })).status, 200);
    const noCsrf = await call(h.url, 'POST', '/api/logout', { headers: { cookie: jar } });
    assert.equal(noCsrf.status, 401);
    const wrongCsrf = await call(h.url, 'POST', '/api/logout', { headers: { cookie: jar, 'x-csrf-token': 'x'.repeat(csrf.length) } });
    assert.equal(wrongCsrf.status, 401);
    assert.equal((await call(h.url, 'POST', '/api/logout', { headers: { cookie: jar, 'x-csrf-token': csrf } })).status, 204);
    assert.equal((await call(h.url, 'GET', '/api/agents', { headers: { cookie: jar } })).status, 401, 'the logged-out cookie no longer works');
  });
});

describe('principal boundary', () => {
  test('an API key on a user route is 403 wrong_principal; a JWT on an agent route is 403 wrong_principal', async () => {
    const { token } = await newUser(h);
    const secret = await enrollMfa(h, token);
    const created = await call(h.url, 'POST', '/api/agents', { token, body: { name: 'boundary', mfa_code: await codeNow(h, secret) } });
    assert.equal(created.status, 201);
    const apiKey = created.body.api_key as string;

    for (const [method, path] of [['GET', '/api/agents'], ['POST', '/api/logout'], ['POST', '/api/setup_mfa'], ['POST', '/api/agents']] as const) {
      const answer = await call(h.url, method, path, { apiKey });
      assert.equal(answer.status, 403, `${method} ${path}`);
      assert.equal((answer.body.error as { code: string }).code, 'wrong_principal');
    }
    const asUser = await call(h.url, 'GET', '/api/test/agent-only', { token });
    assert.equal(asUser.status, 403);
    assert.equal((asUser.body.error as { code: string }).code, 'wrong_principal');
    const asAgent = await call(h.url, 'GET', '/api/test/agent-only', { apiKey });
    assert.equal(asAgent.status, 200);
    assert.equal(asAgent.body.agent_id, created.body.agent_id);
  });

  test('no credentials on a user route is 401', async () => {
    assert.equal((await call(h.url, 'GET', '/api/agents')).status, 401);
    assert.equal((await call(h.url, 'POST', '/api/setup_mfa')).status, 401);
  });
});
