/**
 * Abuse, part 2: brute force. Password guessing puts the guessing source in a
 * back-off for that account (per address + account pair, in PostgreSQL) —
 * never the account itself: failures from one address never lock the owner
 * out from another, however many (issue 19 §3: eleven wrong passwords used to
 * lock any known username for 15 minutes). Every failure, waiting or not, is
 * the same 401 body, so the back-off tells an attacker nothing. TOTP guessing
 * locks MFA-protected actions (429 mfa_locked with Retry-After), across every
 * purpose — the user is signed in there, so that lock is theirs alone; the
 * per-address rate limit answers 429 with Retry-After.
 *
 * Its own app: it moves the test clock through the back-offs and lock
 * durations (and past the one-minute rate-limit windows between tests). The
 * attacker and the owner are different real client addresses: requests bound
 * to 127.0.0.2 … (test/support/http-from.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { generate } from 'otplib';
import { startTestApp, type TestApp } from '../support/app';
import { newUser, newWallet, type TestUser } from '../support/actors';
import { recordProofRow } from './support/summary';
import { requestFrom } from '../support/http-from';

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

/** `from`: a loopback source address other than 127.0.0.1 (another client). */
async function post(path: string, body: unknown, options: { token?: string; from?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const answer = await requestFrom(options.from ?? '127.0.0.1', `${app.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  attempts += 1;
  statuses.push(answer.status);
  return { status: answer.status, text: answer.text, body: answer.text ? (JSON.parse(answer.text) as Answer['body']) : {}, headers: answer.headers };
}

const login = (username: string, password: string, from?: string) => post('/api/login', { username, password }, from ? { from } : {});
const ATTACKER = '127.0.0.2';
const OWNER = '127.0.0.3';
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
    env: {
      JWT_ACCESS_TOKEN_EXPIRES: '1d',
      RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT),
      LOGIN_FREE_FAILURES: '5',
      LOGIN_BACKOFF_MAX: '15m',
      LOGIN_FAILURE_WINDOW: '1h',
      LOGIN_ACCOUNT_SLOWDOWN: '20',
      MFA_MAX_FAILURES: '5',
      MFA_FAILURE_WINDOW: '15m',
      MFA_LOCK_DURATION: '15m',
    },
  });
});

after(async () => {
  try {
    if (app) {
      const serverErrors = statuses.filter((s) => s >= 500).length;
      recordProofRow({
        suite: 'abuse: brute force (login back-off per source, MFA lock, rate limit)',
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
  it('every failure is the same 401 body; a guessing address in its back-off is refused even with the right password; the owner at another address logs in at once', async () => {
    freshWindow();
    const victim = await newUser(app.url, app.clock);
    const unknownUser = await login(`nobody${randomBytes(4).toString('hex')}`, 'whatever-password', ATTACKER);
    assert.equal(unknownUser.status, 401);
    assert.deepEqual(unknownUser.body, { error: { code: 'invalid_credentials', message: unknownUser.body.error!.message, hint: 'Check the username and password and log in again.' } });
    const reference = unknownUser.text;

    // The pen test's repro: 11 wrong passwords for a known username (it used to lock the account for 15 minutes).
    for (let i = 0; i < 11; i++) {
      const guess = await login(victim.username, `wrong-guess-${i}-${randomBytes(4).toString('hex')}`, ATTACKER);
      assert.equal(guess.status, 401, `guess ${i}`);
      assert.equal(guess.text, reference, `guess ${i}: a failure must not say why`);
      assert.equal(guess.headers.get('retry-after'), null, `guess ${i}: nor how long to wait`);
    }
    // The attacker's address is waiting: even the right password is refused there, with the very same body…
    const waiting = await login(victim.username, victim.password, ATTACKER);
    assert.equal(waiting.status, 401);
    assert.equal(waiting.text, reference, 'the back-off is not revealed');
    // …in any case of the username (one account, stored lowercase).
    assert.equal((await login(victim.username.toUpperCase(), victim.password, ATTACKER)).text, reference);
    // The owner, at another address, is not locked out: logged in at once.
    const owner = await login(victim.username, victim.password, OWNER);
    assert.equal(owner.status, 200, `the owner is locked out by someone else's guesses: ${owner.text}`);
    // And can act: e.g. revoke things, approve, reject (a user route with the fresh token).
    const token = owner.body.access_token as string;
    const reauth = await post('/api/create_wallet', { password: victim.password }, { token, from: OWNER });
    assert.equal(reauth.status, 201, reauth.text);

    // The attacker keeps going for an hour, each guess as soon as it is allowed: the owner is never shut out.
    const started = app.clock.now().getTime();
    let guesses = 11;
    while (app.clock.now().getTime() - started < 3_600_000) {
      freshWindow();
      const guess = await login(victim.username, `hour-${guesses}-${randomBytes(3).toString('hex')}`, ATTACKER);
      assert.equal(guess.text, reference);
      guesses += 1;
      if (guesses % 10 === 0) assert.equal((await login(victim.username, victim.password, OWNER)).status, 200, `after ${guesses} guesses`);
    }
    assert.equal((await login(victim.username, victim.password, OWNER)).status, 200);
  });

  it('the back-off ends: the guessing address itself is let in with the right password once its wait is over', async () => {
    freshWindow();
    const victim = await newUser(app.url, app.clock);
    for (let i = 0; i < 6; i++) await login(victim.username, `wrong-${i}-${randomBytes(3).toString('hex')}`, ATTACKER);
    assert.equal((await login(victim.username, victim.password, ATTACKER)).status, 401, 'waiting');
    app.clock.advance(1_000);
    assert.equal((await login(victim.username, victim.password, ATTACKER)).status, 200, 'the wait (1 s after the 5th failure; the 6th, refused, did not count) is over');
  });

  it('wrong passwords given to re-authentication (create_wallet) count toward the same (address, account) back-off', async () => {
    freshWindow();
    const victim = await newUser(app.url, app.clock);
    for (let i = 0; i < 5; i++) {
      const answer = await post('/api/create_wallet', { password: `wrong-${i}-${randomBytes(3).toString('hex')}` }, { token: victim.token, from: ATTACKER });
      assert.equal(answer.status, 403, answer.text);
      assert.equal(answer.body.error?.code, 'password_invalid');
    }
    // Guessing through re-authentication puts that address in its back-off for logins as well…
    assert.equal((await login(victim.username, victim.password, ATTACKER)).status, 401);
    const reauth = await post('/api/create_wallet', { password: victim.password }, { token: victim.token, from: ATTACKER });
    assert.equal(reauth.status, 403, 'and for re-authentication: the right password is not checked while waiting');
    // …but not another address.
    assert.equal((await login(victim.username, victim.password, OWNER)).status, 200);
    app.clock.advance(1_000);
    assert.equal((await login(victim.username, victim.password, ATTACKER)).status, 200);
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
      ['/api/authorize_transaction', { transaction_id: '00000000-0000-4000-8000-000000000000', digest: `0x${'0'.repeat(64)}`, mfa_code: right }],
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
