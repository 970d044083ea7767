/** X-Countersign-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + raw body)> (domains/webhooks/signature.ts). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { computeSignature, generateWebhookSecret, signatureHeader, verifyWebhookSignature } from '../../domains/webhooks/signature';
import { networkError } from '../../domains/webhooks/deliver';

const secret = 'whsec_test-secret-0123456789abcdefghijklmnopqrstuv';
const body = '{"delivery_id":"d","event":"transaction.approved","transaction_id":"t","status":"approved","version":2,"created_at":"2025-01-01T00:00:00.000Z"}';
const t = 1_700_000_000;

describe('webhook signatures', () => {
  test('the HMAC is over t + "." + raw body, keyed with the secret as shown (independent computation)', () => {
    const expected = createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${t}.${body}`).digest('hex');
    assert.equal(computeSignature(secret, t, body), expected);
    assert.equal(signatureHeader(secret, t, body), `t=${t},v1=${expected}`);
    assert.equal(computeSignature(Buffer.from(secret), t, Buffer.from(body)), expected);
  });

  test('verifies a fresh signature', () => {
    assert.equal(verifyWebhookSignature(secret, signatureHeader(secret, t, body), body, 300, t + 10), true);
    assert.equal(verifyWebhookSignature(Buffer.from(secret), signatureHeader(secret, t, body), Buffer.from(body), 300, t - 10), true);
  });

  test('refuses a changed body, another secret, a changed timestamp', () => {
    const header = signatureHeader(secret, t, body);
    assert.equal(verifyWebhookSignature(secret, header, body.replace('approved', 'confirmed'), 300, t), false);
    assert.equal(verifyWebhookSignature(`${secret}x`, header, body, 300, t), false);
    assert.equal(verifyWebhookSignature(secret, header.replace(`t=${t}`, `t=${t + 1}`), body, 300, t), false);
  });

  test('refuses a signature outside the tolerance (replay)', () => {
    const header = signatureHeader(secret, t, body);
    assert.equal(verifyWebhookSignature(secret, header, body, 300, t + 301), false);
    assert.equal(verifyWebhookSignature(secret, header, body, 300, t - 301), false);
    assert.equal(verifyWebhookSignature(secret, header, body, 300, t + 300), true);
  });

  test('accepts any of several v1 values; ignores unknown schemes', () => {
    const good = computeSignature(secret, t, body);
    assert.equal(verifyWebhookSignature(secret, `t=${t},v1=${'0'.repeat(64)},v1=${good}`, body, 300, t), true);
    assert.equal(verifyWebhookSignature(secret, `t=${t},v0=abc,v1=${good}`, body, 300, t), true);
  });

  test('refuses malformed headers', () => {
    const good = computeSignature(secret, t, body);
    for (const header of [undefined, null, '', `v1=${good}`, `t=${t}`, `t=abc,v1=${good}`, `t=${t},t=${t},v1=${good}`, `t=${t},v1=${good.toUpperCase()}`, `t=${t},v1=${good}=`, `t=${t},v1=${good.slice(2)}`, 'x'.repeat(2000)]) {
      assert.equal(verifyWebhookSignature(secret, header, body, 300, t), false, String(header));
    }
  });

  test('secrets are 32 random bytes, base64url, with a prefix', () => {
    const a = generateWebhookSecret();
    const b = generateWebhookSecret();
    assert.match(a, /^whsec_[A-Za-z0-9_-]{43}$/);
    assert.equal(Buffer.from(a.slice('whsec_'.length), 'base64url').length, 32);
    assert.notEqual(a, b);
  });
});

describe('delivery errors are fixed words', () => {
  test('maps network codes without echoing messages', () => {
    const err = (code: string) => Object.assign(new Error('connect ECONNREFUSED https://user:token@hooks.example.com/secret-path'), { code });
    assert.equal(networkError(err('ECONNREFUSED')), 'connection_refused');
    assert.equal(networkError(err('ECONNRESET')), 'connection_reset');
    assert.equal(networkError(err('ETIMEDOUT')), 'timeout');
    assert.equal(networkError(err('DEPTH_ZERO_SELF_SIGNED_CERT')), 'tls_error');
    assert.equal(networkError(err('ERR_TLS_CERT_ALTNAME_INVALID')), 'tls_error');
    assert.equal(networkError(err('HPE_INVALID_CONSTANT')), 'invalid_response');
    assert.equal(networkError(err('SOMETHING_ELSE')), 'network_error');
    assert.equal(networkError(new Error('x')), 'network_error');
  });
});
