/**
 * The approver's summary (domains/transactions/summary.ts) read the way the
 * web card reads it (web/src/lib/format.ts): the title quotes the Amount row
 * exactly, every token amount carries its base units, tokens that
 * misdescribe themselves are flagged, spenders are called spenders, and names
 * from the agent's ABI are marked unverified.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Interface, MaxUint256, solidityPacked } from 'ethers';
import { decodeCall } from '../../domains/chain/decode';
import type { TokenInfo } from '../../domains/chain/simulate';
import type { Call, Hex } from '../../domains/chain/types';
import { buildSummary, type SummaryInput } from '../../domains/transactions/summary';
import { summaryView } from '../../domains/transactions/view';
import type { Summary } from '../../domains/transactions/schemas';
import { amountText, counterpartyLabel, rawAmountText, warningsOf } from '../../web/src/lib/format';
import type { Transaction } from '../../web/src/lib/types';

const ALICE = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const BOB = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const BATCH = '0xcA11bde05977b3631167028862bE2a173976CA11';
const erc20 = new Interface(['function transfer(address to, uint256 amount)', 'function approve(address spender, uint256 amount)']);
const usdc: TokenInfo = { address: TOKEN, symbol: 'USDC', decimals: 6 };

const call = (data: string, value = 0n, to = TOKEN): Call => ({ to: to.toLowerCase() as Hex, value, data: data.toLowerCase() as Hex });

function summarize(c: Call, tokens: TokenInfo[], extra: Partial<SummaryInput> = {}): Summary {
  const token = tokens.find((t) => t.address.toLowerCase() === c.to);
  return buildSummary({
    decoded: decodeCall(c),
    token,
    tokens,
    simulation: { ok: true },
    warnings: [],
    gasLimit: 21000n,
    maxFeePerGas: 1n,
    nativeSymbol: 'ETH',
    ...extra,
  });
}

/** The transaction as the web app receives it. */
const asTx = (summary: Summary, fields: Partial<Transaction> = {}): Transaction => ({
  transaction_id: '00000000-0000-4000-8000-000000000000',
  chain_id: 31337,
  value: '0',
  summary: JSON.parse(JSON.stringify(summary)) as Transaction['summary'],
  ...fields,
});

/** The title and the Amount row say the same amount. */
function assertAgrees(summary: Summary, fields: Partial<Transaction> = {}) {
  const shown = amountText(asTx(summary, fields));
  assert.equal(shown, summary.amount_formatted);
  assert.ok(summary.title.includes(shown), `title "${summary.title}" does not say "${shown}"`);
  return shown;
}

