/**
 * Abuse, part 2: brute force. Password guessing locks the account (every
 * failure, locked or not, is the same 401 body, so the lock tells an attacker
 * nothing); TOTP guessing locks MFA-protected actions (429 mfa_locked with
 * Retry-After), across every purpose; the per-address rate limit answers 429
 * with Retry-After. The locks are per account in PostgreSQL, not per address.
 *
 * Its own app: it moves the test clock by whole lock durations (and past the
 * one-minute rate-limit windows between tests, since every request here comes
 * from the loopback address).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { generate } from 'otplib';
import { startTestApp, type TestApp } from '../support/app';
import { newUser, newWallet, type TestUser } from '../support/actors';
import { recordProofRow } from './support/summary';

interface Answer {
  status: number;
  text: string;
  body: { error?: { code?: string; message?: string } } & Record<string, unknown>;
  headers: Headers;
}

const RATE_LIMIT = 40;
let app: TestApp;
let anyFailed = false;
let attempts = 0;
const statuses: number[] = [];

function it(name: string, fn: () => Promise<void>): void {
  void test(name, async () => {
    try {
      await fn();
    } catch (error) {
      anyFailed = true;
      throw error;
    }
  });
}

async function post(path: string, body: unknown, options: { token?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const response = await fetch(`${app.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await response.text();
  attempts += 1;
  statuses.push(response.status);
  return { status: response.status, text, body: text ? (JSON.parse(text) as Answer['body']) : {}, headers: response.headers };
}

const login = (username: string, password: string) => post('/api/login', { username, password });
/** Every request comes from 127.0.0.1: start each test in a fresh rate-limit window. */
const freshWindow = () => app.clock.advance(61_000);

/** A 6-digit code that is none of the codes valid around now (so it is a guess, not a replay). */
async function wrongCode(user: TestUser): Promise<string> {
  const epoch = Math.floor(app.clock.now().getTime() / 1000);
  const valid = new Set(await Promise.all([-60, -30, 0, 30, 60].map((d) => generate({ secret: user.secret, epoch: epoch + d }))));
  for (;;) {
    const guess = String(Math.floor(Math.random() * 1_000_000)).padStart(6, '0');
    if (!valid.has(guess)) return guess;
  }
}

before(async () => {
  app = await startTestApp({
    env: { JWT_ACCESS_TOKEN_EXPIRES: '1d', RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT), LOGIN_MAX_FAILURES: '10', LOGIN_LOCK_DURATION: '15m', MFA_MAX_FAILURES: '5', MFA_FAILURE_WINDOW: '15m', MFA_LOCK_DURATION: '15m' },
  });
});

after(async () => {
  try {
    if (app) {
      const serverErrors = statuses.filter((s) => s >= 500).length;
      recordProofRow({
        suite: 'abuse: brute-force lock-outs (login, MFA, rate limit)',
        serverErrors,
        passed: !anyFailed && serverErrors === 0,
        notes: `${attempts} guessing requests`,
      });
    }
  } finally {
    await app?.stop();
  }
});

