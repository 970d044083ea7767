import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { SignJWT, UnsecuredJWT } from 'jose';
import { createTokenService } from '../../domains/users/tokens';
import { createTestClock, unixSeconds } from '../../lib/clock';

const config = { JWT_SECRET_KEY: 's'.repeat(48), JWT_ISSUER: 'countersign', JWT_AUDIENCE: 'countersign-api', JWT_ACCESS_TOKEN_EXPIRES: 900 };
const key = new TextEncoder().encode(config.JWT_SECRET_KEY);
const clock = createTestClock(new Date('2026-03-01T12:00:00Z'));
const tokens = createTokenService({ config, clock });
const userId = randomUUID();

/** A token built by hand, valid unless a test changes something. */
function craft(overrides: { alg?: string; key?: Uint8Array; iss?: string; aud?: string; exp?: number; iat?: number; jti?: string | null; sub?: string } = {}) {
  const iat = overrides.iat ?? unixSeconds(clock.now());
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: overrides.alg ?? 'HS256', typ: 'JWT' })
    .setSubject(overrides.sub ?? userId)
    .setIssuer(overrides.iss ?? config.JWT_ISSUER)
    .setAudience(overrides.aud ?? config.JWT_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(overrides.exp ?? iat + 900);
  if (overrides.jti !== null) jwt.setJti(overrides.jti ?? randomUUID());
  return jwt.sign(overrides.key ?? key);
}

test('issued tokens verify, carry iss/aud/exp/iat/jti/sub, and expire with the injected clock', async () => {
  const issued = await tokens.issue(userId);
  assert.equal(issued.expiresIn, 900);
  const [header, payload] = issued.token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
  assert.deepEqual(header, { alg: 'HS256', typ: 'JWT' });
  assert.deepEqual(Object.keys(payload).sort(), ['aud', 'exp', 'iat', 'iss', 'jti', 'sub']);
  const verified = await tokens.verify(issued.token);
  assert.equal(verified?.userId, userId);
  assert.equal(verified?.jti, issued.jti);
  clock.advance(899_000);
  assert.ok(await tokens.verify(issued.token), 'valid until exp');
  clock.advance(1_000);
  assert.equal(await tokens.verify(issued.token), undefined, 'expired at exp');
});

test('the hand-made baseline token verifies (so each refusal below is about one change)', async () => {
  assert.ok(await tokens.verify(await craft()));
});

test('forged, alg:none, other algorithms, wrong audience/issuer and missing claims are refused', async () => {
  const now = unixSeconds(clock.now());
  const unsecured = new UnsecuredJWT({ jti: randomUUID() }).setSubject(userId).setIssuer(config.JWT_ISSUER).setAudience(config.JWT_AUDIENCE).setIssuedAt(now).setExpirationTime(now + 900).encode();
  const baseline = await craft();
  const [h, p] = baseline.split('.');
  const cases: Record<string, string> = {
    'forged (other key)': await craft({ key: new TextEncoder().encode('x'.repeat(48)) }),
    'alg none': unsecured,
    'alg none with the signature kept': `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.${baseline.split('.')[2]}`,
    HS512: await craft({ alg: 'HS512' }),
    HS384: await craft({ alg: 'HS384' }),
    'wrong audience': await craft({ aud: 'someone-else' }),
    'wrong issuer': await craft({ iss: 'evil' }),
    expired: await craft({ iat: now - 1000, exp: now - 100 }),
    'no jti': await craft({ jti: null }),
    'jti not a uuid': await craft({ jti: 'abc' }),
    'sub not a uuid': await craft({ sub: 'admin' }),
    'issued in the future': await craft({ iat: now + 3600, exp: now + 4000 }),
    'tampered payload': `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: randomUUID() })).toString('base64url')}.${baseline.split('.')[2]}`,
    garbage: 'not.a.jwt',
    empty: '',
  };
  for (const [name, token] of Object.entries(cases)) assert.equal(await tokens.verify(token), undefined, name);
});

test('a short JWT_SECRET_KEY is refused at start-up', () => {
  assert.throws(() => createTokenService({ config: { ...config, JWT_SECRET_KEY: 'short' }, clock }), /at least 32 bytes/);
});