describe('amounts agree between title and card', () => {
  test('ERC-20: "250 USDC" in both (not "250.0 USDC"), with the base units beside it', () => {
    const summary = summarize(call(erc20.encodeFunctionData('transfer', [ALICE, 250_000_000n])), [usdc]);
    assert.equal(assertAgrees(summary, { amount: '250000000' }), '250 USDC');
    assert.equal(summary.title, `Send 250 USDC (ERC-20 ${TOKEN}) to ${ALICE}`);
    assert.deepEqual(summary.amount, { raw: '250000000', unit: 'token', symbol: 'USDC', decimals: 6, unlimited: false });
    assert.equal(rawAmountText(asTx(summary)), '250000000 base units');
  });

  test('native: 0.3 ETH', () => {
    const summary = summarize(call('0x', 300_000_000_000_000_000n, ALICE), []);
    assert.equal(assertAgrees(summary, { value: '300000000000000000' }), '0.3 ETH');
    assert.equal(summary.title, `Send 0.3 ETH to ${ALICE}`);
    assert.equal(rawAmountText(asTx(summary)), null);
  });

  test('an ERC-20 request to an address that is not a token says so, in base units (not "0 ETH")', () => {
    const summary = summarize(call(erc20.encodeFunctionData('transfer', [ALICE, 1n])), [], { warnings: ['not_a_token'] });
    assert.equal(assertAgrees(summary, { kind: 'erc20', amount: '1' }), '1 base units (not a token)');
    assert.match(summary.title, new RegExp(`${TOKEN} is not a token`));
    assert.deepEqual(summary.warning_details, [{ code: 'not_a_token', blocking: true, message: summary.warning_details[0]!.message }]);
  });

  test('approve: the spender is labelled spender and the amount is shown (not "—")', () => {
    const summary = summarize(call(erc20.encodeFunctionData('approve', [BOB, 250_000_000n])), [usdc]);
    assert.equal(summary.recipient, BOB);
    assert.equal(summary.recipient_role, 'spender');
    assert.equal(counterpartyLabel(summary.recipient_role), 'Spender');
    assert.equal(assertAgrees(summary, { kind: 'contract_call', amount: null }), '250 USDC');
    const unlimited = summarize(call(erc20.encodeFunctionData('approve', [BOB, MaxUint256])), [usdc]);
    assert.equal(assertAgrees(unlimited), 'unlimited USDC');
  });

  test('a token calling itself ETH is titled as a token, never like a native transfer', () => {
    const fake: TokenInfo = { address: TOKEN, symbol: 'ETH', decimals: 18 };
    const tokenSend = summarize(call(erc20.encodeFunctionData('transfer', [ALICE, 10n ** 18n])), [fake]);
    const nativeSend = summarize(call('0x', 10n ** 18n, ALICE), []);
    assert.notEqual(tokenSend.title, nativeSend.title);
    assert.equal(tokenSend.title, `Send 1 ETH (ERC-20 ${TOKEN}) to ${ALICE}`);
    assert.equal(tokenSend.amount?.unit, 'token');
  });

  test('decimals above 36 or inconsistent: base units, never dust', () => {
    const deep = summarize(call(erc20.encodeFunctionData('transfer', [ALICE, 10n ** 18n])), [{ address: TOKEN, symbol: 'DEEP', decimals: 40 }]);
    assert.equal(assertAgrees(deep), '1,000,000,000,000,000,000 base units of DEEP');
    assert.ok(!deep.title.includes('0.000000000000000001'));
    const fickle = summarize(call(erc20.encodeFunctionData('transfer', [ALICE, 10n ** 18n])), [{ address: TOKEN, symbol: 'FKL', decimals: 6, inconsistentDecimals: true }]);
    assert.equal(assertAgrees(fickle), '1,000,000,000,000,000,000 base units of FKL');
  });

  test('a known call with ETH attached says both', () => {
    const summary = summarize(call(erc20.encodeFunctionData('approve', [BOB, MaxUint256]), 1n), [usdc]);
    assert.equal(summary.value_formatted, '0.000000000000000001 ETH');
    assert.match(summary.title, /sending 0\.000000000000000001 ETH$/);
    assert.equal(assertAgrees(summary), 'unlimited USDC');
  });
});

describe('warnings', () => {
  test('details say which are blocking and name the token; the card lists blocking ones first', () => {
    const lookalike: TokenInfo = { address: TOKEN, symbol: 'USD\u0421', decimals: 6 };
    const summary = summarize(call(erc20.encodeFunctionData('transfer', [ALICE, 1n])), [lookalike], { warnings: ['new_recipient', 'confusable_symbol'] });
    assert.deepEqual(summary.warnings, ['confusable_symbol', 'new_recipient']);
    assert.deepEqual(
      summary.warning_details.map((w) => [w.code, w.blocking]),
      [
        ['confusable_symbol', true],
        ['new_recipient', false],
      ],
    );
    assert.match(summary.warning_details[0]!.message, /"USD\u0421" of 0x5FbDB2315678afecb367f032d93F642f64180aa3 contains U\+0421/);
    assert.deepEqual(
      warningsOf(asTx(summary)).map((w) => [w.code, w.blocking]),
      [
        ['confusable_symbol', true],
        ['new_recipient', false],
      ],
    );
  });

  test('an unknown code from a newer server counts as blocking on the card', () => {
    const summary = summarize(call('0x', 1n, ALICE), [], { warnings: ['something_new'] });
    assert.deepEqual(warningsOf(asTx(summary)), [{ code: 'something_new', blocking: true, message: 'something_new' }]);
  });
});

