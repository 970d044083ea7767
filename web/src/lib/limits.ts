/**
 * Limits (the owner's policies) as a person reads them: the server's own
 * sentences for rules (domains/policies/describe.ts), amounts through the one
 * formatter (domains/chain/amounts.ts), labels always beside an address,
 * never instead of it.
 */
import { describeRule, type DescribableRule } from '../../../domains/policies/describe';
import { windowText } from '../../../domains/policies/windows';
import { chainName, formatBaseUnits, formatUnits, nativeSymbol } from './format';
import { cleanText } from './sanitize';
import type { LabelEntry, LimitNote, Rule, Transaction } from './types';

export { isValidLabel, MAX_LABEL_LENGTH } from '../../../domains/policies/labels';
export { WINDOW_PATTERN } from '../../../domains/policies/windows';

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const lower = (value: string) => value.toLowerCase();

/** address (lowercase) → label. */
export function labelMap(entries: readonly LabelEntry[] | null | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const entry of entries ?? []) {
    if (entry && typeof entry.address === 'string' && ADDRESS.test(entry.address) && typeof entry.label === 'string') map.set(lower(entry.address), cleanText(entry.label, 64));
  }
  return map;
}

/** "Alice (0x7099…79C8)" — the label never stands alone. */
export function addressWithLabel(address: string, labels: ReadonlyMap<string, string>): string {
  const label = labels.get(lower(address));
  const shown = ADDRESS.test(address) ? `${address.slice(0, 6)}…${address.slice(-4)}` : cleanText(address, 64);
  return label ? `${label} (${shown})` : shown;
}

/** An amount of an asset: native in the chain's currency; a token with the decimals the card knows, else base units. */
export function assetAmountText(asset: string, units: string, options: { chainId?: unknown; labels?: ReadonlyMap<string, string>; token?: { address?: string | null; symbol?: string | null; decimals?: number | null } | null } = {}): string {
  if (asset === 'native') {
    const formatted = formatUnits(units, 18);
    return formatted === null ? `${cleanText(units, 80)} wei` : `${formatted} ${nativeSymbol(options.chainId)}`;
  }
  const token = options.token;
  if (token && typeof token.address === 'string' && lower(token.address) === lower(asset)) {
    const formatted = formatUnits(units, token.decimals);
    const symbol = cleanText(token.symbol, 16) || 'tokens';
    if (formatted !== null) return `${formatted} ${symbol}`;
  }
  return `${formatBaseUnits(units) ?? cleanText(units, 80)} base units of ${addressWithLabel(asset, options.labels ?? new Map())}`;
}

/** The Limits page's sentence for a rule. */
export function ruleText(rule: Rule, context: { chainId?: unknown; labels: ReadonlyMap<string, string>; agents: ReadonlyMap<string, string> }): string {
  return describeRule(rule as DescribableRule, {
    amount: (asset, units) => assetAmountText(asset, units, context),
    address: (address) => addressWithLabel(address, context.labels),
    agent: (agentId) => cleanText(context.agents.get(lower(agentId)), 60) || 'an agent',
    chain: (chainId) => chainName(chainId),
  });
}

/** On an approval card: "0.5 of 1 ETH in the last 24 hours, this request’s 0.3 ETH included" or "0.3 ETH of at most 1 ETH per transaction". */
export function limitNoteText(note: LimitNote, tx: Transaction, labels: ReadonlyMap<string, string>): string | null {
  if (!note || typeof note.amount !== 'string' || typeof note.limit !== 'string' || typeof note.asset !== 'string') return null;
  const options = { chainId: tx.chain_id, labels, token: tx.summary?.token ?? null };
  const limit = assetAmountText(note.asset, note.limit, options);
  const amount = assetAmountText(note.asset, note.amount, options);
  if (note.type === 'rolling_limit' && typeof note.used === 'string' && typeof note.window === 'string') {
    let window = 'window';
    try {
      window = windowText(note.window);
    } catch {
      /* an unknown window reads as "window" */
    }
    return `${usedOf(note.used, note.asset, options)} of ${limit} in the last ${window}, this request’s ${amount} included`;
  }
  if (note.type === 'max_per_transaction') return `${amount} of at most ${limit} per transaction`;
  return null;
}

/** The used amount without repeating the unit when the limit names it ("0.5" of "1 ETH"). */
function usedOf(used: string, asset: string, options: Parameters<typeof assetAmountText>[2]): string {
  const text = assetAmountText(asset, used, options);
  const unit = assetAmountText(asset, '0', options).replace(/^0\s*/, '');
  return unit && text.endsWith(` ${unit}`) ? text.slice(0, -unit.length - 1) : text;
}

/** used / limit as a fraction 0…1 for a <meter> (display only). */
export function fraction(used: string | null | undefined, limit: string | null | undefined): number {
  if (typeof used !== 'string' || typeof limit !== 'string' || !/^[0-9]+$/.test(used) || !/^[1-9][0-9]*$/.test(limit)) return 0;
  const ratio = Number((BigInt(used) * 1000n) / BigInt(limit)) / 1000;
  return Math.min(1, Math.max(0, ratio));
}
