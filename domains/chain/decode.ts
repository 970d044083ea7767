/**
 * Decodes (to, value, data) for the approver. Pure.
 *
 * Well-known calls are recognised by selector whatever the agent called its
 * request and whatever ETH value they carry, with canonical parameter names:
 * the token calls an approver must notice (transfer, approve,
 * increaseAllowance, permit, transferFrom, setApprovalForAll) and the batch
 * calls that hide other calls (multicall variants, Multicall3, Safe multiSend
 * and execTransaction), whose inner calls are decoded the same way, to a
 * bounded depth and count. Only an unknown selector is decoded with the
 * agent's ABI, and its names are the agent's (the summary says unverified).
 *
 * A decoding is used only if re-encoding it gives back exactly the same
 * bytes, so padding tricks (dirty address bits, trailing bytes) cannot make
 * the display lie.
 */
import { getBytes, hexlify, Interface, type FunctionFragment, type ParamType, type Result } from 'ethers';
import { isUnlimitedAmount, UNLIMITED_APPROVAL_THRESHOLD } from './amounts';
import { sanitizeDisplayText, MAX_ARGUMENT_TEXT_LENGTH } from './display';
import { checksumAddress } from './formats';
import { parseAbi, type Abi } from './request';
import type { Call, DecodedArgument, DecodedCall, DisplayValue } from './types';

export { UNLIMITED_APPROVAL_THRESHOLD };
export const isUnlimitedApproval = (amount: bigint): boolean => isUnlimitedAmount(amount);

const TOKEN_CALLS = new Interface([
  'function transfer(address to, uint256 amount)',
  'function approve(address spender, uint256 amount)',
  'function transferFrom(address from, address to, uint256 amount)',
  'function setApprovalForAll(address operator, bool approved)',
  'function increaseAllowance(address spender, uint256 addedValue)',
  // EIP-2612
  'function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)',
  // DAI's older permit: all or nothing
  'function permit(address holder, address spender, uint256 nonce, uint256 expiry, bool allowed, uint8 v, bytes32 r, bytes32 s)',
]);

const BATCH_CALLS = new Interface([
  // Uniswap periphery, OpenZeppelin Multicall: delegatecalls into the contract itself.
  'function multicall(bytes[] data)',
  'function multicall(uint256 deadline, bytes[] data)',
  'function multicall(bytes32 previousBlockhash, bytes[] data)',
  // MakerDAO Multicall / Multicall2 / Multicall3: calls out as the multicall contract.
  'function aggregate((address target, bytes callData)[] calls)',
  'function blockAndAggregate((address target, bytes callData)[] calls)',
  'function tryAggregate(bool requireSuccess, (address target, bytes callData)[] calls)',
  'function tryBlockAndAggregate(bool requireSuccess, (address target, bytes callData)[] calls)',
  'function aggregate3((address target, bool allowFailure, bytes callData)[] calls)',
  'function aggregate3Value((address target, bool allowFailure, uint256 value, bytes callData)[] calls)',
  // Safe
  'function multiSend(bytes transactions)',
  'function execTransaction(address to, uint256 value, bytes data, uint8 operation, uint256 safeTxGas, uint256 baseGas, uint256 gasPrice, address gasToken, address refundReceiver, bytes signatures)',
]);

/** Batches inside batches are decoded this deep (the outer call is depth 0). */
export const MAX_BATCH_DEPTH = 3;
/** Inner calls decoded per request, all levels together. */
export const MAX_INNER_CALLS = 32;

interface Budget {
  remaining: number;
}

export function decodeCall(call: Call, abi?: Abi): DecodedCall {
  return decodeAt({ to: call.to, value: call.value, data: call.data }, abi, 0, { remaining: MAX_INNER_CALLS });
}

interface RawCall {
  to: string;
  value: bigint;
  data: string;
}

