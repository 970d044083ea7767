import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { AbiCoder, Interface, MaxUint256, encodeBytes32String } from 'ethers';
import { solidityPacked } from 'ethers';
import {
  allCalls,
  counterpartyOf,
  counterpartyRole,
  decodeCall,
  grantsAllowance,
  isUnlimitedApproval,
  isUnlimitedGrant,
  MAX_BATCH_DEPTH,
  MAX_INNER_CALLS,
  parseMultiSend,
  UNLIMITED_APPROVAL_THRESHOLD,
} from '../../domains/chain/decode';
import { confusableCodePoints, impersonatesNative, sanitizeDisplayText, sanitizeSymbol } from '../../domains/chain/display';
import { tokenWarnings } from '../../domains/chain/simulate';
import type { DecodedCall } from '../../domains/chain/types';
import { parseDecimals, parseSymbol } from '../../domains/chain/tokens';
import { feeCapsFor, feesWithinCaps } from '../../domains/chain/fees';
import { gasWithMargin, newRecipientWarnings, sortWarnings, withMargin, withNewRecipient } from '../../domains/chain/simulate';
import { revertReasonOf } from '../../domains/chain/revert';
import type { Call, Hex } from '../../domains/chain/types';

const ALICE = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const BOB = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const erc20 = new Interface([
  'function transfer(address to, uint256 amount)',
  'function approve(address spender, uint256 amount)',
  'function transferFrom(address from, address to, uint256 amount)',
  'function setApprovalForAll(address operator, bool approved)',
]);
const call = (data: string, value = 0n, to = TOKEN): Call => ({ to: to.toLowerCase() as Hex, value, data: data.toLowerCase() as Hex });

