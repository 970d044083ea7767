import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { digestMatches, digestSecret, generateApiKey, parseApiKey } from '../../domains/agents/keys';

test('API keys are cs_<96-bit hex id>_<256-bit base64url secret>', () => {
  const key = generateApiKey();
  assert.match(key.apiKey, /^cs_[0-9a-f]{24}_[A-Za-z0-9_-]{43}$/);
  assert.equal(Buffer.from(key.secret, 'base64url').length, 32);
  assert.equal(Buffer.from(key.keyId, 'hex').length, 12);
  assert.deepEqual(parseApiKey(key.apiKey), { keyId: key.keyId, secret: key.secret });
  assert.notEqual(generateApiKey().apiKey, key.apiKey);
});

test('anything else does not parse', () => {
  const { apiKey } = generateApiKey();
  for (const bad of ['', 'cs_', apiKey.toUpperCase(), `${apiKey}x`, apiKey.slice(0, -1), apiKey.replace('cs_', 'sk_'), ` ${apiKey}`]) {
    assert.equal(parseApiKey(bad), undefined, bad);
  }
});

test('the stored digest is HMAC-SHA256(API_KEY_HMAC_KEY, secret), compared in constant time', () => {
  const { secret } = generateApiKey();
  const digest = digestSecret('h'.repeat(32), secret);
  assert.deepEqual(digest, createHmac('sha256', 'h'.repeat(32)).update(secret).digest());
  assert.equal(digestMatches(digest, digestSecret('h'.repeat(32), secret)), true);
  assert.equal(digestMatches(digest, digestSecret('i'.repeat(32), secret)), false);
  assert.equal(digestMatches(digest, digest.subarray(0, 16)), false);
});
