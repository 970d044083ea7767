/**
 * Rules as the owner writes them → rules as stored: addresses lowercase,
 * lists deduplicated and sorted, function signatures without spaces, and an
 * id derived from that content, so the same rule keeps its id from one policy
 * version to the next (a violation's `rule_id` still names it after an edit)
 * and two identical rules are one. Pure.
 */
import { createHash } from 'node:crypto';
import { id as keccakId } from 'ethers';
import type { RuleInput } from './schemas';
import type { Asset, Rule, RuleContent } from './types';

const lower = <T extends string>(address: T) => address.toLowerCase() as T;
const sortedUnique = (items: readonly string[]) => [...new Set(items)].sort();

/** A function signature as written, without whitespace: `transfer(address,uint256)`. */
export const canonicalSignature = (signature: string) => signature.replace(/\s+/g, '');

/** The 4-byte selector of a signature (keccak-256 of its text): what the calldata starts with. */
export const selectorOf = (signature: string) => keccakId(canonicalSignature(signature)).slice(0, 10);

export function normalizeRule(input: RuleInput): Rule {
  const agent_id = input.agent_id ? input.agent_id.toLowerCase() : null;
  const content = normalizedContent(input);
  return { ...content, id: ruleId({ ...content, agent_id }), agent_id } as Rule;
}

function normalizedContent(input: RuleInput): RuleContent {
  switch (input.type) {
    case 'max_per_transaction':
      return { type: input.type, asset: lower(input.asset as Asset), amount: input.amount };
    case 'rolling_limit':
      return { type: input.type, asset: lower(input.asset as Asset), amount: input.amount, window: input.window };
    case 'allowed_recipients':
      return { type: input.type, addresses: sortedUnique(input.addresses.map(lower)) };
    case 'allowed_contracts': {
      // One entry per address; listing a contract twice allows the union of its functions (any, if one entry says any).
      const byAddress = new Map<string, string[] | null>();
      for (const contract of input.contracts) {
        const address = lower(contract.address);
        const functions = contract.functions === null || contract.functions === undefined ? null : contract.functions.map(canonicalSignature);
        if (!byAddress.has(address)) {
          byAddress.set(address, functions);
          continue;
        }
        const known = byAddress.get(address)!;
        byAddress.set(address, known === null || functions === null ? null : [...known, ...functions]);
      }
      const contracts = [...byAddress.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([address, functions]) => ({ address, functions: functions === null ? null : sortedUnique(functions) }));
      return { type: input.type, contracts };
    }
    case 'deny_unlimited_approvals':
      return { type: input.type, max_amount: input.max_amount ?? null };
    case 'allowed_chains':
      return { type: input.type, chain_ids: [...new Set(input.chain_ids)].sort((a, b) => a - b) };
    case 'max_requests':
      return { type: input.type, count: input.count, window: input.window };
    case 'frozen':
      return { type: input.type };
  }
}

/** `r_` + 16 hex characters of SHA-256 over the rule's content (keys in a fixed order). */
export function ruleId(rule: RuleContent & { agent_id: string | null }): string {
  const ordered = Object.fromEntries(Object.entries(rule).sort(([a], [b]) => (a < b ? -1 : 1)));
  return `r_${createHash('sha256').update(JSON.stringify(ordered)).digest('hex').slice(0, 16)}`;
}

/** Normalised rules in the order given, identical ones once. */
export function normalizeRules(inputs: readonly RuleInput[]): Rule[] {
  const seen = new Set<string>();
  const out: Rule[] = [];
  for (const input of inputs) {
    const rule = normalizeRule(input);
    if (seen.has(rule.id)) continue;
    seen.add(rule.id);
    out.push(rule);
  }
  return out;
}
