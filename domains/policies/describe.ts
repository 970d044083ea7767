/**
 * Rules in plain language, for the owner's Limits page (and anything else a
 * person reads). Only imports windows.ts (no imports of its own), so the web
 * app uses the same sentences; amounts, names and labels come from the
 * caller, who knows decimals and names.
 */
import { windowText } from './windows';

/** The fields of a rule this needs (the API's rule shape). */
export interface DescribableRule {
  type: string;
  agent_id?: string | null;
  asset?: string;
  amount?: string;
  window?: string;
  addresses?: readonly string[];
  contracts?: readonly { address: string; functions?: readonly string[] | null }[];
  max_amount?: string | null;
  chain_ids?: readonly number[];
  count?: number;
}

export interface DescribeContext {
  /** An amount of `asset` ("native" or a token address) in base units, as text ("1 ETH"). */
  amount(asset: string, baseUnits: string): string;
  /** An address as the reader should see it: its label beside it, if it has one. */
  address(address: string): string;
  /** An agent's name. */
  agent(agentId: string): string;
  chain(chainId: number): string;
}

/** "At most 1 ETH in any 24 hours", "For agent “bot”: only to 2 addresses: …". */
export function describeRule(rule: DescribableRule, ctx: DescribeContext): string {
  const body = describeBody(rule, ctx);
  return rule.agent_id ? `For agent “${ctx.agent(rule.agent_id)}”: ${lowerFirst(body)}` : body;
}

function describeBody(rule: DescribableRule, ctx: DescribeContext): string {
  const amount = (value: string | undefined) => ctx.amount(rule.asset ?? 'native', value ?? '0');
  switch (rule.type) {
    case 'max_per_transaction':
      return `At most ${amount(rule.amount)} per transaction`;
    case 'rolling_limit':
      return `At most ${amount(rule.amount)} in any ${windowText(rule.window ?? '24h')} (requests waiting for you count too)`;
    case 'allowed_recipients': {
      const list = rule.addresses ?? [];
      return `Sends and token allowances only to ${list.length === 1 ? 'this address' : `these ${list.length} addresses`}: ${list.map(ctx.address).join(', ')}`;
    }
    case 'allowed_contracts': {
      const list = rule.contracts ?? [];
      const items = list.map((c) => `${ctx.address(c.address)} (${c.functions && c.functions.length > 0 ? c.functions.join(', ') : 'any function'})`);
      return `Contract calls only to ${items.join('; ')}`;
    }
    case 'deny_unlimited_approvals':
      return rule.max_amount === null || rule.max_amount === undefined
        ? 'No unlimited token allowances (nor approval of all tokens of a collection)'
        : `No token allowance above ${rule.max_amount} base units (nor approval of all tokens of a collection)`;
    case 'allowed_chains':
      return `Only on ${(rule.chain_ids ?? []).map(ctx.chain).join(', ')}`;
    case 'max_requests':
      return `At most ${rule.count ?? 0} request${rule.count === 1 ? '' : 's'}${rule.agent_id ? '' : ' per agent'} in any ${windowText(rule.window ?? '1h')}`;
    case 'frozen':
      return rule.agent_id ? 'Frozen: may not propose anything' : 'Frozen: no agent may propose anything';
    default:
      return 'A rule this page does not know';
  }
}

const lowerFirst = (text: string) => (text.length > 0 ? text[0]!.toLowerCase() + text.slice(1) : text);
