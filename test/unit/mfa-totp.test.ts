import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchStep, newTotpSecret, stepAt, totpCode, totpUri } from '../../domains/mfa/totp';

const secret = newTotpSecret();
const now = 1_800_000_015; // 15 s into a step

test('secrets are 160 bits of base32 and the URI names issuer Countersign and the username', () => {
  assert.match(secret, /^[A-Z2-7]{32}$/);
  assert.notEqual(newTotpSecret(), secret);
  const uri = new URL(totpUri('alice', secret));
  assert.equal(uri.protocol, 'otpauth:');
  assert.equal(decodeURIComponent(uri.pathname), '/Countersign:alice');
  assert.equal(uri.searchParams.get('secret'), secret);
  assert.equal(uri.searchParams.get('issuer'), 'Countersign');
});

test('the current and the previous step are accepted; two steps back and the next step are not', async () => {
  const current = stepAt(now);
  assert.equal(await matchStep(secret, await totpCode(secret, now), now), current);
  assert.equal(await matchStep(secret, await totpCode(secret, now - 30), now), current - 1);
  assert.equal(await matchStep(secret, await totpCode(secret, now - 60), now), undefined);
  assert.equal(await matchStep(secret, await totpCode(secret, now + 30), now), undefined);
});

test('steps at or below afterStep are skipped', async () => {
  const current = stepAt(now);
  assert.equal(await matchStep(secret, await totpCode(secret, now), now, current), undefined);
  assert.equal(await matchStep(secret, await totpCode(secret, now), now, current - 1), current);
  assert.equal(await matchStep(secret, await totpCode(secret, now - 30), now, current - 1), undefined);
  assert.equal(await matchStep(secret, await totpCode(secret, now), now, current + 5), undefined, 'a last step ahead of the clock accepts nothing');
});

test('malformed codes never match (and never throw)', async () => {
  for (const code of ['', '12345', '1234567', 'abcdef', ' 123456', '12345\u0000']) assert.equal(await matchStep(secret, code, now), undefined, JSON.stringify(code));
});
