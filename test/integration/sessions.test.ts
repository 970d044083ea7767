/**
 * Sessions and the changes that end them (issue 19 §5), against the real
 * PostgreSQL: the session list, signing one session out, signing out
 * everywhere, changing the password (other sessions revoked, this one kept),
 * and a new or replaced MFA factor revoking the other sessions. Each change is
 * audited; another user's session is a 404 like an unknown one.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createPasswordHasher, createUserService, type PasswordHasher } from '../../domains/users';
import { PASSWORD, call, codeNow, enrollMfa, newUser, startAccountsApp, type AccountsHarness } from '../support/accounts';

let h: AccountsHarness;
before(async () => {
  h = await startAccountsApp({ env: { JWT_ACCESS_TOKEN_EXPIRES: '1h' } });
});
after(async () => h?.close());

interface SessionJson {
  id: string;
  created_at: string;
  last_seen_at?: string;
  ip?: string;
  user_agent?: string;
  current: boolean;
}

const login = async (username: string, password = PASSWORD, userAgent = 'test-agent/1.0') => {
  const answer = await call<{ access_token: string }>(h.url, 'POST', '/api/login', { body: { username, password }, headers: { 'user-agent': userAgent } });
  return answer;
};
const tokenOf = async (username: string, userAgent?: string) => {
  const answer = await login(username, PASSWORD, userAgent);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.access_token;
};
const works = async (token: string) => (await call(h.url, 'GET', '/api/agents', { token })).status === 200;
const sessionsOf = async (token: string) => {
  const answer = await call<{ sessions: SessionJson[] }>(h.url, 'GET', '/api/sessions', { token });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body.sessions;
};
const actions = async (userId: string) => (await h.database.db('audit_events').where({ subject_id: userId }).orderBy('id')).map((r: { action: string; data: unknown }) => r);
/** The next 30-second step's code (each MFA action needs a fresh one). */
const nextCode = async (secret: string) => {
  h.clock.advance(30_000);
  return codeNow(h, secret);
};

describe('the session list', () => {
  test('every live session, newest first, with its address and User-Agent; `current` marks the caller; another user sees none', async () => {
    const { username, token: first } = await newUser(h);
    h.clock.advance(1_000);
    const second = await tokenOf(username, 'Mozilla/5.0 (Phone)\u009b\u0085 evil');
    const list = await sessionsOf(second);
    assert.equal(list.length, 2);
    assert.deepEqual(list.map((s) => s.current), [true, false], 'newest first, the caller marked');
    assert.equal(list[0]!.ip, '127.0.0.1');
    assert.equal(list[0]!.user_agent, 'Mozilla/5.0 (Phone) evil', 'control characters are stripped');
    assert.ok(Date.parse(list[0]!.created_at) > Date.parse(list[1]!.created_at));
    assert.ok(list[0]!.last_seen_at, 'the listing request itself was seen');
    assert.deepEqual((await sessionsOf(first)).map((s) => s.current), [false, true]);

    const stranger = await newUser(h);
    const theirs = await sessionsOf(stranger.token);
    assert.equal(theirs.length, 1);
    assert.ok(!theirs.some((s) => list.some((m) => m.id === s.id)));
    // Logged out: no longer listed.
    assert.equal((await call(h.url, 'POST', '/api/logout', { token: first })).status, 204);
    assert.deepEqual((await sessionsOf(second)).map((s) => s.current), [true]);
  });

  test('DELETE /api/sessions/:id signs that one out at once; unknown, foreign and already revoked ids are the same 404; audited', async () => {
    const { userId, username, token: phone } = await newUser(h);
    const laptop = await tokenOf(username);
    const phoneId = (await sessionsOf(phone)).find((s) => s.current)!.id;
    const stranger = await newUser(h);
    const strangerId = (await sessionsOf(stranger.token))[0]!.id;

    const foreign = await call(h.url, 'DELETE', `/api/sessions/${strangerId}`, { token: laptop });
    const unknown = await call(h.url, 'DELETE', `/api/sessions/${randomUUID()}`, { token: laptop });
    assert.equal(foreign.status, 404);
    assert.deepEqual(foreign.body, unknown.body);
    assert.deepEqual(unknown.body, { error: { code: 'not_found', message: 'session not found', hint: 'Check the session id in GET /api/sessions, which lists only your own sessions that are still live.' } });
    assert.ok(await works(stranger.token), 'the foreign session is untouched');

    assert.equal((await call(h.url, 'DELETE', `/api/sessions/${phoneId}`, { token: laptop })).status, 204);
    assert.equal(await works(phone), false, 'the signed-out session is refused at once');
    assert.ok(await works(laptop));
    assert.equal((await call(h.url, 'DELETE', `/api/sessions/${phoneId}`, { token: laptop })).status, 404, 'already revoked');
    const revoked = (await actions(userId)).filter((a) => a.action === 'user.session_revoked');
    assert.equal(revoked.length, 1);
    assert.deepEqual(revoked[0]!.data, { session_id: phoneId, current: false });
  });

  test('POST /api/logout_all revokes every session, this one included, and clears the cookies; a new login works', async () => {
    const { userId, username, token: one } = await newUser(h);
    const two = await tokenOf(username);
    const out = await call(h.url, 'POST', '/api/logout_all', { token: two });
    assert.equal(out.status, 204);
    assert.ok(out.headers.getSetCookie().some((c) => /^cs_session=;.*Max-Age=0/.test(c)));
    assert.equal(await works(one), false);
    assert.equal(await works(two), false);
    assert.ok(await works(await tokenOf(username)), 'logging in again at once works (no same-second refusal)');
    const event = (await actions(userId)).find((a) => a.action === 'user.logged_out_everywhere');
    assert.equal((event?.data as { revoked: string[] }).revoked.length, 2);
  });
});

