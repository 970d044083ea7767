/**
 * The human summary shown to the approver. It is derived from the bytes that
 * will be signed (`to`, `value`, decoded `data`) and a trace of them, never
 * from the agent's own description; token symbols are hostile text and arrive
 * already sanitised.
 *
 * Every amount goes through domains/chain/amounts.ts, which the web app uses
 * too: the title quotes `amount_formatted` verbatim, and the card formats
 * `amount` with the same function, so they cannot disagree. Every amount
 * carries its base units beside the formatted text.
 */
import { getAddress } from 'ethers';
import {
  confusableCodePoints,
  formatAmount,
  formatAmountChange,
  impersonatesNative,
  isBlockingWarning,
  isUnlimitedAmount,
  MAX_DISPLAY_DECIMALS,
  sortWarnings,
  warningLabel,
  type AllowanceChange,
  type AmountSpec,
  type BalanceChange,
  type DecodedCall,
  type DisplayValue,
  type InnerCall,
  type PreparedEffects,
  type TokenInfo,
} from '../chain';
import type { Summary } from './schemas';

export interface SummaryInput {
  decoded: DecodedCall;
  /** The target's ERC-20 metadata, when it is a token. */
  token?: TokenInfo | undefined;
  /** Every token named by the call or its effects (defaults to `token`). */
  tokens?: TokenInfo[] | undefined;
  simulation: { ok: boolean; revertReason?: string | undefined };
  effects?: PreparedEffects | undefined;
  warnings: string[];
  gasLimit: bigint;
  maxFeePerGas: bigint;
  nativeSymbol: string;
}

type Described = Pick<Summary, 'title' | 'recipient' | 'recipient_role' | 'amount' | 'amount_formatted' | 'decoded_call'>;
type Param = Summary['decoded_call'] extends infer D ? (D extends { params: (infer P)[] } ? P : never) : never;
type CallRow = Summary['calls'][number];

export function buildSummary(input: SummaryInput): Summary {
  const tokens = new Map<string, TokenInfo>();
  for (const info of [...(input.tokens ?? []), ...(input.token ? [input.token] : [])]) tokens.set(info.address.toLowerCase(), info);
  const ctx: Context = { tokens, nativeSymbol: input.nativeSymbol };
  const described = describe(input.decoded, ctx);
  const value = BigInt(input.decoded.value);
  const warnings = sortWarnings(input.warnings);
  return {
    ...described,
    value_formatted: value > 0n ? formatAmount(native(value.toString(), ctx)) : null,
    token: input.token ? { address: getAddress(input.token.address), symbol: input.token.symbol, decimals: input.token.decimals } : null,
    calls: input.decoded.type === 'batch' ? innerRows(input.decoded.calls, input.decoded.contract, '', 1, ctx) : [],
    simulation: { ok: input.simulation.ok, revert_reason: input.simulation.revertReason ?? null, trace: input.effects?.method ?? null },
    balance_changes: (input.effects?.changes ?? []).map((change) => balanceRow(change, ctx)),
    allowances: (input.effects?.allowances ?? []).map((granted) => allowanceRow(granted, ctx)),
    warnings,
    warning_details: warnings.map((code) => ({ code, blocking: isBlockingWarning(code), message: warningMessage(code, ctx) })),
    fee_cap_wei: (input.gasLimit * input.maxFeePerGas).toString(),
  };
}

interface Context {
  tokens: Map<string, TokenInfo>;
  nativeSymbol: string;
}

const native = (raw: string, ctx: Context): AmountSpec => ({ raw, unit: 'native', symbol: ctx.nativeSymbol, decimals: 18, unlimited: false });

/** The unit of an amount of `token`: trusted decimals, untrusted (base units), or not a token at all. */
function tokenAmount(token: string, raw: string, ctx: Context, unlimited = false): AmountSpec {
  const info = ctx.tokens.get(token.toLowerCase());
  if (!info) return { raw, unit: 'not_a_token', symbol: null, decimals: null, unlimited };
  const trusted = info.decimals <= MAX_DISPLAY_DECIMALS && !info.inconsistentDecimals;
  return { raw, unit: 'token', symbol: info.symbol, decimals: trusted ? info.decimals : null, unlimited };
}

