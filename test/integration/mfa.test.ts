/**
 * The one TOTP gate against the real PostgreSQL and the real local key store,
 * with an injected clock: enrolment, single use (also under a race), the
 * accepted window, lock-out and release, and replacing a factor.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfirmMfaResponse, SetupMfaResponse } from '../../api/routes/accounts';
import { stepAt } from '../../domains/mfa';
import { unixSeconds } from '../../lib/clock';
import { AppError } from '../../lib/errors';
import { PASSWORD, barrier, call, codeNow, enrollMfa, newUser, startAccountsApp, type AccountsHarness } from '../support/accounts';

let h: AccountsHarness;
before(async () => {
  h = await startAccountsApp({ env: { MFA_MAX_FAILURES: '3', MFA_FAILURE_WINDOW: '15m', MFA_LOCK_DURATION: '15m', JWT_ACCESS_TOKEN_EXPIRES: '2h' } });
});
after(async () => h?.close());

const createAgent = (token: string, mfa_code: string, extra: Record<string, unknown> = {}) =>
  call(h.url, 'POST', '/api/agents', { token, body: { name: 'gate-test', mfa_code, ...extra } });
const errorCode = (answer: { body: Record<string, unknown> }) => (answer.body.error as { code: string } | undefined)?.code;
const audited = async (userId: string) =>
  (await h.database.db('audit_events').where({ subject_id: userId }).orderBy('id')).map((r: { action: string }) => r.action);
const gate = (userId: string, code: string) => h.mfa.verifyAndConsume({ userId, code, purpose: 'test' });
const rejectsWith = (code: string) => (err: unknown) => err instanceof AppError && err.code === code;

describe('enrolment', () => {
  test('setup_mfa: 201 with a 160-bit secret, an otpauth URI for issuer Countersign and the username, a PNG QR; stored encrypted and pending', async () => {
    const { userId, username, token } = await newUser(h);
    const setup = await call(h.url, 'POST', '/api/setup_mfa', { token });
    assert.equal(setup.status, 201);
    assert.ok(SetupMfaResponse.safeParse(setup.body).success, JSON.stringify(setup.body).slice(0, 200));
    const secret = setup.body.secret as string;
    assert.equal(Buffer.from(secret.replace(/=+$/, ''), 'ascii').length, 32, '32 base32 characters = 160 bits');
    const uri = new URL(setup.body.mfa_uri as string);
    assert.equal(decodeURIComponent(uri.pathname), `/Countersign:${username}`);
    assert.equal(uri.searchParams.get('issuer'), 'Countersign');
    assert.equal(uri.searchParams.get('secret'), secret);
    assert.match(setup.body.qr_code as string, /^data:image\/png;base64,[A-Za-z0-9+/]+=*$/);
    const png = Buffer.from((setup.body.qr_code as string).split(',')[1]!, 'base64');
    assert.equal(png.subarray(1, 4).toString('ascii'), 'PNG');
    assert.equal(setup.headers.get('cache-control'), 'no-store');

    const factors = await h.database.db('mfa_factors').where({ user_id: userId });
    assert.equal(factors.length, 1);
    assert.equal(factors[0].state, 'pending');
    assert.match(factors[0].secret_ciphertext, /^local:v\d+:/);
    assert.ok(!factors[0].secret_ciphertext.includes(secret));
    assert.equal((await h.keystore.decrypt('mfa', userId, factors[0].secret_ciphertext)).toString(), secret);
  });

  test('an empty body with or without a JSON content type is accepted', async () => {
    const { token } = await newUser(h);
    const empty = await fetch(`${h.url}/api/setup_mfa`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(empty.status, 201);
    const emptyObject = await call(h.url, 'POST', '/api/setup_mfa', { token, body: {} });
    assert.equal(emptyObject.status, 201);
    const unknownField = await call(h.url, 'POST', '/api/setup_mfa', { token, body: { secret: 'AAAA' } });
    assert.equal(unknownField.status, 400);
  });

  test('confirm_mfa: a wrong code is 403 mfa_invalid; the right one gives {mfa_enabled:true} and activates the factor', async () => {
    const { userId, token } = await newUser(h);
    const setup = await call(h.url, 'POST', '/api/setup_mfa', { token });
    const secret = setup.body.secret as string;
    const wrongCode = (await codeNow(h, secret)) === '000000' ? '111111' : '000000';
    const wrong = await call(h.url, 'POST', '/api/confirm_mfa', { token, body: { mfa_code: wrongCode } });
    assert.equal(wrong.status, 403);
    assert.deepEqual(wrong.body, { error: { code: 'mfa_invalid', message: 'the MFA code is not valid', hint: 'Send the current 6-digit code from the authenticator app.' } });
    const ok = await call(h.url, 'POST', '/api/confirm_mfa', { token, body: { mfa_code: await codeNow(h, secret) } });
    assert.equal(ok.status, 200);
    assert.ok(ConfirmMfaResponse.safeParse(ok.body).success);
    assert.deepEqual(ok.body, { mfa_enabled: true });
    const [factor] = await h.database.db('mfa_factors').where({ user_id: userId });
    assert.equal(factor.state, 'active');
    assert.ok(factor.confirmed_at instanceof Date);
    const actions = await audited(userId);
    for (const action of ['mfa.setup_started', 'mfa.failed', 'mfa.confirmed']) assert.ok(actions.includes(action), action);
  });

  test('without a factor, an MFA-protected action is 403 mfa_not_enrolled; confirm too', async () => {
    const { token } = await newUser(h);
    const answer = await createAgent(token, '123456');
    assert.equal(answer.status, 403);
    assert.equal(errorCode(answer), 'mfa_not_enrolled');
    assert.equal(errorCode(await call(h.url, 'POST', '/api/confirm_mfa', { token, body: { mfa_code: '123456' } })), 'mfa_not_enrolled');
  });

  test('a pending factor becomes active on its first successful use in any MFA-protected call', async () => {
    const { userId, token } = await newUser(h);
    const setup = await call(h.url, 'POST', '/api/setup_mfa', { token });
    const created = await createAgent(token, await codeNow(h, setup.body.secret as string));
    assert.equal(created.status, 201);
    const [factor] = await h.database.db('mfa_factors').where({ user_id: userId });
    assert.equal(factor.state, 'active');
  });
});

describe('single use', () => {
  test('a code is accepted once and refused the second time (403 mfa_code_used), audited as a replay', async () => {
    const { userId, token } = await newUser(h);
    const secret = await enrollMfa(h, token);
    const code = await codeNow(h, secret);
    assert.equal((await createAgent(token, code)).status, 201);
    const again = await createAgent(token, code);
    assert.equal(again.status, 403);
    assert.deepEqual(again.body, {
      error: { code: 'mfa_code_used', message: 'this MFA code has already been used; wait for the next one', hint: 'Wait for the next 30-second code and send that one.' },
    });
    assert.ok((await audited(userId)).includes('mfa.replay_refused'));
    const uses = await h.database.db('mfa_uses').where({ user_id: userId });
    assert.equal(new Set(uses.map((u: { step: string }) => u.step)).size, uses.length, 'one row per step');
  });

  test('two concurrent requests with the same code: exactly one wins', async () => {
    const { userId, token } = await newUser(h);
    const secret = await enrollMfa(h, token);
    const code = await codeNow(h, secret);
    // Both requests are held just before their code is checked until the other arrives (or 500 ms):
    // if the gate did not serialise them, both would check the code at the same moment.
    h.hooks.beforeMfaDecrypt = barrier(2, 500);
    const answers = await Promise.all([createAgent(token, code), createAgent(token, code)]).finally(() => {
      h.hooks.beforeMfaDecrypt = undefined;
    });
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [201, 403]);
    assert.equal(errorCode(answers.find((a) => a.status === 403)!), 'mfa_code_used');
    assert.equal((await h.database.db('agents').where({ user_id: userId })).length, 1);
  });

  test('a burst of concurrent gate calls with one code: exactly one succeeds, none counts as a failure', async () => {
    const { userId, token } = await newUser(h);
    const secret = await enrollMfa(h, token);
    const code = await codeNow(h, secret);
    h.hooks.beforeMfaDecrypt = barrier(10, 300);
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => gate(userId, code))).finally(() => {
      h.hooks.beforeMfaDecrypt = undefined;
    });
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1);
    for (const r of results) if (r.status === 'rejected') assert.ok(rejectsWith('mfa_code_used')(r.reason), String(r.reason));
    assert.equal((await h.database.db('mfa_failures').where({ user_id: userId })).length, 0);
  });

  test('the previous step is accepted; two steps back and the next step are refused', async () => {
    const { userId, token } = await newUser(h);
    const secret = await enrollMfa(h, token);
    h.clock.advance(30_000); // so the previous step is not the one enrolment used
    assert.equal(errorCode(await createAgent(token, await codeNow(h, secret, -2))), 'mfa_invalid', 'two steps back');
    assert.equal(errorCode(await createAgent(token, await codeNow(h, secret, 1))), 'mfa_invalid', 'the next step');
    const previous = await gate(userId, await codeNow(h, secret, -1));
    assert.equal(previous.step, stepAt(unixSeconds(h.clock.now())) - 1);
    // Once the current step is used, the previous one can never be used again (the step only moves forward).
    await gate(userId, await codeNow(h, secret));
    h.clock.advance(30_000);
    await assert.rejects(gate(userId, await codeNow(h, secret, -1)), rejectsWith('mfa_code_used'));
  });

  test('the step is consumed only if the caller’s transaction commits', async () => {
    const { userId, token } = await newUser(h);
    const secret = await enrollMfa(h, token);
    const code = await codeNow(h, secret);
    await assert.rejects(
      h.database.api.db.transaction(async (trx) => {
        await h.mfa.verifyAndConsume({ userId, code, purpose: 'test', trx });
        throw new Error('the caller failed after the gate');
      }),
      /the caller failed/,
    );
    const use = await h.database.api.db.transaction((trx) => h.mfa.verifyAndConsume({ userId, code, purpose: 'test', trx }));
    assert.match(use.mfaUseId, /^[0-9a-f-]{36}$/);
    const row = await h.database.db('mfa_uses').where({ id: use.mfaUseId }).first();
    assert.equal(Number(row.step), use.step);
    assert.equal(row.purpose, 'test');
    assert.equal(row.created_at.getTime(), h.clock.now().getTime(), 'recorded at the injected clock’s time');
  });
});

describe('lock-out', () => {
  test('MFA_MAX_FAILURES wrong codes lock every MFA action with 429 mfa_locked + Retry-After; released after the lock', async () => {
    const { userId, token } = await newUser(h);
    const secret = await enrollMfa(h, token);
    const good = await codeNow(h, secret);
    const bad = good === '000000' ? '111111' : '000000';
    for (let i = 0; i < 3; i += 1) assert.equal(errorCode(await createAgent(token, bad)), 'mfa_invalid');
    assert.equal((await h.database.db('mfa_failures').where({ user_id: userId })).length, 3, 'counted once per request');
    const locked = await createAgent(token, good);
    assert.equal(locked.status, 429);
    assert.equal(errorCode(locked), 'mfa_locked');
    assert.equal(locked.headers.get('retry-after'), '900');
    assert.equal(errorCode(await call(h.url, 'POST', '/api/confirm_mfa', { token, body: { mfa_code: good } })), 'mfa_locked', 'every MFA action');
    h.clock.advance(14 * 60_000);
    const later = await createAgent(token, await codeNow(h, secret));
    assert.equal(later.status, 429);
    assert.equal(later.headers.get('retry-after'), '60');
    h.clock.advance(60_000);
    assert.equal((await createAgent(token, await codeNow(h, secret))).status, 201, 'released after MFA_LOCK_DURATION');
    const actions = await audited(userId);
    assert.equal(actions.filter((a) => a === 'mfa.failed').length, 3);
    assert.equal(actions.filter((a) => a === 'mfa.locked_out').length, 1);
  });

  test('failures older than the window do not count; a success clears the count', async () => {
    const { userId, token } = await newUser(h);
    const secret = await enrollMfa(h, token);
    const bad = async () => ((await codeNow(h, secret)) === '000000' ? '111111' : '000000');
    for (let i = 0; i < 2; i += 1) await assert.rejects(gate(userId, await bad()), rejectsWith('mfa_invalid'));
    h.clock.advance(15 * 60_000 + 1_000);
    for (let i = 0; i < 2; i += 1) await assert.rejects(gate(userId, await bad()), rejectsWith('mfa_invalid'));
    await gate(userId, await codeNow(h, secret));
    h.clock.advance(30_000);
    for (let i = 0; i < 2; i += 1) await assert.rejects(gate(userId, await bad()), rejectsWith('mfa_invalid'));
    await gate(userId, await codeNow(h, secret));
  });

  test('parallel wrong guesses cannot exceed the limit', async () => {
    const { userId, token } = await newUser(h);
    const secret = await enrollMfa(h, token);
    const good = await codeNow(h, secret);
    const guesses = Array.from({ length: 12 }, (_, i) => String((Number(good) + 1 + i) % 1_000_000).padStart(6, '0'));
    const results = await Promise.allSettled(guesses.map((code) => gate(userId, code)));
    const invalid = results.filter((r) => r.status === 'rejected' && rejectsWith('mfa_invalid')(r.reason)).length;
    const lockedOut = results.filter((r) => r.status === 'rejected' && rejectsWith('mfa_locked')(r.reason)).length;
    assert.equal(invalid, 3, 'exactly MFA_MAX_FAILURES guesses were checked');
    assert.equal(lockedOut, 9);
  });
});

describe('replacing an active factor', () => {
  test('needs the password and a code of the current factor; the old factor works until the new one is confirmed', async () => {
    const { userId, token } = await newUser(h);
    const oldSecret = await enrollMfa(h, token);
    const setup = (body?: Record<string, unknown>) => call(h.url, 'POST', '/api/setup_mfa', { token, body });

    const bare = await setup();
    assert.equal(bare.status, 403);
    assert.equal(errorCode(bare), 'password_invalid');
    assert.equal(errorCode(await setup({ password: PASSWORD })), 'mfa_invalid', 'password alone');
    assert.equal(errorCode(await setup({ mfa_code: await codeNow(h, oldSecret) })), 'password_invalid', 'code alone');
    assert.equal(errorCode(await setup({ password: 'not my password', mfa_code: await codeNow(h, oldSecret) })), 'password_invalid');
    const bad = (await codeNow(h, oldSecret)) === '000000' ? '111111' : '000000';
    assert.equal(errorCode(await setup({ password: PASSWORD, mfa_code: bad })), 'mfa_invalid');
    const factors = await h.database.db('mfa_factors').where({ user_id: userId });
    assert.deepEqual(factors.map((f: { state: string }) => f.state), ['active'], 'no refused attempt created a factor');

    // The refused attempts consumed nothing: the current code still works.
    const replaced = await setup({ password: PASSWORD, mfa_code: await codeNow(h, oldSecret) });
    assert.equal(replaced.status, 201);
    const newSecret = replaced.body.secret as string;
    assert.notEqual(newSecret, oldSecret);
    h.clock.advance(30_000);
    // Until confirmed, MFA actions still take the old factor.
    assert.equal((await createAgent(token, await codeNow(h, oldSecret))).status, 201);
    h.clock.advance(30_000);
    assert.equal((await call(h.url, 'POST', '/api/confirm_mfa', { token, body: { mfa_code: await codeNow(h, newSecret) } })).status, 200);
    h.clock.advance(30_000);
    assert.equal(errorCode(await createAgent(token, await codeNow(h, oldSecret))), 'mfa_invalid', 'the old factor is gone');
    assert.equal((await createAgent(token, await codeNow(h, newSecret))).status, 201);
    const after = await h.database.db('mfa_factors').where({ user_id: userId });
    assert.deepEqual(after.map((f: { state: string }) => f.state), ['active']);
  });

  test('a pending factor cannot be slipped in over an active one through beginEnrollment', async () => {
    const { userId, username, token } = await newUser(h);
    await enrollMfa(h, token);
    await assert.rejects(h.mfa.beginEnrollment({ userId, username }), rejectsWith('password_invalid'));
  });
});
