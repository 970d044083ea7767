import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOptions } from '@node-rs/argon2';
import { USERNAME_PATTERN, codePointLength, commonPasswords, normalizeUsername, passwordProblem } from '../../domains/users/policy';
import { backoffSeconds, reserveAttempt, throttleSource, type PairState } from '../../domains/users/throttle';
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

const policy = { freeFailures: 3, maxBackoffSeconds: 900, windowSeconds: 3600, accountSlowdownAfter: 20 };
const t0 = new Date('2026-01-01T00:00:00Z');
const at = (s: number) => new Date(t0.getTime() + s * 1000);

test('throttle: the first failures of a pair are free, then each doubles its wait up to the maximum; waiting attempts are refused and not counted', () => {
  let state: PairState | undefined;
  for (let i = 1; i < policy.freeFailures; i += 1) {
    const d = reserveAttempt(state, i - 1, t0, policy);
    assert.ok(d.allowed);
    assert.equal(d.failures, i);
    assert.equal(d.next.nextAttemptAt, null, 'no wait for the first few failures');
    state = d.next;
  }
  const third = reserveAttempt(state, 2, t0, policy);
  assert.ok(third.allowed);
  assert.equal(third.startsBackoff, true);
  assert.equal(third.next.nextAttemptAt?.getTime(), at(1).getTime(), 'then a wait of 1 s');
  const during = reserveAttempt(third.next, 3, at(0.5), policy);
  assert.deepEqual(during, { allowed: false, waitUntil: at(1) }, 'refused during the wait, state unchanged');
  const fourth = reserveAttempt(third.next, 3, at(1), policy);
  assert.ok(fourth.allowed);
  assert.equal(fourth.startsBackoff, false);
  assert.equal(fourth.next.nextAttemptAt?.getTime(), at(3).getTime(), '2 s after the 4th');
  assert.deepEqual([2, 3, 4, 5, 10, 12, 13, 100, 5000].map((n) => backoffSeconds(n, 3, 900)), [0, 1, 2, 4, 128, 512, 900, 900, 900]);
});

test('throttle: never a lock — after any number of failures the pair is checked again once its wait is over', () => {
  const hammered: PairState = { failures: 10_000, nextAttemptAt: at(900), lastFailureAt: t0 };
  assert.equal(reserveAttempt(hammered, 10_000, at(899), policy).allowed, false);
  const later = reserveAttempt(hammered, 10_000, at(900), policy);
  assert.ok(later.allowed);
  assert.equal(later.next.nextAttemptAt?.getTime(), at(1800).getTime(), 'the wait is capped at LOGIN_BACKOFF_MAX');
});

test('throttle: a pair quiet for the window starts afresh', () => {
  const old: PairState = { failures: 8, nextAttemptAt: at(60), lastFailureAt: t0 };
  const fresh = reserveAttempt(old, 0, at(3600), policy);
  assert.ok(fresh.allowed);
  assert.equal(fresh.failures, 1);
  assert.equal(fresh.next.nextAttemptAt, null);
});

test('throttle: an account under pressure slows every pair (one free failure), but a new source is still checked at once', () => {
  const newcomer = reserveAttempt(undefined, policy.accountSlowdownAfter, t0, policy);
  assert.ok(newcomer.allowed, 'the first attempt of a new source is always checked');
  assert.equal(newcomer.accountSlowed, true);
  assert.equal(newcomer.next.nextAttemptAt?.getTime(), at(1).getTime(), 'but a failure waits at once');
  const calm = reserveAttempt(undefined, policy.accountSlowdownAfter - 1, t0, policy);
  assert.ok(calm.allowed);
  assert.equal(calm.next.nextAttemptAt, null);
});

test('throttle sources: IPv4 as is, IPv4-mapped IPv6 as IPv4, other IPv6 by /64', () => {
  assert.equal(throttleSource('203.0.113.7'), '203.0.113.7');
  assert.equal(throttleSource('::ffff:203.0.113.7'), '203.0.113.7');
  assert.equal(throttleSource('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(throttleSource('2001:db8:1:2::9'), '2001:db8:1:2::/64');
  assert.equal(throttleSource('2001:DB8::1'), '2001:db8:0:0::/64');
  assert.equal(throttleSource('2001:0db8:0001:0002:ffff::1'), throttleSource('2001:db8:1:2::2'));
  assert.equal(throttleSource('::1'), '0:0:0:0::/64');
  assert.equal(throttleSource(undefined), 'unknown');
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