describe('decodeCall', () => {
  test('native transfer', () => {
    assert.deepEqual(decodeCall(call('0x', 5n, ALICE)), { type: 'native_transfer', to: ALICE, value: '5' });
  });

  test('ERC-20 transfer / approve / transferFrom / setApprovalForAll are recognised by selector', () => {
    assert.deepEqual(decodeCall(call(erc20.encodeFunctionData('transfer', [ALICE, 10n]))), { type: 'erc20_transfer', token: TOKEN, to: ALICE, amount: '10', value: '0' });
    assert.deepEqual(decodeCall(call(erc20.encodeFunctionData('approve', [BOB, 10n]))), {
      type: 'erc20_approve',
      token: TOKEN,
      spender: BOB,
      amount: '10',
      unlimited: false,
      value: '0',
    });
    assert.deepEqual(decodeCall(call(erc20.encodeFunctionData('transferFrom', [ALICE, BOB, 3n]))), {
      type: 'erc20_transfer_from',
      token: TOKEN,
      from: ALICE,
      to: BOB,
      amount: '3',
      value: '0',
    });
    assert.deepEqual(decodeCall(call(erc20.encodeFunctionData('setApprovalForAll', [BOB, true]))), {
      type: 'set_approval_for_all',
      contract: TOKEN,
      operator: BOB,
      approved: true,
      value: '0',
    });
  });

  test('a token call with ETH attached is still recognised, and says its value', () => {
    const decoded = decodeCall(call(erc20.encodeFunctionData('transfer', [ALICE, 10n]), 5n));
    assert.deepEqual(decoded, { type: 'erc20_transfer', token: TOKEN, to: ALICE, amount: '10', value: '5' });
    // approve(MAX) with 1 wei: today's bug was to skip the known-call check when value > 0.
    const approve = decodeCall(call(erc20.encodeFunctionData('approve', [BOB, MaxUint256]), 1n));
    assert.equal(approve.type, 'erc20_approve');
    assert.equal(isUnlimitedGrant(approve), true);
    assert.equal(grantsAllowance(approve), true);
  });

  test('a known selector wins over the agent’s ABI (its names are not shown)', () => {
    const decoded = decodeCall(call(erc20.encodeFunctionData('transfer', [ALICE, 10n])), ['function transfer(address refundToYourOwnWallet, uint256 amount)']);
    assert.equal(decoded.type, 'erc20_transfer');
  });

  test('increaseAllowance and both permits are allowance grants', () => {
    const more = new Interface(['function increaseAllowance(address spender, uint256 addedValue)']);
    const eip2612 = new Interface(['function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)']);
    const dai = new Interface(['function permit(address holder, address spender, uint256 nonce, uint256 expiry, bool allowed, uint8 v, bytes32 r, bytes32 s)']);
    const r = encodeBytes32String('r');
    const increase = decodeCall(call(more.encodeFunctionData('increaseAllowance', [BOB, 7n])));
    assert.deepEqual(increase, { type: 'erc20_increase_allowance', token: TOKEN, spender: BOB, amount: '7', unlimited: false, value: '0' });
    const permit = decodeCall(call(eip2612.encodeFunctionData('permit', [ALICE, BOB, MaxUint256, 1700000000n, 27, r, r])));
    assert.deepEqual(permit, {
      type: 'erc20_permit',
      signature: 'permit(address,address,uint256,uint256,uint8,bytes32,bytes32)',
      token: TOKEN,
      owner: ALICE,
      spender: BOB,
      amount: MaxUint256.toString(),
      unlimited: true,
      deadline: '1700000000',
      value: '0',
    });
    const daiPermit = decodeCall(call(dai.encodeFunctionData('permit', [ALICE, BOB, 0n, 0n, true, 27, r, r])));
    assert.equal(daiPermit.type === 'erc20_permit' && daiPermit.unlimited, true);
    for (const decoded of [increase, permit, daiPermit]) {
      assert.equal(grantsAllowance(decoded), true);
      assert.equal(counterpartyOf(decoded), BOB);
      assert.equal(counterpartyRole(decoded), 'spender');
    }
    assert.equal(grantsAllowance(decodeCall(call(erc20.encodeFunctionData('approve', [BOB, 0n])))), false, 'approve(0) revokes');
  });

  test('unlimited approvals: max uint256 and the uint96 sentinel, not ordinary amounts', () => {
    const approve = (amount: bigint) => decodeCall(call(erc20.encodeFunctionData('approve', [BOB, amount])));
    assert.equal((approve(MaxUint256) as { unlimited: boolean }).unlimited, true);
    assert.equal((approve((1n << 96n) - 1n) as { unlimited: boolean }).unlimited, true);
    assert.equal((approve(10n ** 24n) as { unlimited: boolean }).unlimited, false);
    assert.equal(isUnlimitedApproval(UNLIMITED_APPROVAL_THRESHOLD - 1n), false);
  });

  test('non-canonical encodings are not shown as a transfer (dirty address bits, trailing bytes)', () => {
    const clean = erc20.encodeFunctionData('transfer', [ALICE, 10n]);
    const dirty = `${clean.slice(0, 10)}ff${clean.slice(12)}`;
    const trailing = `${clean}00`;
    for (const data of [dirty, trailing]) {
      const decoded = decodeCall(call(data));
      assert.equal(decoded.type, 'contract_call');
      assert.equal((decoded as { selector: string }).selector, '0xa9059cbb');
    }
  });

  test('contract calls decode with the supplied ABI; arguments are display-safe', () => {
    const abi = ['function post(string memo, uint256 amount, address[] to, (bool ok, bytes32 tag) meta)'];
    const iface = new Interface(abi);
    const memo = 'pay \u202Eevil\u202C\nnow';
    const data = iface.encodeFunctionData('post', [memo, 7n, [ALICE.toLowerCase()], [true, encodeBytes32String('x')]]);
    const decoded = decodeCall(call(data, 1n), abi);
    assert.equal(decoded.type, 'contract_call');
    if (decoded.type !== 'contract_call') return;
    assert.equal(decoded.value, '1');
    assert.equal(decoded.selector, data.slice(0, 10));
    assert.equal(decoded.function?.signature, 'post(string,uint256,address[],(bool,bytes32))');
    assert.deepEqual(decoded.function?.args, [
      { name: 'memo', type: 'string', value: 'pay evil now' },
      { name: 'amount', type: 'uint256', value: '7' },
      { name: 'to', type: 'address[]', value: [ALICE] },
      { name: 'meta', type: 'tuple(bool,bytes32)', value: { ok: true, tag: encodeBytes32String('x') } },
    ]);
  });

  test('unknown selector without ABI, and short data', () => {
    assert.deepEqual(decodeCall(call('0xdeadbeef00')), { type: 'contract_call', contract: TOKEN, value: '0', selector: '0xdeadbeef' });
    assert.deepEqual(decodeCall(call('0x01')), { type: 'contract_call', contract: TOKEN, value: '0', selector: '' });
    assert.equal((decodeCall(call('0xdeadbeef'), ['function other()']) as { function?: unknown }).function, undefined);
  });

  test('counterpartyOf: the recipient, not the token contract', () => {
    assert.equal(counterpartyOf(decodeCall(call(erc20.encodeFunctionData('transfer', [ALICE, 1n])))), ALICE);
    assert.equal(counterpartyOf(decodeCall(call(erc20.encodeFunctionData('approve', [BOB, 1n])))), BOB);
    assert.equal(counterpartyOf(decodeCall(call('0x', 1n, ALICE))), ALICE);
    assert.equal(counterpartyOf(decodeCall(call('0xdeadbeef'))), TOKEN);
  });
});

