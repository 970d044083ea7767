/**
 * Accounts against the real PostgreSQL: registration, argon2id at rest, login
 * with one identical failure body, back-off per (source address, account) —
 * never a lock-out of the account — JWT refusal (forged, expired, alg:none,
 * wrong audience, revoked, never issued), logout, session cookies with a CSRF
 * token bound to the session and an Origin check, and the principal boundary.
 *
 * Other client addresses are real: requests bound to 127.0.0.2, 127.0.0.3 …
 * (test/support/http-from.ts), so the server sees them as other peers.
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
  h = await startAccountsApp({ env: { LOGIN_FREE_FAILURES: '3', LOGIN_BACKOFF_MAX: '10m', LOGIN_FAILURE_WINDOW: '1h', LOGIN_ACCOUNT_SLOWDOWN: '20' }, extraRoutes: [agentOnly] });
});
after(async () => h?.close());

const register = (username: string, password = PASSWORD) => call(h.url, 'POST', '/api/register', { body: { username, password } });
const login = (username: string, password = PASSWORD, from?: string) => call(h.url, 'POST', '/api/login', { body: { username, password }, ...(from ? { from } : {}) });
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

  test('unknown user, wrong password and a source in its back-off give the identical 401 body', async () => {
    const name = uniqueName();
    await register(name);
    const unknown = await login(uniqueName('ghost'));
    const wrong = await login(name, 'not the password');
    for (let i = 0; i < 2; i += 1) await login(name, 'not the password');
    const waiting = await login(name); // right password, this source is in its back-off
    const expected = { error: { code: 'invalid_credentials', message: 'invalid username or password', hint: 'Check the username and password and log in again.' } };
    for (const answer of [unknown, wrong, waiting]) {
      assert.equal(answer.status, 401);
      assert.deepEqual(answer.body, expected);
      assert.equal(answer.headers.get('set-cookie'), null);
      assert.equal(answer.headers.get('retry-after'), null, 'the back-off is not revealed');
    }
  });

  test('the unknown-user and back-off paths still spend one argon2 verification', async () => {
    let dummies = 0;
    const real = createPasswordHasher();
    const counting: PasswordHasher = { ...real, verifyDummy: async (password) => { dummies += 1; await real.verifyDummy(password); } };
    const users = createUserService({ db: h.database.api.db, clock: h.clock, config: h.config, audit: h.audit, hasher: counting });
    await assert.rejects(users.login({ username: uniqueName('ghost'), password: PASSWORD }), { code: 'invalid_credentials' });
    assert.equal(dummies, 1);
    const name = uniqueName();
    await users.register({ username: name, password: PASSWORD });
    for (let i = 0; i < 3; i += 1) await assert.rejects(users.login({ username: name, password: 'nope nope' }, { ip: '192.0.2.1' }), { code: 'invalid_credentials' });
    assert.equal(dummies, 1, 'wrong passwords are checked against the real hash');
    await assert.rejects(users.login({ username: name, password: PASSWORD }, { ip: '192.0.2.1' }), { code: 'invalid_credentials' });
    assert.equal(dummies, 2, 'a source in its back-off spends a dummy verification');
  });

  test('back-off per (address, account): LOGIN_FREE_FAILURES, then the wait doubles; the right password after the wait logs in; audited', async () => {
    const name = uniqueName();
    const { body } = await register(name);
    for (let i = 0; i < 3; i += 1) assert.equal((await login(name, 'wrong wrong')).status, 401);
    assert.equal((await login(name)).status, 401, 'waiting: the right password is not even checked');
    h.clock.advance(999);
    assert.equal((await login(name)).status, 401, 'still waiting after 999 ms of 1 s');
    h.clock.advance(1);
    assert.equal((await login(name, 'wrong wrong')).status, 401, 'the 4th failure…');
    h.clock.advance(1_999);
    assert.equal((await login(name)).status, 401, '…doubles the wait to 2 s');
    h.clock.advance(1);
    assert.equal((await login(name)).status, 200, 'checked again after the wait: logged in');
    const actions = await auditActions(body.user_id as string);
    assert.equal(actions.filter((a) => a === 'user.login_failed').length, 7, '4 wrong + 3 refused while waiting');
    assert.equal(actions.filter((a) => a === 'user.login_throttled').length, 1, 'entering the back-off is audited once');
    assert.ok(actions.includes('user.login_succeeded'));
    assert.equal((await h.database.db('login_throttles').where({ user_id: body.user_id })).length, 0, 'a success clears the pair');
  });

  test('failures from one address never lock the owner out from another, however many', async () => {
    const name = uniqueName();
    const { body } = await register(name);
    // The issue's repro (11 wrong passwords) and far beyond: every guess waits out the back-off, so each is checked.
    for (let i = 0; i < 40; i += 1) {
      assert.equal((await login(name, `guess-${i}`, '127.0.0.2')).status, 401);
      const pair = await h.database.db('login_throttles').where({ user_id: body.user_id, source: '127.0.0.2' }).first();
      if (pair.next_attempt_at && i < 39) h.clock.set(new Date(Math.max(h.clock.now().getTime(), pair.next_attempt_at.getTime())));
    }
    const checked = await h.database.db('audit_events').where({ subject_id: body.user_id, action: 'user.login_failed' }).whereRaw("data->>'reason' = 'wrong_password'").count<{ count: string }[]>('* as count');
    assert.equal(Number(checked[0]!.count), 40, 'every guess was checked against the hash');
    assert.equal((await login(name, PASSWORD, '127.0.0.2')).status, 401, 'the guessing address is in its back-off');
    const owner = await login(name, PASSWORD, '127.0.0.3');
    assert.equal(owner.status, 200, `the owner at another address logs in at once: ${JSON.stringify(owner.body)}`);
    assert.equal((await login(name, PASSWORD, '127.0.0.2')).status, 401, 'the guessing address is still waiting');
  });

  test('the account slows but is never shut: past LOGIN_ACCOUNT_SLOWDOWN failures each address gets one free failure, and a new address is still checked at once', async () => {
    const name = uniqueName();
    await register(name);
    // 7 addresses × 3 free failures = 21 ≥ 20: the account is under pressure.
    for (let a = 10; a < 17; a += 1) for (let i = 0; i < 3; i += 1) assert.equal((await login(name, 'wrong wrong', `127.0.0.${a}`)).status, 401);
    // A new address: its first attempt is checked (a wrong one is refused), but now it must wait before the next.
    assert.equal((await login(name, 'typo typo', '127.0.0.30')).status, 401);
    assert.equal((await login(name, PASSWORD, '127.0.0.30')).status, 401, 'slowed: one free failure only');
    h.clock.advance(1_000);
    assert.equal((await login(name, PASSWORD, '127.0.0.30')).status, 200, 'after 1 s the owner is in');
    // And an address that never failed logs in at once.
    assert.equal((await login(name, PASSWORD, '127.0.0.31')).status, 200);
  });

  test('the back-off is in PostgreSQL: another API replica (a second service on the same database) sees it', async () => {
    const replica = createUserService({ db: h.database.api.db, clock: h.clock, config: h.config, audit: h.audit });
    const { userId, username } = await newUser(h);
    for (let i = 0; i < 3; i += 1) await assert.rejects(h.users.login({ username, password: 'wrong wrong' }, { ip: '198.51.100.7' }), { code: 'invalid_credentials' });
    await assert.rejects(replica.login({ username, password: PASSWORD }, { ip: '198.51.100.7' }), { code: 'invalid_credentials' }, 'the other replica refuses the same source');
    const other = await replica.login({ username, password: PASSWORD }, { ip: '198.51.100.8' });
    assert.equal(other.userId, userId, 'and lets another source in');
    // IPv6: one /64 is one source (a subscriber holds the whole block).
    for (let i = 0; i < 3; i += 1) await assert.rejects(h.users.login({ username, password: 'wrong wrong' }, { ip: `2001:db8:1:2::${i + 1}` }), { code: 'invalid_credentials' });
    await assert.rejects(replica.login({ username, password: PASSWORD }, { ip: '2001:db8:1:2:ffff::9' }), { code: 'invalid_credentials' });
    assert.ok((await replica.login({ username, password: PASSWORD }, { ip: '2001:db8:1:3::1' })).token);
  });

  test('concurrent guesses from one source cannot outrun the counter', async () => {
    const name = uniqueName();
    await register(name);
    let checked = 0;
    const real = createPasswordHasher();
    const counting: PasswordHasher = { ...real, verify: async (hash, password) => { checked += 1; return real.verify(hash, password); } };
    const users = createUserService({ db: h.database.api.db, clock: h.clock, config: h.config, audit: h.audit, hasher: counting });
    const answers = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => users.login({ username: name, password: `guess number ${i}` }, { ip: '203.0.113.9' })));
    assert.ok(answers.every((a) => a.status === 'rejected'));
    assert.equal(checked, 3, 'only LOGIN_FREE_FAILURES guesses were checked against the hash');
  });

  test('verifyPassword (re-authentication) is 403 password_invalid and counts toward the same back-off', async () => {
    const { userId, username } = await newUser(h);
    const meta = { ip: '127.0.0.1' };
    await assert.rejects(h.users.verifyPassword(userId, 'wrong wrong', meta), { code: 'password_invalid', status: 403 });
    await assert.rejects(h.users.verifyPassword(userId, 'wrong wrong', meta), { code: 'password_invalid' });
    await h.users.verifyPassword(userId, PASSWORD, meta);
    for (let i = 0; i < 3; i += 1) await assert.rejects(h.users.verifyPassword(userId, 'wrong wrong', meta));
    assert.equal((await login(username)).status, 401, 're-auth failures put the login from that address in its back-off too');
    await assert.rejects(h.users.verifyPassword(userId, PASSWORD, meta), { code: 'password_invalid' });
    assert.equal((await login(username, PASSWORD, '127.0.0.2')).status, 200, 'another address is not affected');
    await assert.rejects(h.users.verifyPassword(randomUUID(), PASSWORD), { code: 'password_invalid' });
  });
});

describe('tokens', () => {
  const key = () => new TextEncoder().encode(h.config.JWT_SECRET_KEY!);
  /** A hand-made token; with `session` its id is recorded as a login would (only then can it be accepted). */
  const craft = async (userId: string, change: { key?: Uint8Array; aud?: string; iss?: string; alg?: string; exp?: number; session?: boolean } = {}) => {
    const iat = unixSeconds(h.clock.now());
    const jti = randomUUID();
    if (change.session ?? true) {
      await h.database.db('user_sessions').insert({ jti, user_id: userId, created_at: new Date(iat * 1000), expires_at: new Date((iat + 600) * 1000) });
    }
    return new SignJWT({})
      .setProtectedHeader({ alg: change.alg ?? 'HS256' })
      .setSubject(userId)
      .setIssuer(change.iss ?? h.config.JWT_ISSUER)
      .setAudience(change.aud ?? h.config.JWT_AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(change.exp ?? iat + 600)
      .setJti(jti)
      .sign(change.key ?? key());
  };
  const me = (token: string) => call(h.url, 'GET', '/api/agents', { token });

  test('forged, alg:none, other algorithms, wrong audience or issuer, expired and never-issued tokens get 401', async () => {
    const { userId, token } = await newUser(h);
    assert.equal((await me(token)).status, 200);
    assert.equal((await me(await craft(userId))).status, 200, 'the hand-made baseline is accepted');
    const now = unixSeconds(h.clock.now());
    const noneJti = randomUUID();
    await h.database.db('user_sessions').insert({ jti: noneJti, user_id: userId, created_at: new Date(now * 1000), expires_at: new Date((now + 600) * 1000) });
    const none = new UnsecuredJWT({ jti: noneJti }).setSubject(userId).setIssuer(h.config.JWT_ISSUER).setAudience(h.config.JWT_AUDIENCE).setIssuedAt(now).setExpirationTime(now + 600).encode();
    const refused = {
      forged: await craft(userId, { key: new TextEncoder().encode('y'.repeat(64)) }),
      'alg none': none,
      HS512: await craft(userId, { alg: 'HS512' }),
      'wrong audience': await craft(userId, { aud: 'another-service' }),
      'wrong issuer': await craft(userId, { iss: 'someone' }),
      expired: await craft(userId, { exp: now - 1 }),
      'unknown user': await craft(randomUUID(), { session: false }),
      // Signed with the right key, but no login issued it (no session row): refused.
      'never issued': await craft(userId, { session: false }),
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

  test('the CSRF token is bound to its session: a planted cs_csrf cookie, or another session’s token, does not pass', async () => {
    const name = uniqueName();
    await register(name);
    const session = (answer: Awaited<ReturnType<typeof login>>) => {
      const cookies = answer.headers.getSetCookie().map((c) => c.split(';')[0]!);
      return { cookie: cookies.find((c) => c.startsWith('cs_session='))!, csrf: cookies.find((c) => c.startsWith('cs_csrf='))!.slice('cs_csrf='.length) };
    };
    const mine = session(await login(name));
    const other = session(await login(name));
    assert.notEqual(mine.csrf, other.csrf, 'each session has its own token');
    const write = (cookie: string, csrf: string) => call(h.url, 'POST', '/api/logout', { headers: { cookie, 'x-csrf-token': csrf } });
    // Double submit alone is not enough: a cookie the attacker planted (a sibling subdomain can set one), echoed in the header.
    const planted = 'A'.repeat(mine.csrf.length);
    const forged = await write(`${mine.cookie}; cs_csrf=${planted}`, planted);
    assert.equal(forged.status, 401, 'a planted cookie equal to the header passed');
    assert.deepEqual(forged.body, { error: { code: 'unauthenticated', message: 'a cookie-authenticated write needs the X-CSRF-Token header of this session', hint: "Send the X-CSRF-Token header with the value of this session's cs_csrf cookie, or log in again to get one." } });
    assert.equal((await write(`${mine.cookie}; cs_csrf=${other.csrf}`, other.csrf)).status, 401, 'another session’s token');
    assert.equal((await call(h.url, 'GET', '/api/agents', { headers: { cookie: mine.cookie } })).status, 200, 'both refusals changed nothing');
    assert.equal((await write(mine.cookie, mine.csrf)).status, 204, 'its own token passes (the cookie itself is not needed)');
  });

  test('cookie-authenticated writes must come from this site (Origin, Sec-Fetch-Site); bearer tokens are unaffected', async () => {
    const name = uniqueName();
    const { body: registered } = await register(name);
    const answer = await login(name);
    const cookies = answer.headers.getSetCookie().map((c) => c.split(';')[0]!);
    const jar = cookies.join('; ');
    const csrf = cookies.find((c) => c.startsWith('cs_csrf='))!.slice('cs_csrf='.length);
    const write = (headers: Record<string, string>) => call(h.url, 'POST', '/api/setup_mfa', { headers: { cookie: jar, 'x-csrf-token': csrf, ...headers } });
    const foreignOrigins: Record<string, string>[] = [
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { origin: h.url.replace('127.0.0.1', 'localhost') },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { origin: h.url, 'sec-fetch-site': 'cross-site' },
    ];
    for (const headers of foreignOrigins) {
      const refused = await write(headers);
      assert.equal(refused.status, 401, JSON.stringify(headers));
      assert.deepEqual(refused.body, { error: { code: 'unauthenticated', message: 'a cookie-authenticated write must come from this site', hint: 'Send cookie-authenticated writes from the Countersign web app itself; other programs should use a Bearer token.' } });
    }
    assert.equal((await h.database.db('mfa_factors').where({ user_id: registered.user_id })).length, 0, 'no refused write changed anything');
    assert.equal((await call(h.url, 'GET', '/api/agents', { headers: { cookie: jar, origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } })).status, 200, 'reads are not writes');
    assert.equal((await write({ origin: h.url, 'sec-fetch-site': 'same-origin' })).status, 201, 'the web app itself (same origin) passes');
    const bearer = await call(h.url, 'POST', '/api/logout', { token: answer.body.access_token as string, headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } });
    assert.equal(bearer.status, 204, 'a bearer token needs neither (no browser sends it by itself)');
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