function decodeAt(call: RawCall, abi: Abi | undefined, depth: number, budget: Budget): DecodedCall {
  const value = call.value.toString();
  const target = checksumAddress(call.to);
  if (call.data === '0x') return { type: 'native_transfer', to: target, value };
  const token = decodeExactly(TOKEN_CALLS, call.data);
  if (token) return tokenCall(token, target, value);
  const selector = call.data.length >= 10 ? call.data.slice(0, 10).toLowerCase() : '';
  const batch = decodeExactly(BATCH_CALLS, call.data);
  if (batch) {
    const decoded: DecodedCall = {
      type: 'batch',
      contract: target,
      value,
      selector,
      function: { name: batch.name, signature: batch.signature },
      calls: [],
      truncated: false,
    };
    // Past the depth limit a batch is named but not opened: the approver is told it was not shown in full.
    const inner = depth >= MAX_BATCH_DEPTH ? undefined : innerCallsOf(batch, target);
    if (inner === undefined) decoded.truncated = true;
    for (const item of inner ?? []) {
      if (budget.remaining <= 0) {
        decoded.truncated = true;
        break;
      }
      budget.remaining -= 1;
      // The agent's ABI describes the contract it called, so it applies to calls into that contract only.
      const innerAbi = item.to.toLowerCase() === call.to.toLowerCase() ? abi : undefined;
      const innerDecoded = decodeAt(item, innerAbi, depth + 1, budget);
      if (innerDecoded.type === 'batch' && innerDecoded.truncated) decoded.truncated = true;
      decoded.calls.push({ operation: item.operation, sender: item.sender, to: checksumAddress(item.to), value: item.value.toString(), decoded: innerDecoded });
    }
    return decoded;
  }
  const decoded: DecodedCall = { type: 'contract_call', contract: target, value, selector };
  const iface = abi === undefined ? undefined : tryInterface(abi);
  const fn = iface ? decodeExactly(iface, call.data) : undefined;
  if (fn) {
    decoded.function = {
      name: sanitizeDisplayText(fn.name, 100),
      signature: sanitizeDisplayText(fn.signature, 300),
      args: fn.fragment.inputs.map((param, i) => describeArgument(param, fn.args[i])),
    };
  }
  return decoded;
}

function tokenCall(known: ExactDecoding, token: string, value: string): DecodedCall {
  const args = known.args;
  switch (known.signature) {
    case 'transfer(address,uint256)':
      return { type: 'erc20_transfer', token, to: checksumAddress(args[0]), amount: String(args[1]), value };
    case 'approve(address,uint256)': {
      const amount = args[1] as bigint;
      return { type: 'erc20_approve', token, spender: checksumAddress(args[0]), amount: amount.toString(), unlimited: isUnlimitedApproval(amount), value };
    }
    case 'increaseAllowance(address,uint256)': {
      const amount = args[1] as bigint;
      return { type: 'erc20_increase_allowance', token, spender: checksumAddress(args[0]), amount: amount.toString(), unlimited: isUnlimitedApproval(amount), value };
    }
    case 'permit(address,address,uint256,uint256,uint8,bytes32,bytes32)': {
      const amount = args[2] as bigint;
      return {
        type: 'erc20_permit',
        signature: known.signature,
        token,
        owner: checksumAddress(args[0]),
        spender: checksumAddress(args[1]),
        amount: amount.toString(),
        unlimited: isUnlimitedApproval(amount),
        deadline: String(args[3]),
        value,
      };
    }
    case 'permit(address,address,uint256,uint256,bool,uint8,bytes32,bytes32)': {
      // DAI: `allowed` grants max uint256 or revokes.
      const allowed = Boolean(args[4]);
      const amount = allowed ? (1n << 256n) - 1n : 0n;
      return { type: 'erc20_permit', signature: known.signature, token, owner: checksumAddress(args[0]), spender: checksumAddress(args[1]), amount: amount.toString(), unlimited: allowed, deadline: String(args[3]), value };
    }
    case 'transferFrom(address,address,uint256)':
      return { type: 'erc20_transfer_from', token, from: checksumAddress(args[0]), to: checksumAddress(args[1]), amount: String(args[2]), value };
    default: // setApprovalForAll(address,bool)
      return { type: 'set_approval_for_all', contract: token, operator: checksumAddress(args[0]), approved: Boolean(args[1]), value };
  }
}