describe('password guessing', () => {
  it('every failure is the same 401 body; after LOGIN_MAX_FAILURES even the right password fails the same way; the lock ends', async () => {
    freshWindow();
    const victim = await newUser(app.url, app.clock);
    const unknownUser = await login(`nobody${randomBytes(4).toString('hex')}`, 'whatever-password');
    assert.equal(unknownUser.status, 401);
    assert.deepEqual(unknownUser.body, { error: { code: 'invalid_credentials', message: unknownUser.body.error!.message, hint: 'Check the username and password and log in again.' } });
    const reference = unknownUser.text;

    for (let i = 0; i < 10; i++) {
      const guess = await login(victim.username, `wrong-guess-${i}-${randomBytes(4).toString('hex')}`);
      assert.equal(guess.status, 401, `guess ${i}`);
      assert.equal(guess.text, reference, `guess ${i}: a failure must not say why`);
    }
    // Locked: the right password is refused with the very same body.
    const locked = await login(victim.username, victim.password);
    assert.equal(locked.status, 401);
    assert.equal(locked.text, reference, 'the lock is not revealed');
    // The username in another case is the same account (stored lowercase), equally locked.
    assert.equal((await login(victim.username.toUpperCase(), victim.password)).text, reference);
    // Re-authentication inside a session is locked too: the password cannot be guessed there instead.
    const reauth = await post('/api/create_wallet', { password: victim.password }, { token: victim.token });
    assert.equal(reauth.status, 403, reauth.text);
    assert.equal(reauth.body.error?.code, 'password_invalid');

    app.clock.advance(15 * 60_000 + 1_000);
    const after = await login(victim.username, victim.password);
    assert.equal(after.status, 200, after.text);
  });

  it('wrong passwords given to re-authentication (create_wallet) count toward the same lock', async () => {
    freshWindow();
    const victim = await newUser(app.url, app.clock);
    for (let i = 0; i < 10; i++) {
      const answer = await post('/api/create_wallet', { password: `wrong-${i}-${randomBytes(3).toString('hex')}` }, { token: victim.token });
      assert.equal(answer.status, 403, answer.text);
      assert.equal(answer.body.error?.code, 'password_invalid');
    }
    const locked = await login(victim.username, victim.password);
    assert.equal(locked.status, 401, 'guessing through re-authentication locks login as well');
    app.clock.advance(15 * 60_000 + 1_000);
    assert.equal((await login(victim.username, victim.password)).status, 200);
  });

  it('one address sending too many logins gets 429 rate_limited with Retry-After, whatever the accounts', async () => {
    freshWindow();
    let limited: Answer | undefined;
    for (let i = 0; i <= RATE_LIMIT + 1 && !limited; i++) {
      const answer = await login(`user${i}x${randomBytes(3).toString('hex')}`, 'some-password-1');
      if (answer.status === 429) limited = answer;
      else assert.equal(answer.status, 401);
    }
    assert.ok(limited, `no 429 after ${RATE_LIMIT + 1} logins from one address`);
    assert.equal(limited.body.error?.code, 'rate_limited');
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${limited.headers.get('retry-after')}`);
    // Refused before any password work: the right password of a real account is refused too.
    const victim = await login('someone', 'some-password-1');
    assert.equal(victim.status, 429);
    freshWindow();
    assert.equal((await login('someone', 'some-password-1')).status, 401, 'the next window lets the address in again');
  });
});

describe('TOTP guessing', () => {
  it('MFA_MAX_FAILURES wrong codes lock every MFA-protected action (429 mfa_locked, Retry-After), even with the right code; the lock ends', async () => {
    freshWindow();
    const victim = await newUser(app.url, app.clock);
    const wallet = await newWallet(app.url, victim, 0n);
    const guesses: Answer[] = [];
    for (let i = 0; i < 5; i++) {
      guesses.push(await post('/api/agents', { name: `guess${i}`, mfa_code: await wrongCode(victim) }, { token: victim.token }));
    }
    for (const [i, guess] of guesses.entries()) {
      assert.equal(guess.status, 403, `guess ${i}: ${guess.text}`);
      assert.equal(guess.body.error?.code, 'mfa_invalid');
    }
    assert.equal(new Set(guesses.map((g) => g.text)).size, 1, 'wrong codes all get one body');

    // Locked: the right code, for this purpose or another, is refused and not consumed.
    const right = await victim.nextCode();
    for (const [path, body] of [
      ['/api/agents', { name: 'after-lock', mfa_code: right }],
      ['/api/load_wallet', { address: wallet, password: victim.password, mfa_code: right }],
      ['/api/authorize_transaction', { transaction_id: '00000000-0000-4000-8000-000000000000', mfa_code: right }],
    ] as const) {
      const answer = await post(path, body, { token: victim.token });
      if (path === '/api/authorize_transaction') {
        // Object lookup comes before the TOTP step: an unknown request stays a 404.
        assert.equal(answer.status, 404, answer.text);
        continue;
      }
      assert.equal(answer.status, 429, `${path}: ${answer.text}`);
      assert.equal(answer.body.error?.code, 'mfa_locked');
      const retryAfter = Number(answer.headers.get('retry-after'));
      assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 15 * 60, `Retry-After ${answer.headers.get('retry-after')}`);
    }
    // Guessing on during the lock does not help either.
    const during = await post('/api/agents', { name: 'during', mfa_code: await wrongCode(victim) }, { token: victim.token });
    assert.equal(during.status, 429);

    app.clock.advance(15 * 60_000 + 1_000);
    const unlocked = await post('/api/agents', { name: 'unlocked', mfa_code: await victim.nextCode() }, { token: victim.token });
    assert.equal(unlocked.status, 201, unlocked.text);
  });

  it('MFA failures of one user do not lock another', async () => {
    freshWindow();
    const noisy = await newUser(app.url, app.clock);
    const quiet = await newUser(app.url, app.clock);
    for (let i = 0; i < 6; i++) await post('/api/agents', { name: 'n', mfa_code: await wrongCode(noisy) }, { token: noisy.token });
    const answer = await post('/api/agents', { name: 'q', mfa_code: await quiet.nextCode() }, { token: quiet.token });
    assert.equal(answer.status, 201, answer.text);
  });

  it('no guess produced a server error', async () => {
    assert.deepEqual(statuses.filter((s) => s >= 500), []);
  });
});
