/**
 * Preparation before approval: simulate (eth_call), estimate gas, choose fee
 * caps, decode the call, trace what it changes for the wallet (effects.ts),
 * read the metadata of every token it names and list warnings for the human.
 *
 * A revert is a result, not an error: the approver is told (`would_revert`)
 * and the gas limit falls back to a fixed cap. Only network failures throw (a
 * retryable ChainUnavailableError). A lying node can mislead this summary but
 * cannot change what is signed: the digest covers to/value/data/gas/fees.
 */
import type { Interface, JsonRpcProvider } from 'ethers';
import { isUnlimitedAmount, MAX_DISPLAY_DECIMALS } from './amounts';
import { allCalls, counterpartyOf, decodeCall, grantsAllowance, isUnlimitedGrant, tokensOf } from './decode';
import { confusableCodePoints, impersonatesNative } from './display';
import { traceCallEffects, type AllowanceChange, type AssetChange, type TraceMethod } from './effects';
import { classifyNodeError, throwIfNetwork, toChainError } from './errors';
import { suggestFees, type FeeOptions } from './fees';
import { checksumAddress, normalizeAddress, normalizeHexData } from './formats';
import { parseAbi, type Abi, type TxIntent } from './request';
import { revertReasonOf } from './revert';
import { readErc20Metadata, readTokenBalance } from './tokens';
import { sortWarnings } from './warnings';
import type { Address, Call, DecodedCall, TokenMetadata, Warning } from './types';

export interface PrepareInput {
  from: string;
  to: string;
  value: bigint;
  data: string;
  /** The agent's ABI: decodes the call and custom revert errors. */
  abi?: Abi;
  /** The kind the agent claimed; `erc20` on a target that is not an ERC-20 warns `unknown_contract` and `not_a_token`. */
  kind?: TxIntent['kind'];
  /** The chain's currency symbol: a token calling itself that is flagged. Default ETH. */
  nativeSymbol?: string;
}

export interface PrepareOptions extends FeeOptions {
  /** Added to estimateGas. Default 20. */
  gasMarginPercent?: number;
  /** Gas limit when estimation fails (the call would revert). Default 300 000. */
  revertGasLimit?: bigint;
  /** Trace methods to try, in order (tests pin one). Default eth_simulateV1, then debug_traceCall. */
  traceMethods?: readonly TraceMethod[];
}

/** A token the summary names, with its address (EIP-55). */
export type TokenInfo = TokenMetadata & { address: string };

/** A balance change with the wallet's balance before and after (gas not included); before/after absent when unreadable or for NFTs. */
export interface BalanceChange extends AssetChange {
  before?: bigint;
  after?: bigint;
}

/** What the trace says the call changes for the wallet; absent when the node cannot trace. */
export interface PreparedEffects {
  method: TraceMethod;
  /** False when the traced call failed (then nothing changes). */
  succeeded: boolean;
  incomplete: boolean;
  changes: BalanceChange[];
  allowances: AllowanceChange[];
}

export interface Simulation {
  ok: boolean;
  /** Why it failed: the call reverted, or the wallet cannot pay for it. */
  failure?: 'reverted' | 'insufficient_funds';
  /** Sanitised. */
  revertReason?: string;
  /** The call's return data, when successful and at most MAX_RETURN_DATA_BYTES. */
  returnData?: string;
}

export interface PreparedCall {
  /** The normalised call (lowercase). */
  call: Call;
  gasLimit: bigint;
  /** Caps for the digest: base × multiplier + tip. */
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
  /** The base fee when prepared (context for the summary; not approved). */
  baseFeePerGas: bigint;
  simulation: Simulation;
  decoded: DecodedCall;
  /** ERC-20 metadata of the target, when it is a token (address EIP-55). */
  token?: TokenInfo;
  /** Every token named by the call (outer and inner token calls) or its effects that answers like an ERC-20. */
  tokens: TokenInfo[];
  effects?: PreparedEffects;
  /** Who receives the value, tokens or permission (lowercase), for the caller's `new_recipient` check. */
  recipient: Address;
  warnings: Warning[];
}

/** Tokens whose metadata is read per request (outer, inner and traced together). */
export const MAX_TOKENS_READ = 24;

export const DEFAULT_GAS_MARGIN_PERCENT = 20;
export const DEFAULT_REVERT_GAS_LIMIT = 300_000n;
export const MAX_RETURN_DATA_BYTES = 1024;