describe('batches', () => {
  const multicall = new Interface(['function multicall(bytes[] data)', 'function multicall(uint256 deadline, bytes[] data)']);
  const multicall3 = new Interface([
    'function aggregate((address target, bytes callData)[] calls)',
    'function aggregate3Value((address target, bool allowFailure, uint256 value, bytes callData)[] calls)',
  ]);
  const safe = new Interface([
    'function multiSend(bytes transactions)',
    'function execTransaction(address to, uint256 value, bytes data, uint8 operation, uint256 safeTxGas, uint256 baseGas, uint256 gasPrice, address gasToken, address refundReceiver, bytes signatures)',
  ]);
  const approveMax = erc20.encodeFunctionData('approve', [BOB, MaxUint256]);
  const pack = (items: [number, string, bigint, string][]) =>
    solidityPacked(
      items.flatMap(() => ['uint8', 'address', 'uint256', 'uint256', 'bytes']),
      items.flatMap(([op, to, value, data]) => [op, to, value, (data.length - 2) / 2, data]),
    );
  const grants = (decoded: DecodedCall) => allCalls(decoded).filter(grantsAllowance).length;

  test('multicall(bytes[]) and multicall(deadline, bytes[]): inner calls into the same contract, as the wallet', () => {
    for (const data of [multicall.encodeFunctionData('multicall(bytes[])', [[approveMax]]), multicall.encodeFunctionData('multicall(uint256,bytes[])', [9n, [approveMax]])]) {
      const decoded = decodeCall(call(data));
      assert.equal(decoded.type, 'batch');
      if (decoded.type !== 'batch') return;
      assert.equal(decoded.truncated, false);
      assert.deepEqual(decoded.calls, [
        { operation: 'call', sender: 'wallet', to: TOKEN, value: '0', decoded: { type: 'erc20_approve', token: TOKEN, spender: BOB, amount: MaxUint256.toString(), unlimited: true, value: '0' } },
      ]);
      assert.equal(grants(decoded), 1);
      assert.equal(counterpartyRole(decoded), 'contract');
    }
  });

  test('Multicall3: calls out as the batch contract, with their values', () => {
    const data = multicall3.encodeFunctionData('aggregate3Value', [[[TOKEN, false, 0n, approveMax], [ALICE, true, 5n, '0x']]]);
    const decoded = decodeCall(call(data, 5n, BOB));
    assert.equal(decoded.type === 'batch' && decoded.function.signature, 'aggregate3Value((address,bool,uint256,bytes)[])');
    if (decoded.type !== 'batch') return;
    assert.deepEqual(
      decoded.calls.map((c) => [c.sender, c.to, c.value, c.decoded.type]),
      [
        ['contract', TOKEN, '0', 'erc20_approve'],
        ['contract', ALICE, '5', 'native_transfer'],
      ],
    );
  });

  test('Safe multiSend (packed) and execTransaction, nested; delegatecalls are marked', () => {
    const inner = safe.encodeFunctionData('multiSend', [pack([[0, TOKEN, 0n, approveMax], [1, ALICE, 0n, '0xdeadbeef']])]);
    const exec = safe.encodeFunctionData('execTransaction', [BOB, 0n, inner, 1, 0n, 0n, 0n, ALICE, ALICE, '0x']);
    const decoded = decodeCall(call(exec, 0n, ALICE));
    assert.equal(decoded.type, 'batch');
    if (decoded.type !== 'batch') return;
    assert.equal(decoded.calls[0]?.operation, 'delegatecall');
    const nested = decoded.calls[0]!.decoded;
    assert.equal(nested.type, 'batch');
    if (nested.type !== 'batch') return;
    assert.deepEqual(
      nested.calls.map((c) => [c.operation, c.to, c.decoded.type]),
      [
        ['call', TOKEN, 'erc20_approve'],
        ['delegatecall', ALICE, 'contract_call'],
      ],
    );
    assert.equal(grants(decoded), 1, 'the approval two levels down is found');
  });

  test('a malformed multiSend is not half-shown', () => {
    const good = pack([[0, TOKEN, 0n, approveMax]]);
    assert.equal(parseMultiSend(`${good}00`), undefined, 'trailing byte');
    assert.equal(parseMultiSend(good.slice(0, -2)), undefined, 'short data');
    assert.equal(parseMultiSend(`0x02${good.slice(4)}`), undefined, 'operation 2');
    const decoded = decodeCall(call(safe.encodeFunctionData('multiSend', [`${good}00`])));
    assert.equal(decoded.type === 'batch' && decoded.truncated, true);
  });

  test('depth and count are bounded, and the batch says it was cut', () => {
    let data = approveMax;
    for (let i = 0; i < MAX_BATCH_DEPTH + 1; i++) data = multicall.encodeFunctionData('multicall(bytes[])', [[data]]);
    const deep = decodeCall(call(data));
    assert.equal(deep.type === 'batch' && deep.truncated, true);
    const many = decodeCall(call(multicall.encodeFunctionData('multicall(bytes[])', [Array(MAX_INNER_CALLS + 1).fill(approveMax)])));
    assert.equal(many.type === 'batch' && many.truncated, true);
    assert.equal(many.type === 'batch' && many.calls.length, MAX_INNER_CALLS);
  });

  test('the agent’s ABI decodes inner calls into the contract it describes, not other targets', () => {
    const abi = ['function poke(uint256 refundToYourOwnWallet)'];
    const poke = new Interface(abi).encodeFunctionData('poke', [1n]);
    const self = decodeCall(call(multicall.encodeFunctionData('multicall(bytes[])', [[poke]]), 0n, BOB), abi);
    assert.equal(self.type === 'batch' && self.calls[0]?.decoded.type === 'contract_call' && self.calls[0].decoded.function?.name, 'poke');
    const other = decodeCall(call(multicall3.encodeFunctionData('aggregate', [[[ALICE, poke]]]), 0n, BOB), abi);
    assert.equal(other.type === 'batch' && other.calls[0]?.decoded.type === 'contract_call' && other.calls[0].decoded.function, undefined);
  });
});