/** How a title names a token contract, so a token is never mistaken for the native currency. */
function tokenRef(token: string, ctx: Context): string {
  return ctx.tokens.has(token.toLowerCase()) ? `ERC-20 ${token}` : `${token} is not a token`;
}

function withValue(title: string, value: string, ctx: Context): string {
  return BigInt(value) > 0n ? `${title}, sending ${formatAmount(native(value, ctx))}` : title;
}

const canonical = (name: string, type: string, value: string): Param => ({ name, type, value, name_verified: true });

function knownCall(signature: string, params: Param[]): Summary['decoded_call'] {
  return { function: signature, source: 'known', args: params.map((p) => `${p.name}: ${p.value}`), params };
}

function describe(decoded: DecodedCall, ctx: Context): Described {
  switch (decoded.type) {
    case 'native_transfer': {
      const amount = native(decoded.value, ctx);
      const text = formatAmount(amount);
      return { title: `Send ${text} to ${decoded.to}`, recipient: decoded.to, recipient_role: 'recipient', amount, amount_formatted: text, decoded_call: null };
    }
    case 'erc20_transfer': {
      const amount = tokenAmount(decoded.token, decoded.amount, ctx);
      const text = formatAmount(amount);
      return {
        title: withValue(`Send ${text} (${tokenRef(decoded.token, ctx)}) to ${decoded.to}`, decoded.value, ctx),
        recipient: decoded.to,
        recipient_role: 'recipient',
        amount,
        amount_formatted: text,
        decoded_call: knownCall('transfer(address,uint256)', [canonical('to', 'address', decoded.to), canonical('amount', 'uint256', decoded.amount)]),
      };
    }
    case 'erc20_transfer_from': {
      const amount = tokenAmount(decoded.token, decoded.amount, ctx);
      const text = formatAmount(amount);
      return {
        title: withValue(`Move ${text} (${tokenRef(decoded.token, ctx)}) from ${decoded.from} to ${decoded.to}`, decoded.value, ctx),
        recipient: decoded.to,
        recipient_role: 'recipient',
        amount,
        amount_formatted: text,
        decoded_call: knownCall('transferFrom(address,address,uint256)', [
          canonical('from', 'address', decoded.from),
          canonical('to', 'address', decoded.to),
          canonical('amount', 'uint256', decoded.amount),
        ]),
      };
    }
    case 'erc20_approve': {
      const amount = tokenAmount(decoded.token, decoded.amount, ctx, decoded.unlimited);
      const text = formatAmount(amount);
      const revokes = BigInt(decoded.amount) === 0n ? ' (revokes the allowance)' : '';
      return {
        title: withValue(`Allow ${decoded.spender} to spend ${text}${revokes} (${tokenRef(decoded.token, ctx)})`, decoded.value, ctx),
        recipient: decoded.spender,
        recipient_role: 'spender',
        amount,
        amount_formatted: text,
        decoded_call: knownCall('approve(address,uint256)', [canonical('spender', 'address', decoded.spender), canonical('amount', 'uint256', decoded.amount)]),
      };
    }
    case 'erc20_increase_allowance': {
      const amount = tokenAmount(decoded.token, decoded.amount, ctx, decoded.unlimited);
      const text = formatAmount(amount);
      return {
        title: withValue(`Allow ${decoded.spender} to spend ${text} more (${tokenRef(decoded.token, ctx)})`, decoded.value, ctx),
        recipient: decoded.spender,
        recipient_role: 'spender',
        amount,
        amount_formatted: text,
        decoded_call: knownCall('increaseAllowance(address,uint256)', [
          canonical('spender', 'address', decoded.spender),
          canonical('addedValue', 'uint256', decoded.amount),
        ]),
      };
    }
    case 'erc20_permit': {
      const amount = tokenAmount(decoded.token, decoded.amount, ctx, decoded.unlimited);
      const text = formatAmount(amount);
      return {
        title: withValue(`Permit ${decoded.spender} to spend ${text} of ${decoded.owner} (${tokenRef(decoded.token, ctx)}), ${deadlineText(decoded.deadline)}`, decoded.value, ctx),
        recipient: decoded.spender,
        recipient_role: 'spender',
        amount,
        amount_formatted: text,
        decoded_call: knownCall(decoded.signature, [
          canonical('owner', 'address', decoded.owner),
          canonical('spender', 'address', decoded.spender),
          canonical('value', 'uint256', decoded.amount),
          canonical('deadline', 'uint256', decoded.deadline),
        ]),
      };
    }
    case 'set_approval_for_all':
      return {
        title: withValue(`${decoded.approved ? 'Allow' : 'Stop allowing'} ${decoded.operator} to move every token of ${decoded.contract}`, decoded.value, ctx),
        recipient: decoded.operator,
        recipient_role: 'operator',
        amount: null,
        amount_formatted: null,
        decoded_call: knownCall('setApprovalForAll(address,bool)', [canonical('operator', 'address', decoded.operator), canonical('approved', 'bool', String(decoded.approved))]),
      };
    case 'batch': {
      const amount = BigInt(decoded.value) > 0n ? native(decoded.value, ctx) : null;
      const shown = decoded.truncated ? ', not all of them decoded' : '';
      return {
        title: withValue(`Run ${decoded.calls.length} calls${shown} through ${decoded.function.signature} on ${decoded.contract}`, decoded.value, ctx),
        recipient: decoded.contract,
        recipient_role: 'contract',
        amount,
        amount_formatted: amount ? formatAmount(amount) : null,
        decoded_call: { function: decoded.function.signature, source: 'known', args: [`${decoded.calls.length} calls, listed in calls`], params: [] },
      };
    }
    case 'contract_call': {
      const fn = decoded.function;
      const amount = BigInt(decoded.value) > 0n ? native(decoded.value, ctx) : null;
      const name = fn ? `${fn.signature} (names from the agent's ABI, unverified)` : decoded.selector ? `unknown function ${decoded.selector}` : 'no function (plain call)';
      const params: Param[] = fn ? fn.args.map((arg) => ({ name: arg.name, type: arg.type, value: displayText(arg.value), name_verified: false })) : [];
      return {
        title: withValue(`Call ${name} on ${decoded.contract}`, decoded.value, ctx),
        recipient: decoded.contract,
        recipient_role: 'contract',
        amount,
        amount_formatted: amount ? formatAmount(amount) : null,
        decoded_call: fn ? { function: fn.signature, source: 'agent_abi', args: params.map(agentArgText), params } : null,
      };
    }
  }
}

