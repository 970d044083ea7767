/**
 * From an agent's intent to the call that will be signed: target, value, data.
 *
 * Errors are InvalidIntentError (a 400). Their `field` and messages use the
 * API's field names (`to_address`, `function_args`, …) because the agent reads them.
 * Only calls with a target are built: contract creation is never signed.
 */
import { AbiCoder, Fragment, Interface, type FunctionFragment, type InterfaceAbi, type JsonFragment, type ParamType } from 'ethers';
import { InvalidIntentError } from './errors';
import {
  ADDRESS_PATTERN,
  HEX_DATA_PATTERN,
  normalizeAddress,
  normalizeHexData,
  parseAmount,
  parseValue,
} from './formats';
import type { Call, Hex } from './types';

/** An ABI as agents send it: a JSON array (parsed or as text), or human-readable fragments. Validated by parseAbi. */
export type Abi = InterfaceAbi | readonly unknown[];

export interface NativeIntent {
  kind: 'native';
  to: string;
  amount: string;
}

export interface Erc20Intent {
  kind: 'erc20';
  token: string;
  to: string;
  amount: string;
}

/** Raw calldata; an ABI, when given, is used only to decode it for the approver. */
export interface RawCallIntent {
  kind: 'contract_call';
  contract: string;
  data: string;
  value?: string;
  abi?: Abi;
  functionName?: never;
  args?: never;
}

export interface AbiCallIntent {
  kind: 'contract_call';
  contract: string;
  abi: Abi;
  /** A name, or a full signature such as `transfer(address,uint256)` for overloads. */
  functionName: string;
  args: readonly unknown[];
  value?: string;
  data?: never;
}

export type ContractCallIntent = RawCallIntent | AbiCallIntent;
export type TxIntent = NativeIntent | Erc20Intent | ContractCallIntent;

const ERC20 = new Interface(['function transfer(address to, uint256 amount) returns (bool)']);
const MAX_ARGUMENT_DEPTH = 8;

/** Builds the call for an intent. Throws InvalidIntentError for anything that cannot be signed. */
export function buildCall(intent: TxIntent): Call {
  switch (intent.kind) {
    case 'native':
      return { to: requireTarget(intent.to, 'to_address'), value: parseAmount(intent.amount, 'amount'), data: '0x' };
    case 'erc20': {
      const token = requireTarget(intent.token, 'token_address');
      const recipient = normalizeAddress(intent.to, 'to_address');
      const amount = parseAmount(intent.amount, 'amount');
      return { to: token, value: 0n, data: ERC20.encodeFunctionData('transfer', [recipient, amount]) as Hex };
    }
    case 'contract_call':
      return buildContractCall(intent);
    default:
      throw new InvalidIntentError('kind', 'kind must be one of native, erc20, contract_call');
  }
}

function requireTarget(value: unknown, field: string) {
  // No `to` means contract creation, which Countersign never signs.
  if (value === undefined || value === null || value === '') {
    throw new InvalidIntentError(field, `${field} is required: contract creation is not supported`);
  }
  return normalizeAddress(value, field);
}

function buildContractCall(intent: ContractCallIntent): Call {
  const to = requireTarget(intent.contract, 'contract_address');
  const value = parseValue(intent.value, 'value');
  const hasData = intent.data !== undefined;
  const hasFunction = intent.functionName !== undefined || intent.args !== undefined;
  if (hasData && hasFunction) {
    throw new InvalidIntentError('data', 'give either data or contract_abi + function_name + function_args, not both');
  }
  if (hasData) {
    if (intent.abi !== undefined) parseAbi(intent.abi);
    return { to, value, data: normalizeHexData(intent.data, 'data') };
  }
  if (intent.abi === undefined || intent.functionName === undefined) {
    throw new InvalidIntentError('data', 'a contract call needs data, or contract_abi + function_name + function_args');
  }
  const iface = parseAbi(intent.abi);
  const args = intent.args ?? [];
  if (!Array.isArray(args)) throw new InvalidIntentError('function_args', 'function_args must be an array');
  const fragment = findFunction(iface, intent.functionName, args.length);
  if (value > 0n && !fragment.payable) {
    throw new InvalidIntentError('value', `${fragment.format('sighash')} is not payable, so value must be 0`);
  }
  const coerced = fragment.inputs.map((param, i) => encodableArgument(param, args[i], i));
  return { to, value, data: iface.encodeFunctionData(fragment, coerced).toLowerCase() as Hex };
}

export const MAX_ABI_FRAGMENTS = 500;

/**
 * Parses an ABI (a JSON array, its JSON text, or human-readable fragments).
 * Fragment by fragment: ethers' Interface silently skips an invalid fragment
 * (and prints it to the console), which would turn a typo into "not in the ABI".
 */
export function parseAbi(abi: Abi): Interface {
  const invalid = (why: string) => new InvalidIntentError('contract_abi', `contract_abi is not a valid ABI: ${why}`);
  let items: unknown;
  if (typeof abi === 'string') {
    try {
      items = JSON.parse(abi);
    } catch {
      throw invalid('not JSON');
    }
  } else items = abi;
  if (!Array.isArray(items)) throw invalid('expected an array of fragments');
  if (items.length > MAX_ABI_FRAGMENTS) throw invalid(`more than ${MAX_ABI_FRAGMENTS} fragments`);
  const fragments = items.map((item, i) => {
    try {
      return Fragment.from(item as JsonFragment | string);
    } catch (err) {
      throw invalid(`fragment ${i}: ${shortMessage(err)}`);
    }
  });
  try {
    return new Interface(fragments);
  } catch (err) {
    throw invalid(shortMessage(err));
  }
}

