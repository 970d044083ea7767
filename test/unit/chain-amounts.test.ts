/**
 * The one amount formatter (domains/chain/amounts.ts) that the server's titles
 * and the web app's cards share: never rounded, never scaled by untrusted
 * decimals, the same text in both places.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatAmount,
  formatAmountChange,
  formatBaseUnits,
  formatUnits,
  isUnlimitedAmount,
  MAX_DISPLAY_DECIMALS,
  nativeSymbol,
  type AmountSpec,
} from '../../domains/chain/amounts';
import * as web from '../../web/src/lib/format';

const token = (raw: string, decimals: number | null, symbol: string | null = 'USDC', unlimited = false): AmountSpec => ({ raw, unit: 'token', symbol, decimals, unlimited });

describe('formatUnits', () => {
  test('0 decimals: the units themselves, grouped', () => {
    assert.equal(formatUnits('42', 0), '42');
    assert.equal(formatUnits('1234567', 0), '1,234,567');
  });

  test('18 decimals: every significant digit, no trailing zeros, no ".0"', () => {
    assert.equal(formatUnits('1250000000000000000', 18), '1.25');
    assert.equal(formatUnits('250000000000000000000', 18), '250');
    assert.equal(formatUnits('0', 18), '0');
  });

  test('dust is shown to the last unit, never rounded to 0', () => {
    assert.equal(formatUnits('1', 18), '0.000000000000000001');
    assert.equal(formatUnits('1', 6), '0.000001');
  });

  test('huge values keep every digit', () => {
    const max = ((1n << 256n) - 1n).toString();
    assert.equal(formatUnits(max, 0), formatBaseUnits(max));
    assert.equal(formatUnits(max, 18), '115,792,089,237,316,195,423,570,985,008,687,907,853,269,984,665,640,564,039,457.584007913129639935');
  });

  test('signed amounts (balance changes)', () => {
    assert.equal(formatUnits(-300000000000000000n, 18), '-0.3');
    assert.equal(formatUnits('-1', 0), '-1');
  });

  test('untrusted decimals and non-integers are refused, not guessed', () => {
    assert.equal(formatUnits('1', MAX_DISPLAY_DECIMALS), `0.${'0'.repeat(35)}1`);
    assert.equal(formatUnits('1', MAX_DISPLAY_DECIMALS + 1), null);
    assert.equal(formatUnits('1', 255), null);
    assert.equal(formatUnits('1', -1), null);
    assert.equal(formatUnits('1', 1.5), null);
    assert.equal(formatUnits('1.5', 18), null);
    assert.equal(formatUnits('01', 18), null);
    assert.equal(formatUnits(null, 18), null);
  });
});

describe('formatAmount', () => {
  test('native, token, unlimited, unknown token, untrusted decimals', () => {
    assert.equal(formatAmount({ raw: '300000000000000000', unit: 'native', symbol: 'ETH', decimals: 18, unlimited: false }), '0.3 ETH');
    assert.equal(formatAmount(token('250000000', 6)), '250 USDC');
    assert.equal(formatAmount(token('1', 6, '')), '0.000001 tokens');
    assert.equal(formatAmount(token(((1n << 256n) - 1n).toString(), 6, 'USDC', true)), 'unlimited USDC');
    assert.equal(formatAmount({ raw: '1', unit: 'not_a_token', symbol: null, decimals: null, unlimited: false }), '1 base units (not a token)');
    assert.equal(formatAmount(token('1000000000000000000', null, 'DEEP')), '1,000,000,000,000,000,000 base units of DEEP');
  });

  test('changes carry an explicit sign', () => {
    assert.equal(formatAmountChange(token('250000000', 6)), '+250 USDC');
    assert.equal(formatAmountChange(token('-250000000', 6)), '-250 USDC');
  });

  test('unlimited means at or above 2^96 - 1', () => {
    assert.equal(isUnlimitedAmount(((1n << 96n) - 1n).toString()), true);
    assert.equal(isUnlimitedAmount(((1n << 96n) - 2n).toString()), false);
    assert.equal(isUnlimitedAmount('not a number'), false);
  });

  test('native symbols per chain', () => {
    assert.equal(nativeSymbol(137), 'POL');
    assert.equal(nativeSymbol(1), 'ETH');
    assert.equal(nativeSymbol(999999), 'ETH');
  });
});

test('the web app formats with the very same functions', () => {
  assert.equal(web.formatUnits, formatUnits);
  assert.equal(web.formatAmount, formatAmount);
});