type PrepareProvider = Pick<JsonRpcProvider, 'call' | 'estimateGas' | 'getCode' | 'getBalance' | 'getBlock' | 'send'>;

export async function prepareCall(provider: PrepareProvider, input: PrepareInput, options: PrepareOptions = {}): Promise<PreparedCall> {
  const from = normalizeAddress(input.from, 'wallet_address');
  const call: Call = { to: normalizeAddress(input.to, 'to'), value: input.value, data: normalizeHexData(input.data, 'data') };
  const iface = input.abi === undefined ? undefined : parseAbi(input.abi);
  const tx = { from, to: call.to, value: call.value, data: call.data };

  const [simulation, estimate, fees, code, balance, traced] = await Promise.all([
    simulateCall(provider, tx, iface),
    estimateGasOrFail(provider, tx),
    suggestFees(provider, options),
    provider.getCode(call.to).catch((err: unknown) => {
      throw toChainError(err, 'eth_getCode');
    }),
    provider.getBalance(from).catch((err: unknown) => {
      throw toChainError(err, 'eth_getBalance');
    }),
    traceCallEffects(provider, tx, options.traceMethods ? { methods: options.traceMethods } : {}),
  ]);

  const gasLimit = estimate.ok
    ? gasWithMargin(estimate.gas, options.gasMarginPercent ?? DEFAULT_GAS_MARGIN_PERCENT, fees.blockGasLimit)
    : options.revertGasLimit ?? DEFAULT_REVERT_GAS_LIMIT;
  const decoded = decodeCall(call, input.abi);
  const calls = allCalls(decoded);

  // Every token the approver will read about: the targets of token calls, and what the trace says moves.
  const named = tokensOf(decoded).map((address) => address.toLowerCase());
  if (input.kind === 'erc20') named.unshift(call.to);
  const traced20 = (traced?.changes ?? []).filter((c) => c.asset === 'erc20').map((c) => c.token!);
  const tracedAllowances = (traced?.allowances ?? []).filter((a) => a.kind === 'erc20').map((a) => a.token);
  const wanted = [...new Set([...named, ...traced20, ...tracedAllowances])];
  const addresses = wanted.slice(0, MAX_TOKENS_READ);
  const read = await Promise.all(addresses.map(async (address) => [address, code === '0x' && address === call.to ? undefined : await readErc20Metadata(provider, address, { from })] as const));
  const metadata = new Map(read);
  const tokens: TokenInfo[] = read.flatMap(([address, meta]) => (meta ? [{ address: checksumAddress(address), ...meta }] : []));
  const token = tokens.find((t) => t.address.toLowerCase() === call.to);

  const warnings = new Set<Warning>();
  if (simulation.failure === 'reverted' || (!estimate.ok && estimate.kind === 'reverted')) warnings.add('would_revert');
  if (simulation.failure === 'insufficient_funds' || balance < call.value + gasLimit * fees.maxFeePerGas) warnings.add('insufficient_funds');
  for (const inner of calls) {
    // Whatever ETH value the call carries and however deep in a batch it sits.
    if (grantsAllowance(inner)) warnings.add('allowance_granted');
    if (isUnlimitedGrant(inner)) warnings.add('unlimited_approval');
    if (inner.type === 'batch' && inner.truncated) warnings.add('batch_truncated');
    if (inner.type === 'batch' && inner.calls.some((c) => c.operation === 'delegatecall')) warnings.add('delegatecall_in_batch');
  }
  for (const granted of traced?.allowances ?? []) {
    if (granted.kind === 'erc721_all' ? granted.approved : granted.kind === 'erc721' || (granted.amount ?? 0n) > 0n) warnings.add('allowance_granted');
    if ((granted.kind === 'erc20' && isUnlimitedAmount(granted.amount)) || (granted.kind === 'erc721_all' && granted.approved)) warnings.add('unlimited_approval');
  }
  if ((call.data !== '0x' && code === '0x') || (input.kind === 'erc20' && token === undefined)) warnings.add('unknown_contract');
  if (named.some((address) => metadata.has(address) && metadata.get(address) === undefined)) warnings.add('not_a_token');
  for (const info of tokens) for (const warning of tokenWarnings(info, input.nativeSymbol ?? 'ETH')) warnings.add(warning);
  // A wallet that cannot pay makes the node refuse to trace too: insufficient_funds already says why nothing is shown.
  if (!traced && simulation.failure !== 'insufficient_funds') warnings.add('balance_changes_unavailable');
  if (traced && (traced.incomplete || wanted.length > MAX_TOKENS_READ)) warnings.add('balance_changes_incomplete');

  return {
    call,
    gasLimit,
    maxFeePerGas: fees.maxFeePerGas,
    maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
    baseFeePerGas: fees.baseFeePerGas,
    simulation,
    decoded,
    ...(token ? { token } : {}),
    tokens,
    ...(traced ? { effects: { ...traced, changes: await withBalances(provider, from, balance, traced.changes) } } : {}),
    recipient: counterpartyOf(decoded).toLowerCase() as Address,
    warnings: sortWarnings(warnings),
  };
}

