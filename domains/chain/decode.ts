/**
 * Decodes (to, value, data) for the approver. Pure.
 *
 * Well-known token calls (ERC-20 transfer / approve / transferFrom, and
 * setApprovalForAll) without ETH value are recognised by selector whatever the
 * agent called its request, because they are what an approver must notice. A decoding is used
 * only if re-encoding it gives back exactly the same bytes, so padding tricks
 * (dirty address bits, trailing bytes) cannot make the display lie.
 */
import { Interface, type FunctionFragment, type ParamType, type Result } from 'ethers';
import { sanitizeDisplayText, MAX_ARGUMENT_TEXT_LENGTH } from './display';
import { checksumAddress } from './formats';
import { parseAbi, type Abi } from './request';
import type { Call, DecodedArgument, DecodedCall, DisplayValue } from './types';

const KNOWN = new Interface([
  'function transfer(address to, uint256 amount)',
  'function approve(address spender, uint256 amount)',
  'function transferFrom(address from, address to, uint256 amount)',
  'function setApprovalForAll(address operator, bool approved)',
]);

/**
 * An approval at or above 2^96 - 1 is treated as unlimited: it covers
 * max uint256 and the uint96/uint128 "infinite" sentinels some tokens use, and
 * is beyond any real balance of an ordinary token.
 */
export const UNLIMITED_APPROVAL_THRESHOLD = (1n << 96n) - 1n;

export const isUnlimitedApproval = (amount: bigint): boolean => amount >= UNLIMITED_APPROVAL_THRESHOLD;

export function decodeCall(call: Call, abi?: Abi): DecodedCall {
  const value = call.value.toString();
  if (call.data === '0x') return { type: 'native_transfer', to: checksumAddress(call.to), value };
  // With ETH attached it is not a plain token operation: show it as a contract
  // call, whose summary shows the value, rather than a transfer that hides it.
  const known = call.value === 0n ? decodeExactly(KNOWN, call.data) : undefined;
  if (known) {
    const token = checksumAddress(call.to);
    const args = known.args;
    switch (known.name) {
      case 'transfer':
        return { type: 'erc20_transfer', token, to: checksumAddress(args[0]), amount: String(args[1]), value };
      case 'approve': {
        const amount = args[1] as bigint;
        return { type: 'erc20_approve', token, spender: checksumAddress(args[0]), amount: amount.toString(), unlimited: isUnlimitedApproval(amount), value };
      }
      case 'transferFrom':
        return { type: 'erc20_transfer_from', token, from: checksumAddress(args[0]), to: checksumAddress(args[1]), amount: String(args[2]), value };
      case 'setApprovalForAll':
        return { type: 'set_approval_for_all', contract: token, operator: checksumAddress(args[0]), approved: Boolean(args[1]), value };
    }
  }
  const selector = call.data.length >= 10 ? call.data.slice(0, 10) : '';
  const decoded: DecodedCall = { type: 'contract_call', contract: checksumAddress(call.to), value, selector };
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
      return decoded.spender;
    case 'set_approval_for_all':
      return decoded.operator;
    case 'contract_call':
      return decoded.contract;
  }
}
