/**
 * Preparation before approval: simulate (eth_call), estimate gas, choose fee
 * caps, decode the call, read ERC-20 metadata and list warnings for the human.
 *
 * A revert is a result, not an error: the approver is told (`would_revert`)
 * and the gas limit falls back to a fixed cap. Only network failures throw (a
 * retryable ChainUnavailableError). A lying node can mislead this summary but
 * cannot change what is signed: the digest covers to/value/data/gas/fees.
 */
import type { Interface, JsonRpcProvider } from 'ethers';
import { counterpartyOf, decodeCall } from './decode';
import { classifyNodeError, throwIfNetwork, toChainError } from './errors';
import { suggestFees, type FeeOptions } from './fees';
import { checksumAddress, normalizeAddress, normalizeHexData } from './formats';
import { parseAbi, type Abi, type TxIntent } from './request';
import { revertReasonOf } from './revert';
import { readErc20Metadata } from './tokens';
import type { Address, Call, DecodedCall, TokenMetadata, Warning } from './types';

export interface PrepareInput {
  from: string;
  to: string;
  value: bigint;
  data: string;
  /** The agent's ABI: decodes the call and custom revert errors. */
  abi?: Abi;
  /** The kind the agent claimed; `erc20` on a target that is not an ERC-20 warns `unknown_contract`. */
  kind?: TxIntent['kind'];
}

export interface PrepareOptions extends FeeOptions {
  /** Added to estimateGas. Default 20. */
  gasMarginPercent?: number;
  /** Gas limit when estimation fails (the call would revert). Default 300 000. */
  revertGasLimit?: bigint;
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
  token?: TokenMetadata & { address: string };
  /** Who receives the value, tokens or permission (lowercase), for the caller's `new_recipient` check. */
  recipient: Address;
  warnings: Warning[];
}

export const DEFAULT_GAS_MARGIN_PERCENT = 20;
export const DEFAULT_REVERT_GAS_LIMIT = 300_000n;
export const MAX_RETURN_DATA_BYTES = 1024;

const WARNING_ORDER: readonly Warning[] = ['would_revert', 'insufficient_funds', 'unlimited_approval', 'unknown_contract', 'new_recipient'];

type PrepareProvider = Pick<JsonRpcProvider, 'call' | 'estimateGas' | 'getCode' | 'getBalance' | 'getBlock' | 'send'>;

export async function prepareCall(provider: PrepareProvider, input: PrepareInput, options: PrepareOptions = {}): Promise<PreparedCall> {
  const from = normalizeAddress(input.from, 'wallet_address');
  const call: Call = { to: normalizeAddress(input.to, 'to'), value: input.value, data: normalizeHexData(input.data, 'data') };
  const iface = input.abi === undefined ? undefined : parseAbi(input.abi);
  const tx = { from, to: call.to, value: call.value, data: call.data };

  const [simulation, estimate, fees, code, balance] = await Promise.all([
    simulateCall(provider, tx, iface),
    estimateGasOrFail(provider, tx),
    suggestFees(provider, options),
    provider.getCode(call.to).catch((err: unknown) => {
      throw toChainError(err, 'eth_getCode');
    }),
    provider.getBalance(from).catch((err: unknown) => {
      throw toChainError(err, 'eth_getBalance');
    }),
  ]);

  const gasLimit = estimate.ok
    ? gasWithMargin(estimate.gas, options.gasMarginPercent ?? DEFAULT_GAS_MARGIN_PERCENT, fees.blockGasLimit)
    : options.revertGasLimit ?? DEFAULT_REVERT_GAS_LIMIT;
  const decoded = decodeCall(call, input.abi);
  const claimsToken = input.kind === 'erc20' || decoded.type.startsWith('erc20_');
  const token = claimsToken && code !== '0x' ? await readErc20Metadata(provider, call.to) : undefined;

  const warnings = new Set<Warning>();
  if (simulation.failure === 'reverted' || (!estimate.ok && estimate.kind === 'reverted')) warnings.add('would_revert');
  if (simulation.failure === 'insufficient_funds' || balance < call.value + gasLimit * fees.maxFeePerGas) warnings.add('insufficient_funds');
  if ((decoded.type === 'erc20_approve' && decoded.unlimited) || (decoded.type === 'set_approval_for_all' && decoded.approved)) {
    warnings.add('unlimited_approval');
  }
  if ((call.data !== '0x' && code === '0x') || (input.kind === 'erc20' && token === undefined)) warnings.add('unknown_contract');

  return {
    call,
    gasLimit,
    maxFeePerGas: fees.maxFeePerGas,
    maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
    baseFeePerGas: fees.baseFeePerGas,
    simulation,
    decoded,
    ...(token ? { token: { address: checksumAddress(call.to), ...token } } : {}),
    recipient: counterpartyOf(decoded).toLowerCase() as Address,
    warnings: sortWarnings(warnings),
  };
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

export function sortWarnings(warnings: Iterable<Warning>): Warning[] {
  const set = new Set(warnings);
  return WARNING_ORDER.filter((warning) => set.has(warning));
}

/** `new_recipient` needs the database (has this wallet paid this address before?), so the caller decides. */
export function newRecipientWarnings(isNewRecipient: boolean): Warning[] {
  return isNewRecipient ? ['new_recipient'] : [];
}

/** Adds the caller's `new_recipient` verdict to the prepared warnings, keeping the order. */
export function withNewRecipient(warnings: readonly Warning[], isNewRecipient: boolean): Warning[] {
  return sortWarnings([...warnings, ...newRecipientWarnings(isNewRecipient)]);
}