describe('parameter names', () => {
  test('a known selector gets canonical names even when the agent’s ABI renames them', () => {
    const agentAbi = ['function transfer(address refundToYourOwnWallet, uint256 amount)'];
    const c = call(erc20.encodeFunctionData('transfer', [ALICE, 5n]));
    const summary = buildSummary({ decoded: decodeCall(c, agentAbi), token: usdc, tokens: [usdc], simulation: { ok: true }, warnings: [], gasLimit: 1n, maxFeePerGas: 1n, nativeSymbol: 'ETH' });
    assert.equal(summary.decoded_call?.source, 'known');
    assert.deepEqual(summary.decoded_call?.args, [`to: ${ALICE}`, 'amount: 5']);
    assert.ok(!JSON.stringify(summary).includes('refundToYourOwnWallet'));
  });

  test('names from the agent’s ABI for an unknown selector are marked unverified', () => {
    const agentAbi = ['function sweep(address refundToYourOwnWallet)'];
    const data = new Interface(agentAbi).encodeFunctionData('sweep', [ALICE]);
    const c = call(data, 0n, BATCH);
    const summary = buildSummary({ decoded: decodeCall(c, agentAbi), simulation: { ok: true }, warnings: [], gasLimit: 1n, maxFeePerGas: 1n, nativeSymbol: 'ETH' });
    assert.equal(summary.decoded_call?.source, 'agent_abi');
    assert.deepEqual(summary.decoded_call?.params, [{ name: 'refundToYourOwnWallet', type: 'address', value: ALICE, name_verified: false }]);
    assert.deepEqual(summary.decoded_call?.args, [`arg1 (address): ${ALICE} — named "refundToYourOwnWallet" by the agent, unverified`]);
    assert.match(summary.title, /unverified/);
    assert.equal(summary.recipient_role, 'contract');
  });
});

describe('batches', () => {
  test('Multicall3 and multiSend inner calls are listed with titles, sender and operation', () => {
    const multicall3 = new Interface(['function aggregate3((address target, bool allowFailure, bytes callData)[] calls)']);
    const inner = erc20.encodeFunctionData('approve', [BOB, MaxUint256]);
    const data = multicall3.encodeFunctionData('aggregate3', [[[TOKEN, false, inner]]]);
    const summary = summarize(call(data, 0n, BATCH), [usdc]);
    assert.equal(summary.title, `Run 1 calls through aggregate3((address,bool,bytes)[]) on ${BATCH}`);
    assert.deepEqual(
      summary.calls.map((row) => [row.index, row.sender, row.operation, row.title]),
      [['1', 'contract', 'call', `As ${BATCH}: Allow ${BOB} to spend unlimited USDC (ERC-20 ${TOKEN})`]],
    );

    const packed = solidityPacked(['uint8', 'address', 'uint256', 'uint256', 'bytes'], [1, ALICE, 0, 4, '0xdeadbeef']);
    const multiSend = new Interface(['function multiSend(bytes transactions)']).encodeFunctionData('multiSend', [packed]);
    const batch = summarize(call(multiSend, 0n, BATCH), []);
    assert.equal(batch.calls[0]?.operation, 'delegatecall');
    assert.match(batch.calls[0]!.title, /^Delegatecall/);
  });
});

test('a summary stored before these fields existed reads with them empty', () => {
  const legacy = {
    title: 'Send 250.0 USDC to 0x…',
    recipient: ALICE,
    amount_formatted: '250.0 USDC',
    token: { address: TOKEN, symbol: 'USDC', decimals: 6 },
    decoded_call: { function: 'transfer(address,uint256)', args: [ALICE, '250000000'] },
    simulation: { ok: true, revert_reason: null },
    warnings: ['new_recipient'],
    fee_cap_wei: '1',
  } as unknown as Summary;
  const shown = summaryView(legacy);
  assert.equal(shown.amount, null);
  assert.deepEqual(shown.balance_changes, []);
  assert.deepEqual(shown.warning_details, [{ code: 'new_recipient', blocking: false, message: 'This wallet has never sent to this recipient' }]);
  assert.equal(shown.decoded_call?.source, 'agent_abi');
  assert.equal(shown.simulation.trace, null);
});