interface BatchItem extends RawCall {
  operation: 'call' | 'delegatecall';
  sender: 'wallet' | 'contract';
}

/** The calls a batch makes; undefined when its payload cannot be read exactly (a malformed multiSend). */
function innerCallsOf(batch: ExactDecoding, self: string): BatchItem[] | undefined {
  const args = batch.args;
  const asCalls = (items: ArrayLike<unknown>, read: (item: Result) => { to: string; value: bigint; data: string }) =>
    Array.from(items as ArrayLike<Result>, (item) => ({ ...read(item), operation: 'call' as const, sender: 'contract' as const }));
  switch (batch.name) {
    case 'multicall': {
      const data = (batch.signature === 'multicall(bytes[])' ? args[0] : args[1]) as ArrayLike<string>;
      return Array.from(data, (bytes) => ({ to: self, value: 0n, data: String(bytes).toLowerCase(), operation: 'call' as const, sender: 'wallet' as const }));
    }
    case 'aggregate':
    case 'blockAndAggregate':
      return asCalls(args[0] as ArrayLike<unknown>, (item) => ({ to: String(item[0]), value: 0n, data: String(item[1]).toLowerCase() }));
    case 'tryAggregate':
    case 'tryBlockAndAggregate':
      return asCalls(args[1] as ArrayLike<unknown>, (item) => ({ to: String(item[0]), value: 0n, data: String(item[1]).toLowerCase() }));
    case 'aggregate3':
      return asCalls(args[0] as ArrayLike<unknown>, (item) => ({ to: String(item[0]), value: 0n, data: String(item[2]).toLowerCase() }));
    case 'aggregate3Value':
      return asCalls(args[0] as ArrayLike<unknown>, (item) => ({ to: String(item[0]), value: item[2] as bigint, data: String(item[3]).toLowerCase() }));
    case 'multiSend':
      return parseMultiSend(String(args[0]));
    default: {
      // execTransaction: one call (or delegatecall) made by the Safe.
      const operation = Number(args[3]);
      if (operation !== 0 && operation !== 1) return undefined;
      return [{ to: String(args[0]), value: args[1] as bigint, data: String(args[2]).toLowerCase(), operation: operation === 1 ? 'delegatecall' : 'call', sender: 'contract' }];
    }
  }
}

/**
 * Safe's packed MultiSend encoding: per call, operation (1 byte: 0 call, 1
 * delegatecall), to (20), value (32), data length (32), data. Anything that
 * does not parse to the last byte is refused rather than half-shown.
 */
export function parseMultiSend(packed: string): BatchItem[] | undefined {
  const bytes = getBytes(packed);
  const items: BatchItem[] = [];
  let at = 0;
  const word = (start: number) => BigInt(hexlify(bytes.subarray(start, start + 32)));
  while (at < bytes.length) {
    if (at + 85 > bytes.length) return undefined;
    const operation = bytes[at]!;
    if (operation > 1) return undefined;
    const to = hexlify(bytes.subarray(at + 1, at + 21));
    const value = word(at + 21);
    const length = word(at + 53);
    const start = at + 85;
    if (length > BigInt(bytes.length - start)) return undefined;
    const end = start + Number(length);
    items.push({ to, value, data: hexlify(bytes.subarray(start, end)), operation: operation === 1 ? 'delegatecall' : 'call', sender: 'contract' });
    at = end;
  }
  return items;
}

interface ExactDecoding {
  name: string;
  signature: string;
  args: Result;
  fragment: FunctionFragment;
}

function decodeExactly(iface: Interface, data: string): ExactDecoding | undefined {
  try {
    const parsed = iface.parseTransaction({ data });
    if (!parsed) return undefined;
    const reencoded = iface.encodeFunctionData(parsed.fragment, parsed.args);
    if (reencoded.toLowerCase() !== data.toLowerCase()) return undefined;
    return { name: parsed.name, signature: parsed.signature, args: parsed.args, fragment: parsed.fragment };
  } catch {
    return undefined;
  }
}

