import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Interface } from 'ethers';
import { buildCall, type TxIntent } from '../../domains/chain/request';
import { InvalidIntentError } from '../../domains/chain/errors';
import {
  checksumAddress,
  isAmount,
  MAX_CALLDATA_BYTES,
  normalizeAddress,
  normalizeHexData,
  parseAmount,
  parseValue,
} from '../../domains/chain/formats';

const ALICE = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';

/** Asserts an InvalidIntentError with this field and exact message. */
function rejects(fn: () => unknown, field: string, message: string | RegExp) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidIntentError, `expected InvalidIntentError, got ${String(err)}`);
    assert.equal(err.field, field);
    assert.equal(err.code, 'invalid_intent');
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  });
}

describe('formats', () => {
  test('amounts: positive base-unit decimal strings up to 77 digits', () => {
    for (const ok of ['1', '10', '1000000000000000000', '9'.repeat(77)]) assert.equal(parseAmount(ok, 'amount'), BigInt(ok));
    for (const bad of ['0', '01', '-1', '1.5', '1e18', ' 1', '1 ', '', '9'.repeat(78), '0x10', 1, 1n, null, undefined]) {
      assert.equal(isAmount(bad), false, String(bad));
      rejects(() => parseAmount(bad, 'amount'), 'amount', 'amount must be a positive integer in base units (a decimal string without sign, point or leading zeros)');
    }
  });

  test('values may be zero or absent', () => {
    assert.equal(parseValue(undefined, 'value'), 0n);
    assert.equal(parseValue('0', 'value'), 0n);
    assert.equal(parseValue('42', 'value'), 42n);
    rejects(() => parseValue('00', 'value'), 'value', 'value must be a non-negative integer in base units (a decimal string)');
    rejects(() => parseValue(5, 'value'), 'value', /non-negative integer/);
  });

  test('addresses: any case accepted (no checksum rejection), stored lowercase, shown EIP-55', () => {
    const badChecksum = '0x70997970c51812dc3a010c7d01b50e0d17dc79C8';
    assert.equal(normalizeAddress(badChecksum, 'to_address'), ALICE.toLowerCase());
    assert.equal(normalizeAddress(ALICE.toUpperCase().replace('0X', '0x'), 'to_address'), ALICE.toLowerCase());
    assert.equal(checksumAddress(ALICE.toLowerCase()), ALICE);
    for (const bad of ['0x123', ALICE.slice(2), `${ALICE}00`, '0xZZ997970C51812dc3A010C7d01b50e0d17dc79C8', 42]) {
      rejects(() => normalizeAddress(bad, 'to_address'), 'to_address', 'to_address must be a 0x-prefixed 20-byte hex address');
    }
  });

  test('hex data: even-length hex, lowercased, bounded', () => {
    assert.equal(normalizeHexData('0xABcd', 'data'), '0xabcd');
    assert.equal(normalizeHexData('0x', 'data'), '0x');
    rejects(() => normalizeHexData('0xabc', 'data'), 'data', 'data must be 0x-prefixed hex with an even number of digits');
    rejects(() => normalizeHexData('abcd', 'data'), 'data', /0x-prefixed/);
    rejects(() => normalizeHexData(`0x${'00'.repeat(MAX_CALLDATA_BYTES + 1)}`, 'data'), 'data', `data exceeds ${MAX_CALLDATA_BYTES} bytes`);
  });
});