/** An argument named by the agent: type and value first, the name only as the agent's claim. */
function agentArgText(param: Param, index: number): string {
  const name = param.name ? ` — named "${param.name}" by the agent, unverified` : '';
  return `arg${index + 1} (${param.type}): ${param.value}${name}`;
}

function innerRows(calls: InnerCall[], batchContract: string, prefix: string, depth: number, ctx: Context): CallRow[] {
  return calls.flatMap((inner, i) => {
    const index = `${prefix}${i + 1}`;
    const described = describe(inner.decoded, ctx);
    const who = inner.operation === 'delegatecall' ? `Delegatecall (${inner.to}'s code runs as ${batchContract}): ` : inner.sender === 'contract' ? `As ${batchContract}: ` : '';
    const row: CallRow = {
      index,
      depth,
      to: inner.to,
      value: inner.value,
      operation: inner.operation,
      sender: inner.sender,
      title: `${who}${described.title}`,
      amount: described.amount,
      amount_formatted: described.amount_formatted,
      decoded_call: described.decoded_call,
    };
    const nested = inner.decoded.type === 'batch' ? innerRows(inner.decoded.calls, inner.decoded.contract, `${index}.`, depth + 1, ctx) : [];
    return [row, ...nested];
  });
}

function deadlineText(deadline: string): string {
  const seconds = BigInt(deadline);
  if (seconds === 0n) return 'with deadline 0 (none, for DAI-style permits)';
  if (seconds > 253402300799n) return `with deadline ${deadline} (never, in practice)`;
  return `until ${new Date(Number(seconds) * 1000).toISOString()}`;
}