/** Finds the function by name or full signature; overloads are told apart by argument count. */
export function findFunction(iface: Interface, functionName: string, argCount: number): FunctionFragment {
  if (typeof functionName !== 'string' || functionName.length === 0) {
    throw new InvalidIntentError('function_name', 'function_name is required');
  }
  const wanted = functionName.replace(/\s+/g, '');
  const functions: FunctionFragment[] = [];
  iface.forEachFunction((fragment) => functions.push(fragment));
  const bySignature = functions.find((fragment) => fragment.format('sighash') === wanted);
  if (bySignature) return checkArity(bySignature, argCount);
  const named = functions.filter((fragment) => fragment.name === wanted);
  if (named.length === 0) {
    throw new InvalidIntentError('function_name', `function "${clip(functionName)}" is not in the ABI`);
  }
  if (named.length === 1) return checkArity(named[0]!, argCount);
  const byArity = named.filter((fragment) => fragment.inputs.length === argCount);
  if (byArity.length === 1) return byArity[0]!;
  const signatures = named.map((fragment) => fragment.format('sighash')).sort().join(', ');
  throw new InvalidIntentError('function_name', `function "${clip(functionName)}" is overloaded; give the full signature, one of: ${signatures}`);
}

function checkArity(fragment: FunctionFragment, argCount: number): FunctionFragment {
  if (fragment.inputs.length !== argCount) {
    throw new InvalidIntentError(
      'function_args',
      `${fragment.format('sighash')} expects ${fragment.inputs.length} argument(s), got ${argCount}`,
    );
  }
  return fragment;
}

function encodableArgument(param: ParamType, value: unknown, index: number): unknown {
  const label = `function_args[${index}]${param.name ? ` (${param.name})` : ''}`;
  const coerced = coerceArgument(param, value, label, 0);
  try {
    AbiCoder.defaultAbiCoder().encode([param], [coerced]);
  } catch (err) {
    throw new InvalidIntentError('function_args', `${label} is not a valid ${param.type}: ${shortMessage(err)}`);
  }
  return coerced;
}

const INTEGER = /^-?(0|[1-9][0-9]{0,77})$|^0x[0-9a-fA-F]{1,64}$/;

/**
 * JSON arguments → values ethers encodes as meant. Strict where ethers is lax:
 * "false" is not true, mixed-case addresses are not checksum-checked
 * (docs/http-contract.md), integers arrive as decimal strings or safe numbers.
 */
function coerceArgument(param: ParamType, value: unknown, label: string, depth: number): unknown {
  const fail = (expected: string): never => {
    throw new InvalidIntentError('function_args', `${label} must be ${expected} for type ${param.type}`);
  };
  if (depth > MAX_ARGUMENT_DEPTH) fail('less deeply nested');
  if (param.isArray()) {
    if (!Array.isArray(value)) return fail('an array');
    const items = value as unknown[];
    if (param.arrayLength >= 0 && items.length !== param.arrayLength) fail(`an array of exactly ${param.arrayLength} items`);
    return items.map((item, i) => coerceArgument(param.arrayChildren, item, `${label}[${i}]`, depth + 1));
  }
  if (param.isTuple()) {
    const components = param.components;
    if (Array.isArray(value)) {
      if (value.length !== components.length) fail(`a tuple of ${components.length} items`);
      return components.map((component, i) => coerceArgument(component, value[i], `${label}[${i}]`, depth + 1));
    }
    if (typeof value !== 'object' || value === null) return fail('an array or an object');
    const record = value as Record<string, unknown>;
    const names = components.map((component) => component.name);
    if (names.some((name) => !name)) fail('an array (the tuple has unnamed components)');
    const unknown = Object.keys(record).filter((key) => !names.includes(key));
    if (unknown.length > 0) fail(`an object with only the keys ${names.join(', ')}`);
    return components.map((component) =>
      coerceArgument(component, record[component.name], `${label}.${component.name}`, depth + 1),
    );
  }
  const base = param.baseType;
  if (base === 'address') {
    if (typeof value !== 'string' || !ADDRESS_PATTERN.test(value)) fail('a 0x-prefixed 20-byte hex address');
    return (value as string).toLowerCase();
  }
  if (base === 'bool') {
    if (value === true || value === 'true') return true;
    if (value === false || value === 'false') return false;
    return fail('true or false');
  }
  if (base.startsWith('uint') || base.startsWith('int')) {
    if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
    if (typeof value === 'string' && INTEGER.test(value)) return BigInt(value);
    return fail('an integer (a decimal string, or a safe JSON number)');
  }
  if (base === 'string') {
    if (typeof value !== 'string') fail('a string');
    return value;
  }
  if (base.startsWith('bytes')) {
    if (typeof value !== 'string' || !HEX_DATA_PATTERN.test(value)) fail('0x-prefixed hex with an even number of digits');
    return value;
  }
  return fail('a supported ABI type');
}

function shortMessage(err: unknown): string {
  const obj = err as { shortMessage?: unknown; message?: unknown } | null;
  const text = typeof obj?.shortMessage === 'string' ? obj.shortMessage : typeof obj?.message === 'string' ? obj.message : 'invalid';
  return clip(text.split(' (')[0] ?? text);
}

function clip(text: string, max = 120): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