describe('buildCall', () => {
  test('native transfer', () => {
    assert.deepEqual(buildCall({ kind: 'native', to: ALICE, amount: '1000' }), { to: ALICE.toLowerCase(), value: 1000n, data: '0x' });
  });

  test('ERC-20 transfer targets the token and encodes transfer(to, amount)', () => {
    const call = buildCall({ kind: 'erc20', token: TOKEN, to: ALICE, amount: '5000000' });
    assert.equal(call.to, TOKEN.toLowerCase());
    assert.equal(call.value, 0n);
    assert.equal(
      call.data,
      '0xa9059cbb00000000000000000000000070997970c51812dc3a010c7d01b50e0d17dc79c800000000000000000000000000000000000000000000000000000000004c4b40',
    );
  });

  test('contract creation is refused', () => {
    rejects(() => buildCall({ kind: 'native', to: '', amount: '1' }), 'to_address', 'to_address is required: contract creation is not supported');
    rejects(() => buildCall({ kind: 'contract_call', contract: undefined as unknown as string, data: '0x6080' }), 'contract_address', /contract creation is not supported/);
    rejects(() => buildCall({ kind: 'erc20', token: null as unknown as string, to: ALICE, amount: '1' }), 'token_address', /contract creation/);
  });

  test('contract call with raw data', () => {
    const call = buildCall({ kind: 'contract_call', contract: TOKEN, data: '0xDEADBEEF', value: '7' });
    assert.deepEqual(call, { to: TOKEN.toLowerCase(), value: 7n, data: '0xdeadbeef' });
  });

  const ABI = [
    'function store(uint256 value) payable',
    'function setFlag(bool flag)',
    'function pay(address to, uint256 amount)',
    'function pay(address to, uint256 amount, string memo)',
    'function take(uint8 small)',
    'function batch(address[2] targets, bytes data)',
    'function order((address maker, uint256 amount) order)',
  ];
  const iface = new Interface(ABI);

  test('contract call from ABI + function name + args (JSON values)', () => {
    const call = buildCall({ kind: 'contract_call', contract: TOKEN, abi: ABI, functionName: 'store', args: ['42'], value: '1' });
    assert.equal(call.data, iface.encodeFunctionData('store', [42n]));
    assert.equal(call.value, 1n);
    const fromNumber = buildCall({ kind: 'contract_call', contract: TOKEN, abi: ABI, functionName: 'store', args: [42] });
    assert.equal(fromNumber.data, call.data);
  });

  test('JSON ABI (as agents send it) works too', () => {
    const json = JSON.parse(iface.formatJson()) as unknown[];
    const call = buildCall({ kind: 'contract_call', contract: TOKEN, abi: json, functionName: 'setFlag', args: [true] });
    assert.equal(call.data, iface.encodeFunctionData('setFlag', [true]));
  });

  test('strict argument coercion: "false" is false, addresses in any case, tuples by name', () => {
    const f = buildCall({ kind: 'contract_call', contract: TOKEN, abi: ABI, functionName: 'setFlag', args: ['false'] });
    assert.equal(f.data, iface.encodeFunctionData('setFlag', [false]));
    rejects(() => buildCall({ kind: 'contract_call', contract: TOKEN, abi: ABI, functionName: 'setFlag', args: ['yes'] }), 'function_args', 'function_args[0] (flag) must be true or false for type bool');
    const badChecksum = '0x70997970c51812dc3a010c7d01b50e0d17dc79C8';
    const pay = buildCall({ kind: 'contract_call', contract: TOKEN, abi: ABI, functionName: 'pay', args: [badChecksum, '3'] });
    assert.equal(pay.data, iface.encodeFunctionData('pay(address,uint256)', [ALICE, 3n]));
    const order = buildCall({ kind: 'contract_call', contract: TOKEN, abi: ABI, functionName: 'order', args: [{ maker: ALICE, amount: '9' }] });
    assert.equal(order.data, iface.encodeFunctionData('order', [[ALICE, 9n]]));
  });

  test('overloads: chosen by argument count or full signature; ambiguity explained', () => {
    const two = buildCall({ kind: 'contract_call', contract: TOKEN, abi: ABI, functionName: 'pay', args: [ALICE, '1'] });
    assert.equal(two.data.slice(0, 10), iface.getFunction('pay(address,uint256)')!.selector);
    const three = buildCall({ kind: 'contract_call', contract: TOKEN, abi: ABI, functionName: 'pay(address,uint256,string)', args: [ALICE, '1', 'hi'] });
    assert.equal(three.data.slice(0, 10), iface.getFunction('pay(address,uint256,string)')!.selector);
    rejects(
      () => buildCall({ kind: 'contract_call', contract: TOKEN, abi: ABI, functionName: 'pay', args: [ALICE] }),
      'function_name',
      'function "pay" is overloaded; give the full signature, one of: pay(address,uint256), pay(address,uint256,string)',
    );
  });

  test('functions not in the ABI and argument mismatches are 400s with clear messages', () => {
    rejects(() => buildCall({ kind: 'contract_call', contract: TOKEN, abi: ABI, functionName: 'withdraw', args: [] }), 'function_name', 'function "withdraw" is not in the ABI');
    rejects(() => buildCall({ kind: 'contract_call', contract: TOKEN, abi: ABI, functionName: 'store', args: [] }), 'function_args', 'store(uint256) expects 1 argument(s), got 0');
    rejects(() => buildCall({ kind: 'contract_call', contract: TOKEN, abi: ABI, functionName: 'store', args: ['1.5'] }), 'function_args', 'function_args[0] (value) must be an integer (a decimal string, or a safe JSON number) for type uint256');
    rejects(() => buildCall({ kind: 'contract_call', contract: TOKEN, abi: ABI, functionName: 'take', args: ['256'] }), 'function_args', 'function_args[0] (small) is not a valid uint8: value out-of-bounds');
    rejects(() => buildCall({ kind: 'contract_call', contract: TOKEN, abi: ABI, functionName: 'pay', args: ['0x12', '1'] }), 'function_args', 'function_args[0] (to) must be a 0x-prefixed 20-byte hex address for type address');
    rejects(() => buildCall({ kind: 'contract_call', contract: TOKEN, abi: ABI, functionName: 'batch', args: [[ALICE], '0x'] }), 'function_args', 'function_args[0] (targets) must be an array of exactly 2 items for type address[2]');
    rejects(() => buildCall({ kind: 'contract_call', contract: TOKEN, abi: ABI, functionName: 'order', args: [{ maker: ALICE, amount: '1', extra: 1 }] }), 'function_args', /only the keys maker, amount/);
    rejects(() => buildCall({ kind: 'contract_call', contract: TOKEN, abi: ABI, functionName: 'store', args: [Number.MAX_SAFE_INTEGER + 2] }), 'function_args', /must be an integer/);
  });

  test('value on a non-payable function is refused', () => {
    rejects(() => buildCall({ kind: 'contract_call', contract: TOKEN, abi: ABI, functionName: 'setFlag', args: [true], value: '1' }), 'value', 'setFlag(bool) is not payable, so value must be 0');
  });

  test('invalid ABIs and mixed forms are refused', () => {
    rejects(() => buildCall({ kind: 'contract_call', contract: TOKEN, abi: [{ type: 'function', name: 'x', inputs: [{ type: 'uint999' }] }], functionName: 'x', args: [1] }), 'contract_abi', /contract_abi is not a valid ABI/);
    rejects(() => buildCall({ kind: 'contract_call', contract: TOKEN, abi: 'not json', functionName: 'x', args: [] }), 'contract_abi', /not a valid ABI/);
    const mixed = { kind: 'contract_call', contract: TOKEN, data: '0x', abi: ABI, functionName: 'store', args: ['1'] } as unknown as TxIntent;
    rejects(() => buildCall(mixed), 'data', 'give either data or contract_abi + function_name + function_args, not both');
    const neither = { kind: 'contract_call', contract: TOKEN } as unknown as TxIntent;
    rejects(() => buildCall(neither), 'data', 'a contract call needs data, or contract_abi + function_name + function_args');
    rejects(() => buildCall({ kind: 'transfer' } as unknown as TxIntent), 'kind', 'kind must be one of native, erc20, contract_call');
  });

  test('ERC-20 amounts and recipients are validated', () => {
    rejects(() => buildCall({ kind: 'erc20', token: TOKEN, to: ALICE, amount: '0' }), 'amount', /positive integer/);
    rejects(() => buildCall({ kind: 'erc20', token: TOKEN, to: 'bob', amount: '1' }), 'to_address', /20-byte hex address/);
  });
});