function balanceRow(change: BalanceChange, ctx: Context): Summary['balance_changes'][number] {
  const token = change.token ? getAddress(change.token) : null;
  if (change.asset === 'erc721') {
    const sign = change.delta > 0n ? '+' : '';
    return {
      asset: 'erc721',
      token,
      token_id: change.tokenId!.toString(),
      symbol: null,
      decimals: null,
      delta: change.delta.toString(),
      before: null,
      after: null,
      delta_formatted: `${sign}${change.delta} NFT (#${change.tokenId} of ${token})`,
      before_formatted: null,
      after_formatted: null,
    };
  }
  const spec = (raw: bigint) => (change.asset === 'native' ? native(raw.toString(), ctx) : tokenAmount(token!, raw.toString(), ctx));
  const delta = spec(change.delta);
  return {
    asset: change.asset,
    token,
    token_id: null,
    symbol: delta.symbol,
    decimals: delta.decimals,
    delta: change.delta.toString(),
    before: change.before?.toString() ?? null,
    after: change.after?.toString() ?? null,
    delta_formatted: formatAmountChange(delta),
    before_formatted: change.before === undefined ? null : formatAmount(spec(change.before)),
    after_formatted: change.after === undefined ? null : formatAmount(spec(change.after)),
  };
}

function allowanceRow(granted: AllowanceChange, ctx: Context): Summary['allowances'][number] {
  const token = getAddress(granted.token);
  const spender = getAddress(granted.spender);
  if (granted.kind === 'erc20') {
    const amount = granted.amount ?? 0n;
    const spec = tokenAmount(token, amount.toString(), ctx, isUnlimitedAmount(amount));
    return { kind: 'erc20', token, spender, symbol: spec.symbol, amount: amount.toString(), token_id: null, unlimited: spec.unlimited, amount_formatted: formatAmount(spec) };
  }
  if (granted.kind === 'erc721') {
    return { kind: 'erc721', token, spender, symbol: null, amount: null, token_id: granted.tokenId!.toString(), unlimited: false, amount_formatted: `NFT #${granted.tokenId} of ${token}` };
  }
  return {
    kind: 'erc721_all',
    token,
    spender,
    symbol: null,
    amount: null,
    token_id: null,
    unlimited: granted.approved === true,
    amount_formatted: granted.approved ? `every NFT of ${token}` : `no NFT of ${token} (revoked)`,
  };
}

/** The label, plus which token it is about when a token caused it. */
function warningMessage(code: string, ctx: Context): string {
  const label = warningLabel(code) ?? code;
  const about = (matches: (info: TokenInfo) => string | undefined) => {
    const parts = [...ctx.tokens.values()].flatMap((info) => {
      const detail = matches(info);
      return detail === undefined ? [] : [detail];
    });
    return parts.length > 0 ? `${label}: ${parts.join('; ')}` : label;
  };
  switch (code) {
    case 'confusable_symbol':
      return about((info) => {
        const points = confusableCodePoints(info.symbol);
        return points.length > 0 ? `"${info.symbol}" of ${info.address} contains ${points.slice(0, 6).join(', ')}` : undefined;
      });
    case 'symbol_impersonates_native':
      return about((info) => (impersonatesNative(info.symbol, ctx.nativeSymbol) ? `${info.address} calls itself "${info.symbol}"` : undefined));
    case 'implausible_decimals':
      return about((info) => (info.decimals > MAX_DISPLAY_DECIMALS ? `${info.address} claims ${info.decimals} decimals` : undefined));
    case 'inconsistent_decimals':
      return about((info) => (info.inconsistentDecimals ? `${info.address}` : undefined));
    default:
      return label;
  }
}

function displayText(value: DisplayValue): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(displayText).join(', ')}]`;
  return `{${Object.entries(value)
    .map(([k, v]) => `${k}: ${displayText(v)}`)
    .join(', ')}}`;
}
