/**
 * How the web app shows hostile agent text and amounts (web/src/lib/sanitize.ts,
 * format.ts): bidi and invisible characters removed, length capped, amounts never
 * rounded, implausible token decimals refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanText } from '../../web/src/lib/sanitize';
import { formatUnits, timeLeft } from '../../web/src/lib/format';

test('bidi overrides, isolates and zero-width characters are removed', () => {
  assert.equal(cleanText('Treasury bot \u202Egnp.exe\u202C'), 'Treasury bot gnp.exe');
  assert.equal(cleanText('US\u202EDC'), 'USDC');
  assert.equal(cleanText('a\u200Bb\uFEFFc\u2066d\u2069e\u200Ff\u061Cg'), 'abcdefg');
  assert.equal(cleanText('x\uFE0Fy\u00ADz'), 'xyz');
  assert.equal(cleanText('\uD800lone'), 'lone');
});

test('controls and line breaks become single spaces; ordinary text is kept', () => {
  assert.equal(cleanText('line1\nline2\r\n\tx\u0085y\u2028z'), 'line1 line2 x y z');
  assert.equal(cleanText('  Pay   invoice  '), 'Pay invoice');
  assert.equal(cleanText('café e\u0301 日本 👍🏽'), 'café e\u0301 日本 👍🏽');
  assert.equal(cleanText(null), '');
  assert.equal(cleanText({ toString: () => 'x' }), '', 'objects are not stringified');
});

test('length is capped in code points with an ellipsis', () => {
  assert.equal(cleanText('abcdef', 3), 'abc…');
  assert.equal(cleanText('😀😀😀😀', 2), '😀😀…');
  assert.equal(cleanText('x'.repeat(500), 280).length, 281);
});

test('amounts keep every digit and refuse what is not an integer', () => {
  assert.equal(formatUnits('1', 18), '0.000000000000000001');
  assert.equal(formatUnits('1250000000000000000', 18), '1.25');
  assert.equal(formatUnits('1234567000000', 6), '1,234,567');
  assert.equal(formatUnits('1', 40), null, 'more than 36 decimals are not trusted');
  assert.equal(formatUnits('2500000', 6), '2.5');
  assert.equal(formatUnits('0', 18), '0');
  assert.equal(formatUnits('42', 0), '42');
  assert.equal(formatUnits('1.5', 18), null);
  assert.equal(formatUnits('-1', 18), '-0.000000000000000001', 'balance changes are signed');
  assert.equal(formatUnits('+1', 18), null);
  assert.equal(formatUnits('1', 255), null, 'a token claiming absurd decimals is not trusted');
  assert.equal(formatUnits('1', Number.NaN), null);
});

test('time left counts down and reports expiry', () => {
  const now = Date.parse('2030-01-01T00:00:00Z');
  assert.deepEqual(timeLeft('2030-01-01T00:00:59Z', now), { expired: false, text: '59s left', seconds: 59 });
  assert.equal(timeLeft('2030-01-01T01:02:00Z', now).text, '1h 2m left');
  assert.equal(timeLeft('2030-01-02T01:00:00Z', now).text, '1d 1h left');
  assert.equal(timeLeft('2029-12-31T23:59:59Z', now).expired, true);
  assert.equal(timeLeft('not a date', now).expired, false);
});
