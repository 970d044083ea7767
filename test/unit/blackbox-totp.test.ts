import { test } from 'node:test';
import assert from 'node:assert/strict';
import { base32Decode, totpAt } from '../blackbox/totp';

// RFC 6238 appendix B (SHA-1 secret "12345678901234567890"), truncated to 6 digits.
const SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

test('base32 decodes the RFC 6238 test secret', () => {
  assert.equal(base32Decode(SECRET).toString(), '12345678901234567890');
});

test('RFC 6238 test vectors', () => {
  const vectors: [number, string][] = [
    [59, '287082'],
    [1111111109, '081804'],
    [1111111111, '050471'],
    [1234567890, '005924'],
    [2000000000, '279037'],
  ];
  for (const [time, code] of vectors) assert.equal(totpAt(SECRET, Math.floor(time / 30)), code, `T=${time}`);
});
