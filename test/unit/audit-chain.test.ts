import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GENESIS_HMAC, canonicalJson, canonicalRow, chainHmac, toJsonValue, wellFormed } from '../../domains/audit/chain';

const row = {
  id: '7',
  created_at: new Date('2026-01-02T03:04:05.678Z'),
  action: 'user.registered',
  actor_type: 'user',
  actor_id: 'a',
  subject_type: 'user',
  subject_id: 'a',
  ip: '127.0.0.1',
  request_id: 'r-1',
  data: { b: 1, a: [true, null, 'x'] },
};
const key = Buffer.from('k'.repeat(32));

test('canonical JSON sorts keys at every depth and keeps array order', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [3, 1], c: 'x' } }), '{"a":{"c":"x","d":[3,1]},"b":1}');
  assert.equal(canonicalJson(toJsonValue({ z: undefined, n: -0, big: 1e21 })), '{"big":1e+21,"n":0}');
});

test('data is made storable in jsonb: lone surrogates become U+FFFD, NUL is dropped, dates become ISO strings', () => {
  assert.deepEqual(toJsonValue({ s: 'a\ud800b\u0000c', d: new Date(0) }), { s: 'a\ufffdbc', d: '1970-01-01T00:00:00.000Z' });
  assert.equal(wellFormed('ok \ud83d\ude00'), 'ok \ud83d\ude00');
  assert.throws(() => toJsonValue({ n: Number.NaN }), /non-finite/);
  assert.throws(() => toJsonValue({ n: 1n }), /not JSON/);
});

test('the HMAC binds every field, the id and the previous HMAC', () => {
  const base = chainHmac(key, GENESIS_HMAC, row);
  assert.match(base, /^[0-9a-f]{64}$/);
  assert.equal(chainHmac(key, GENESIS_HMAC, { ...row }), base, 'deterministic');
  const variants = [
    { ...row, id: '8' },
    { ...row, created_at: new Date(row.created_at.getTime() + 1) },
    { ...row, action: 'user.login_succeeded' },
    { ...row, actor_type: 'agent' },
    { ...row, actor_id: null },
    { ...row, subject_id: 'b' },
    { ...row, ip: '127.0.0.2' },
    { ...row, request_id: null },
    { ...row, data: { b: 2, a: [true, null, 'x'] } },
  ];
  for (const variant of variants) assert.notEqual(chainHmac(key, GENESIS_HMAC, variant), base, JSON.stringify(canonicalRow(variant)));
  assert.notEqual(chainHmac(key, 'f'.repeat(64), row), base, 'previous HMAC');
  assert.notEqual(chainHmac(Buffer.from('j'.repeat(32)), GENESIS_HMAC, row), base, 'key');
});

test('key order inside data does not change the HMAC (jsonb reorders keys)', () => {
  assert.equal(chainHmac(key, GENESIS_HMAC, { ...row, data: { a: [true, null, 'x'], b: 1 } }), chainHmac(key, GENESIS_HMAC, row));
});
