import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOptions } from '@node-rs/argon2';
import { USERNAME_PATTERN, codePointLength, commonPasswords, normalizeUsername, passwordProblem } from '../../domains/users/policy';
import { BACKOFF_FREE_FAILURES, backoffSeconds, clearedState, reserveAttempt } from '../../domains/users/lockout';
import { ARGON2_POLICY, createPasswordHasher, createSemaphore } from '../../domains/users/password';
import { AppError } from '../../lib/errors';

test('usernames: 3–64 of [a-z0-9._-] in any case, stored lowercase', () => {
  for (const ok of ['abc', 'Alice.Smith_1-2', 'a'.repeat(64)]) assert.ok(USERNAME_PATTERN.test(ok), ok);
  for (const bad of ['ab', 'a'.repeat(65), 'a b', 'ünï', 'a@b', '']) assert.ok(!USERNAME_PATTERN.test(bad), bad);
  assert.equal(normalizeUsername('Alice.Smith'), 'alice.smith');
});

test('common passwords and the username itself are refused, case-insensitively', () => {
  assert.ok(commonPasswords().size > 1000, 'the shipped list is loaded');
  for (const common of ['password', 'Password1', 'QWERTY123', '12345678', 'iloveyou', 'letmein123']) {
    assert.equal(passwordProblem(common, 'someone'), 'common', common);
  }
  assert.equal(passwordProblem('Alice.Smith', 'alice.smith'), 'same_as_username');
  assert.equal(passwordProblem('correct horse battery staple', 'alice'), undefined);
});

test('lengths count code points, not UTF-16 units', () => {
  assert.equal(codePointLength('😀😀😀'), 3);
  assert.equal(codePointLength('abc'), 3);
});

const policy = { maxFailures: 10, lockSeconds: 900 };
const t0 = new Date('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(t0.getTime() + s * 1000);

test('lock-out: attempts are counted before the check; the Nth failure locks for the lock duration', () => {
  let state = clearedState();
  for (let i = 1; i <= BACKOFF_FREE_FAILURES; i += 1) {
    const d = reserveAttempt(state, t0, policy);
    assert.equal(d.allowed, true);
    assert.equal(d.next.failedLogins, i);
    assert.equal(d.next.lockedUntil, null, 'no delay for the first few failures');
    state = d.next;
  }
  const fifth = reserveAttempt(state, t0, policy);
  assert.equal(fifth.next.lockedUntil?.getTime(), at(1).getTime(), 'then a back-off of 1 s');
  // During a back-off an attempt is refused and still counted.
  const during = reserveAttempt(fifth.next, at(0.5), policy);
  assert.equal(during.allowed, false);
  assert.equal(during.next.failedLogins, 6);
  assert.equal(during.next.lockedUntil?.getTime(), at(1).getTime(), 'the back-off is not stretched');
  assert.deepEqual([5, 6, 7, 8, 9, 10, 20].map(backoffSeconds), [1, 2, 4, 8, 16, 32, 60]);

  const nearly = { failedLogins: 9, lockedUntil: null };
  const tenth = reserveAttempt(nearly, t0, policy);
  assert.equal(tenth.allowed, true, 'the 10th guess is still checked');
  assert.equal(tenth.locksOnFailure, true);
  assert.equal(tenth.next.lockedUntil?.getTime(), at(900).getTime());
  // Locked: refused, not counted (the lock cannot be stretched), released after the duration.
  const locked = reserveAttempt(tenth.next, at(899), policy);
  assert.deepEqual([locked.allowed, locked.next], [false, tenth.next]);
  const released = reserveAttempt(tenth.next, at(900), policy);
  assert.equal(released.allowed, true);
  assert.equal(released.next.failedLogins, 1, 'a served lock starts afresh');
});

test('a back-off attempt that reaches the limit locks the account', () => {
  const d = reserveAttempt({ failedLogins: 9, lockedUntil: at(10) }, t0, policy);
  assert.equal(d.allowed, false);
  assert.equal(d.locksOnFailure, true);
  assert.equal(d.next.lockedUntil?.getTime(), at(900).getTime());
});

test('the semaphore bounds concurrency and refuses past its queue', async () => {
  const gate = createSemaphore(2, 1);
  let running = 0;
  let peak = 0;
  const releases: (() => void)[] = [];
  const task = () =>
    gate.run(async () => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise<void>((resolve) => releases.push(resolve));
      running -= 1;
    });
  const first = [task(), task(), task()];
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(gate.load(), { running: 2, waiting: 1 });
  await assert.rejects(task(), (err: unknown) => err instanceof AppError && err.code === 'unavailable');
  while (releases.length > 0 || running > 0) {
    releases.shift()?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(first);
  assert.equal(peak, 2);
  assert.deepEqual(gate.load(), { running: 0, waiting: 0 });
});

test('argon2id hashes carry the policy parameters (m ≥ 19456 KiB, t ≥ 2, p = 1) and verify', async () => {
  const hasher = createPasswordHasher({ maxConcurrent: 2 });
  const hash = await hasher.hash('correct horse battery staple');
  assert.match(hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  const params = parseOptions(hash);
  assert.equal(params.algorithm, 2); // Argon2id
  assert.ok(params.memoryCost >= 19456 && params.timeCost >= 2 && params.parallelism === 1);
  assert.equal(params.memoryCost, ARGON2_POLICY.memoryCost);
  assert.equal(await hasher.verify(hash, 'correct horse battery staple'), true);
  assert.equal(await hasher.verify(hash, 'wrong horse battery staple'), false);
  assert.equal(await hasher.verify('not a hash', 'x'), false);
  assert.equal(hasher.needsRehash(hash), false);
  const weak = '$argon2id$v=19$m=4096,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$' + 'A'.repeat(43);
  assert.equal(hasher.needsRehash(weak), true);
});