/** What is wrong with a token's own description of itself. */
export function tokenWarnings(token: TokenMetadata, nativeSymbol: string): Warning[] {
  const warnings: Warning[] = [];
  if (confusableCodePoints(token.symbol).length > 0) warnings.push('confusable_symbol');
  if (impersonatesNative(token.symbol, nativeSymbol)) warnings.push('symbol_impersonates_native');
  if (token.decimals > MAX_DISPLAY_DECIMALS) warnings.push('implausible_decimals');
  if (token.inconsistentDecimals) warnings.push('inconsistent_decimals');
  return warnings;
}

/** The wallet's balance before (read now) and after (before + delta) each fungible change. */
async function withBalances(provider: Pick<JsonRpcProvider, 'call'>, wallet: string, nativeBefore: bigint, changes: AssetChange[]): Promise<BalanceChange[]> {
  return Promise.all(
    changes.map(async (change): Promise<BalanceChange> => {
      if (change.asset === 'erc721') return change;
      const before = change.asset === 'native' ? nativeBefore : await readTokenBalance(provider, change.token!, wallet);
      return before === undefined ? change : { ...change, before, after: before + change.delta };
    }),
  );
}

interface SimTx {
  from: string;
  to: string;
  value: bigint;
  data: string;
}

/** eth_call from the wallet at the latest block. */
export async function simulateCall(provider: Pick<JsonRpcProvider, 'call'>, tx: SimTx, iface?: Interface): Promise<Simulation> {
  try {
    const result = await provider.call(tx);
    const bytes = (result.length - 2) / 2;
    return bytes <= MAX_RETURN_DATA_BYTES ? { ok: true, returnData: result.toLowerCase() } : { ok: true };
  } catch (err) {
    const kind = throwIfNetwork(err, 'simulating the call (eth_call)');
    if (kind === 'insufficient_funds') return { ok: false, failure: 'insufficient_funds', revertReason: 'insufficient funds for value and gas' };
    return { ok: false, failure: 'reverted', revertReason: revertReasonOf(err, iface) };
  }
}

type Estimate = { ok: true; gas: bigint } | { ok: false; kind: ReturnType<typeof classifyNodeError> };

async function estimateGasOrFail(provider: Pick<JsonRpcProvider, 'estimateGas'>, tx: SimTx): Promise<Estimate> {
  try {
    return { ok: true, gas: await provider.estimateGas(tx) };
  } catch (err) {
    return { ok: false, kind: throwIfNetwork(err, 'estimating gas') };
  }
}

/** Pure: the estimate plus margin, but never above the block gas limit (the margin must not make it unminable). */
export function gasWithMargin(estimate: bigint, percent: number, blockGasLimit?: bigint): bigint {
  const padded = withMargin(estimate, percent);
  if (blockGasLimit === undefined || padded <= blockGasLimit) return padded;
  return estimate > blockGasLimit ? estimate : blockGasLimit;
}

/** Pure: gas × (100 + percent) / 100, rounded up. */
export function withMargin(gas: bigint, percent: number): bigint {
  const scaled = gas * BigInt(100 + Math.max(0, Math.round(percent)));
  return (scaled + 99n) / 100n;
}

export { sortWarnings };

/** `new_recipient` needs the database (has this wallet paid this address before?), so the caller decides. */
export function newRecipientWarnings(isNewRecipient: boolean): Warning[] {
  return isNewRecipient ? ['new_recipient'] : [];
}

/** Adds the caller's `new_recipient` verdict to the prepared warnings, keeping the order. */
export function withNewRecipient(warnings: readonly Warning[], isNewRecipient: boolean): Warning[] {
  return sortWarnings([...warnings, ...newRecipientWarnings(isNewRecipient)]);
}