describe('changing the password', () => {
  test('204: every other session is revoked, this one stays; the old password is refused, the new one works; audited', async () => {
    const { userId, username, token } = await newUser(h);
    const secret = await enrollMfa(h, token);
    const elsewhere = await tokenOf(username);
    const answer = await call(h.url, 'POST', '/api/change_password', {
      token,
      body: { current_password: PASSWORD, new_password: 'a whole new passphrase', mfa_code: await nextCode(secret) },
    });
    assert.equal(answer.status, 204, JSON.stringify(answer.body));
    assert.equal(await works(elsewhere), false, 'the other session is revoked');
    assert.ok(await works(token), 'the caller’s session stays valid');
    assert.deepEqual((await sessionsOf(token)).map((s) => s.current), [true]);
    assert.equal((await login(username)).status, 401, 'the old password no longer works');
    assert.equal((await login(username, 'a whole new passphrase')).status, 200);
    const trail = await actions(userId);
    assert.ok(trail.some((a) => a.action === 'user.password_changed'));
    const revoked = trail.filter((a) => a.action === 'user.sessions_revoked').map((a) => a.data as { reason: string; revoked: string[] });
    assert.deepEqual(revoked.map((r) => [r.reason, r.revoked.length]), [['password_changed', 1]], 'enrolling MFA had no other session to end');
    assert.ok(!JSON.stringify(trail).includes('whole new passphrase'), 'no password in the audit trail');
  });

  test('refusals change nothing: wrong current password, a common or username new password, a wrong or replayed code, no MFA', async () => {
    const { userId, username, token } = await newUser(h);
    const noMfa = await call(h.url, 'POST', '/api/change_password', { token, body: { current_password: PASSWORD, new_password: 'another long passphrase', mfa_code: '123456' } });
    assert.equal(noMfa.status, 403);
    assert.equal((noMfa.body.error as { code: string }).code, 'mfa_not_enrolled');
    const secret = await enrollMfa(h, token);
    const other = await tokenOf(username);
    const { password_hash: before } = await h.database.db('users').where({ id: userId }).first();
    const attempt = async (body: Record<string, string>) => call(h.url, 'POST', '/api/change_password', { token, body: { current_password: PASSWORD, new_password: 'another long passphrase', mfa_code: await nextCode(secret), ...body } });

    const wrongCurrent = await attempt({ current_password: 'not my password' });
    assert.equal(wrongCurrent.status, 403);
    assert.deepEqual(wrongCurrent.body, { error: { code: 'password_invalid', message: 'the password is not correct', hint: "Send the account's current password, or, when choosing a new one, a password that is not a common one." } });
    const common = await attempt({ new_password: 'password123' });
    assert.deepEqual([common.status, (common.body.error as { code: string }).code], [403, 'password_invalid']);
    const same = await attempt({ new_password: username.toUpperCase() });
    assert.deepEqual([same.status, (same.body.error as { code: string }).code], [403, 'password_invalid']);
    const wrongCode = await attempt({ mfa_code: (await codeNow(h, secret)) === '000000' ? '111111' : '000000' });
    assert.deepEqual([wrongCode.status, (wrongCode.body.error as { code: string }).code], [403, 'mfa_invalid']);
    const used = await nextCode(secret);
    assert.equal((await call(h.url, 'POST', '/api/agents', { token, body: { name: 'uses the code', mfa_code: used } })).status, 201);
    const replayed = await attempt({ mfa_code: used });
    assert.deepEqual([replayed.status, (replayed.body.error as { code: string }).code], [403, 'mfa_code_used']);
    const short = await call(h.url, 'POST', '/api/change_password', { token, body: { current_password: PASSWORD, new_password: 'short', mfa_code: await nextCode(secret) } });
    assert.equal(short.status, 400);
    assert.match(JSON.stringify(short.body), /"field":"new_password"/);

    assert.equal((await h.database.db('users').where({ id: userId }).first()).password_hash, before, 'the password is unchanged');
    assert.ok(await works(other), 'no session was revoked');
    assert.ok(!(await actions(userId)).some((a) => a.action === 'user.password_changed'));
  });

  test('a login that checked the old password while it was being changed gets no session', async () => {
    const { username, token } = await newUser(h);
    const secret = await enrollMfa(h, token);
    const real = createPasswordHasher();
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // A replica whose argon2 check of the old password finishes only after the change has committed.
    const slow: PasswordHasher = {
      ...real,
      verify: async (hash, password) => {
        const ok = await real.verify(hash, password);
        entered();
        await released;
        return ok;
      },
    };
    const replica = createUserService({ db: h.database.api.db, clock: h.clock, config: h.config, audit: h.audit, hasher: slow });
    const racing = replica.login({ username, password: PASSWORD }, { ip: '192.0.2.77' });
    await inside;
    const changed = await call(h.url, 'POST', '/api/change_password', { token, body: { current_password: PASSWORD, new_password: 'changed during a login', mfa_code: await nextCode(secret) } });
    assert.equal(changed.status, 204, JSON.stringify(changed.body));
    release();
    await assert.rejects(racing, { code: 'invalid_credentials' });
    assert.deepEqual((await sessionsOf(token)).map((s) => s.current), [true], 'only the caller’s session exists');
  });
});