describe('token self-descriptions', () => {
  test('non-ASCII symbols, the native symbol, implausible or inconsistent decimals', () => {
    assert.deepEqual(confusableCodePoints('USDС'), ['U+0421']);
    assert.deepEqual(confusableCodePoints('ＵSDC'), ['U+FF35']);
    assert.deepEqual(confusableCodePoints('USDC.e'), []);
    assert.equal(impersonatesNative('eth', 'ETH'), true);
    assert.equal(impersonatesNative('ＥＴＨ', 'ETH'), true, 'fullwidth');
    assert.equal(impersonatesNative('WETH', 'ETH'), false);
    assert.deepEqual(tokenWarnings({ symbol: 'USDC', decimals: 6 }, 'ETH'), []);
    assert.deepEqual(tokenWarnings({ symbol: 'ETH', decimals: 37, inconsistentDecimals: true }, 'ETH'), ['symbol_impersonates_native', 'implausible_decimals', 'inconsistent_decimals']);
    assert.deepEqual(tokenWarnings({ symbol: 'USDС', decimals: 36 }, 'ETH'), ['confusable_symbol']);
  });
});

describe('display sanitising', () => {
  test('control, bidi, zero-width and separator characters are stripped; length capped in code points', () => {
    assert.equal(sanitizeDisplayText('US\u0000D\u202EC\u200B\u2066\u2028X', 50), 'USDC X');
    assert.equal(sanitizeDisplayText('a\tb\nc', 50), 'a b c');
    assert.equal(sanitizeDisplayText('😀'.repeat(20), 5), '😀😀😀😀…');
    assert.equal(sanitizeSymbol('X'.repeat(100)).length, 16);
    assert.equal(sanitizeSymbol('  \u202E  '), '');
    assert.equal(sanitizeDisplayText('U\uFE0FSDC\u3164', 50), 'USDC', 'variation selectors and Hangul fillers, as the web app strips them');
  });
});

describe('token metadata parsing', () => {
  const coder = AbiCoder.defaultAbiCoder();
  test('symbol as string or bytes32; hostile symbols sanitised', () => {
    assert.equal(parseSymbol(coder.encode(['string'], ['USDC'])), 'USDC');
    assert.equal(parseSymbol(encodeBytes32String('MKR')), 'MKR');
    assert.equal(parseSymbol(coder.encode(['string'], ['US\u202EDC\u0007'])), 'USDC');
    assert.equal(parseSymbol(coder.encode(['string'], ['A'.repeat(5000)])), `${'A'.repeat(15)}…`);
    assert.equal(parseSymbol(undefined), '');
    assert.equal(parseSymbol('0x'), '');
    assert.equal(parseSymbol('0x1234'), '');
  });

  test('decimals must fit a uint8', () => {
    assert.equal(parseDecimals(coder.encode(['uint8'], [6])), 6);
    assert.equal(parseDecimals(coder.encode(['uint256'], [256])), undefined);
    assert.equal(parseDecimals('0x'), undefined);
    assert.equal(parseDecimals(undefined), undefined);
  });
});