function tryInterface(abi: Abi): Interface | undefined {
  try {
    return parseAbi(abi);
  } catch {
    return undefined;
  }
}

function describeArgument(param: ParamType, value: unknown): DecodedArgument {
  return {
    name: sanitizeDisplayText(param.name, 100),
    type: sanitizeDisplayText(param.type, 100),
    value: displayValue(param, value),
  };
}

/** JSON-safe, sanitised display form of a decoded ABI value. */
export function displayValue(param: ParamType, value: unknown): DisplayValue {
  if (param.isArray()) {
    return Array.from(value as ArrayLike<unknown>, (item) => displayValue(param.arrayChildren, item));
  }
  if (param.isTuple()) {
    const items = Array.from(value as ArrayLike<unknown>);
    const named = param.components.every((component) => component.name);
    if (!named) return param.components.map((component, i) => displayValue(component, items[i]));
    const out: Record<string, DisplayValue> = {};
    param.components.forEach((component, i) => {
      out[sanitizeDisplayText(component.name, 100)] = displayValue(component, items[i]);
    });
    return out;
  }
  if (param.baseType === 'address') return checksumAddress(String(value));
  if (param.baseType === 'bool') return Boolean(value);
  if (param.baseType === 'string') return sanitizeDisplayText(String(value), MAX_ARGUMENT_TEXT_LENGTH);
  // integers (bigint) and bytes (hex) print as they are.
  return String(value);
}

/**
 * Whom the money or the permission goes to: the address a "new recipient"
 * check should look at (the transfer's recipient, not the token contract).
 */
export function counterpartyOf(decoded: DecodedCall): string {
  switch (decoded.type) {
    case 'native_transfer':
    case 'erc20_transfer':
    case 'erc20_transfer_from':
      return decoded.to;
    case 'erc20_approve':
    case 'erc20_increase_allowance':
    case 'erc20_permit':
      return decoded.spender;
    case 'set_approval_for_all':
      return decoded.operator;
    case 'batch':
    case 'contract_call':
      return decoded.contract;
  }
}

/** What the counterparty is to the wallet, for the label beside it ("Spender", not "Recipient"). */
export function counterpartyRole(decoded: DecodedCall): 'recipient' | 'spender' | 'operator' | 'contract' {
  switch (decoded.type) {
    case 'native_transfer':
    case 'erc20_transfer':
    case 'erc20_transfer_from':
      return 'recipient';
    case 'erc20_approve':
    case 'erc20_increase_allowance':
    case 'erc20_permit':
      return 'spender';
    case 'set_approval_for_all':
      return 'operator';
    case 'batch':
    case 'contract_call':
      return 'contract';
  }
}

/** Every decoded call, the outer one first, depth-first through batches. */
export function allCalls(decoded: DecodedCall): DecodedCall[] {
  if (decoded.type !== 'batch') return [decoded];
  return [decoded, ...decoded.calls.flatMap((inner) => allCalls(inner.decoded))];
}

/** Token addresses a decoded call operates on (ERC-20 calls, outer and inner), EIP-55, deduplicated. */
export function tokensOf(decoded: DecodedCall): string[] {
  const tokens = allCalls(decoded).flatMap((call) => ('token' in call ? [call.token] : []));
  return [...new Set(tokens)];
}

/** Does this call (or one inside it) let someone spend the wallet's tokens? */
export function grantsAllowance(call: DecodedCall): boolean {
  switch (call.type) {
    case 'erc20_approve':
    case 'erc20_increase_allowance':
    case 'erc20_permit':
      return BigInt(call.amount) > 0n;
    case 'set_approval_for_all':
      return call.approved;
    default:
      return false;
  }
}

export function isUnlimitedGrant(call: DecodedCall): boolean {
  switch (call.type) {
    case 'erc20_approve':
    case 'erc20_increase_allowance':
    case 'erc20_permit':
      return call.unlimited;
    case 'set_approval_for_all':
      return call.approved;
    default:
      return false;
  }
}