describe('a new or replaced MFA factor', () => {
  test('confirming a first factor revokes every other session and keeps this one', async () => {
    const { userId, username, token } = await newUser(h);
    const other = await tokenOf(username);
    await enrollMfa(h, token);
    assert.equal(await works(other), false, 'the session that did not enrol is revoked');
    assert.ok(await works(token));
    const revoked = (await actions(userId)).find((a) => a.action === 'user.sessions_revoked')!.data as { reason: string };
    assert.equal(revoked.reason, 'mfa_replaced');
  });

  test('replacing the factor (password + current code) revokes every other session at once, and again when the new one is confirmed', async () => {
    const { username, token } = await newUser(h);
    const secret = await enrollMfa(h, token);
    const before = await tokenOf(username);
    const replaced = await call<{ secret: string }>(h.url, 'POST', '/api/setup_mfa', { token, body: { password: PASSWORD, mfa_code: await nextCode(secret) } });
    assert.equal(replaced.status, 201, JSON.stringify(replaced.body));
    assert.equal(await works(before), false, 'revoked when the replacement starts');
    const between = await tokenOf(username);
    const confirmed = await call(h.url, 'POST', '/api/confirm_mfa', { token, body: { mfa_code: await nextCode(replaced.body.secret) } });
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
    assert.equal(await works(between), false, 'a session opened before the new factor was confirmed is revoked too');
    assert.ok(await works(token), 'the caller’s session stays');
  });

  test('a refused replacement (wrong code) revokes nothing', async () => {
    const { username, token } = await newUser(h);
    const secret = await enrollMfa(h, token);
    const other = await tokenOf(username);
    const current = await nextCode(secret);
    const refused = await call(h.url, 'POST', '/api/setup_mfa', { token, body: { password: PASSWORD, mfa_code: current === '000000' ? '111111' : '000000' } });
    assert.equal(refused.status, 403);
    assert.ok(await works(other));
  });
});