describe('fees and gas', () => {
  test('caps: base × multiplier + tip, with a tip floor', () => {
    assert.deepEqual(feeCapsFor({ baseFeePerGas: 10n, priorityFeePerGas: 2n }), { maxFeePerGas: 22n, maxPriorityFeePerGas: 2n });
    assert.deepEqual(feeCapsFor({ baseFeePerGas: 10n, priorityFeePerGas: 0n }, { baseFeeMultiplier: 3n, minPriorityFeePerGas: 5n }), {
      maxFeePerGas: 35n,
      maxPriorityFeePerGas: 5n,
    });
  });

  test('signing fees never exceed the approved caps; tip never above max fee', () => {
    const caps = { maxFeePerGas: 100n, maxPriorityFeePerGas: 10n };
    assert.deepEqual(feesWithinCaps({ maxFeePerGas: 150n, maxPriorityFeePerGas: 20n }, caps, 60n), { maxFeePerGas: 100n, maxPriorityFeePerGas: 10n, belowBaseFee: false });
    assert.deepEqual(feesWithinCaps({ maxFeePerGas: 50n, maxPriorityFeePerGas: 5n }, caps), { maxFeePerGas: 50n, maxPriorityFeePerGas: 5n, belowBaseFee: false });
    assert.deepEqual(feesWithinCaps({ maxFeePerGas: 300n, maxPriorityFeePerGas: 200n }, { maxFeePerGas: 8n, maxPriorityFeePerGas: 10n }, 20n), {
      maxFeePerGas: 8n,
      maxPriorityFeePerGas: 8n,
      belowBaseFee: true,
    });
  });

  test('gas margin rounds up and never exceeds the block gas limit', () => {
    assert.equal(withMargin(21000n, 20), 25200n);
    assert.equal(withMargin(1n, 20), 2n);
    assert.equal(withMargin(100n, 0), 100n);
    assert.equal(gasWithMargin(21000n, 20, 30_000_000n), 25200n);
    assert.equal(gasWithMargin(29_000_000n, 20, 30_000_000n), 30_000_000n);
    assert.equal(gasWithMargin(21000n, 20), 25200n);
  });
});

describe('warnings', () => {
  test('new_recipient is the caller’s verdict; order is stable', () => {
    assert.deepEqual(newRecipientWarnings(true), ['new_recipient']);
    assert.deepEqual(newRecipientWarnings(false), []);
    assert.deepEqual(withNewRecipient(['unknown_contract', 'would_revert'], true), ['would_revert', 'unknown_contract', 'new_recipient']);
    assert.deepEqual(sortWarnings(['unlimited_approval', 'would_revert', 'would_revert']), ['would_revert', 'unlimited_approval']);
  });
});

describe('revert reasons', () => {
  const coder = AbiCoder.defaultAbiCoder();
  test('custom errors with the ABI, selector without, node text as last resort; sanitised', () => {
    const iface = new Interface(['error NotAllowed(address caller, uint256 code)']);
    const data = iface.encodeErrorResult('NotAllowed', [ALICE, 7n]);
    assert.equal(revertReasonOf({ code: 'CALL_EXCEPTION', data }, iface), `NotAllowed(${ALICE}, 7)`);
    assert.equal(revertReasonOf({ code: 'CALL_EXCEPTION', data }), `custom error ${data.slice(0, 10)}`);
    assert.equal(revertReasonOf({ code: 'CALL_EXCEPTION', reason: 'no\u202Epe\n' }), 'nope');
    assert.equal(revertReasonOf({ info: { error: { code: -32000, message: 'out of gas' } } }), 'out of gas');
    assert.equal(revertReasonOf({}), 'execution reverted');
    const errorString = `0x08c379a0${coder.encode(['string'], ['boom']).slice(2)}`;
    assert.equal(revertReasonOf({ info: { error: { code: 3, message: 'execution reverted', data: errorString } }, reason: 'boom' }, iface), 'boom');
  });
});
