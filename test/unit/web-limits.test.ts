/** The web app's sentences for limits and labels (web/src/lib/limits.ts): what an approval card and the Limits page say. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { addressWithLabel, assetAmountText, fraction, labelMap, limitNoteText, ruleText } from '../../web/src/lib/limits';
import type { Transaction } from '../../web/src/lib/types';

const ETH = 10n ** 18n;
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const ALICE = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const tx = (extra: Partial<Transaction> = {}): Transaction => ({ transaction_id: 't', chain_id: 31337, ...extra });

describe('limits on an approval card', () => {
  test('a rolling limit: used (this request included) of the limit, the unit named once', () => {
    const note = { rule_id: 'r', type: 'rolling_limit', asset: 'native', amount: ((3n * ETH) / 10n).toString(), limit: ETH.toString(), used: ((5n * ETH) / 10n).toString(), window: '24h' };
    assert.equal(limitNoteText(note, tx(), new Map()), '0.5 of 1 ETH in the last 24 hours, this request’s 0.3 ETH included');
    assert.equal(fraction(note.used, note.limit), 0.5);
  });

  test('a per-transaction limit; a token with the decimals the card knows, or base units and the label otherwise', () => {
    assert.equal(limitNoteText({ rule_id: 'r', type: 'max_per_transaction', asset: 'native', amount: '1', limit: ETH.toString() }, tx(), new Map()), '0.000000000000000001 ETH of at most 1 ETH per transaction');
    const withToken = tx({ summary: { token: { address: TOKEN, symbol: 'USDC', decimals: 6 } } });
    assert.equal(assetAmountText(TOKEN.toLowerCase(), '2500000', { token: withToken.summary!.token! }), '2.5 USDC');
    const labels = labelMap([{ address: TOKEN, label: 'Test token' }]);
    assert.equal(assetAmountText(TOKEN, '2500000', { labels }), '2,500,000 base units of Test token (0x5FbD…0aa3)');
  });

  test('a label never replaces its address; hostile label text is cleaned', () => {
    const labels = labelMap([{ address: ALICE, label: 'Alice\u202e' }]);
    assert.equal(addressWithLabel(ALICE.toLowerCase(), labels), 'Alice (0x7099…79c8)');
    assert.equal(addressWithLabel(TOKEN, labels), '0x5FbD…0aa3');
  });

  test('rules read in plain language, with agents by name', () => {
    const context = { chainId: 31337, labels: labelMap([{ address: ALICE, label: 'Alice' }]), agents: new Map([['a1', 'Rent bot']]) };
    assert.equal(ruleText({ type: 'max_requests', count: 10, window: '1h', agent_id: 'A1' }, context), 'For agent “Rent bot”: at most 10 requests in any hour');
    assert.equal(ruleText({ type: 'allowed_recipients', addresses: [ALICE] }, context), 'Sends and token allowances only to this address: Alice (0x7099…79C8)');
    assert.equal(ruleText({ type: 'allowed_chains', chain_ids: [31337] }, context), 'Only on Local dev chain (anvil) (31337)');
  });
});
