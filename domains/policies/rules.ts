/**
 * Rule evaluation: rules × what a request does (facts.ts) × what is already
 * counted (usage) → violations. Pure: the same function decides at prepare,
 * in a dry run and at signing; only the usage it is given differs.
 *
 * A rule can only refuse. Evaluation never turns a refusal into an approval:
 * adding a rule can only add violations, and a request is allowed exactly
 * when no rule that applies to it objects.
 *
 * One violation per rule, naming the first thing it objects to.
 */
import { checksumAddress, formatBaseUnits, formatNative } from '../chain';
import type { RequestFacts } from './facts';
import { selectorOf } from './normalize';
import { windowText } from './windows';
import type { Asset, Rule, Violation } from './types';

/** Per rule id: the amount (rolling_limit) or number of requests (max_requests) already counted, this request not included. */
export type Usage = ReadonlyMap<string, bigint>;

/** Does the rule apply to a request by this agent? (A dry run with no agent meets only the wallet-wide rules.) */
export const appliesTo = (rule: Rule, agentId: string | null) => rule.agent_id === null || rule.agent_id === agentId;

export function evaluate(rules: readonly Rule[], facts: RequestFacts, usage: Usage): Violation[] {
  const out: Violation[] = [];
  for (const rule of rules) {
    if (!appliesTo(rule, facts.agentId)) continue;
    const message = objection(rule, facts, usage.get(rule.id) ?? 0n);
    if (message !== null) out.push({ rule_id: rule.id, type: rule.type, message });
  }
  return out;
}

const OPAQUE = 'contains calls that cannot be read in full (a batch too large or deep to decode, or a delegatecall), so they cannot be checked against this rule';

/** Why this rule refuses the request, or null. */
function objection(rule: Rule, facts: RequestFacts, used: bigint): string | null {
  switch (rule.type) {
    case 'frozen':
      return rule.agent_id === null ? 'the owner has frozen this wallet: no agent may propose from it' : 'the owner has frozen this agent for this wallet';
    case 'allowed_chains':
      return rule.chain_ids.includes(facts.chainId) ? null : `chain ${facts.chainId} is not among the chains this wallet may use (${rule.chain_ids.join(', ')})`;
    case 'max_requests': {
      if (BigInt(rule.count) >= used + 1n) return null;
      return `this agent has already made ${used} request${used === 1n ? '' : 's'} from this wallet in the last ${windowText(rule.window)}; at most ${rule.count} are allowed`;
    }
    case 'max_per_transaction': {
      const unreadable = amountUnreadable(rule.asset, facts);
      if (unreadable) return unreadable;
      const amount = facts.outflows.get(rule.asset) ?? 0n;
      if (amount <= BigInt(rule.amount)) return null;
      return `sends ${assetAmount(rule.asset, amount, facts.chainId)}; at most ${shortAmount(rule.asset, BigInt(rule.amount), facts.chainId)} per transaction is allowed`;
    }
    case 'rolling_limit': {
      const unreadable = amountUnreadable(rule.asset, facts);
      if (unreadable) return unreadable;
      const amount = facts.outflows.get(rule.asset) ?? 0n;
      // A request that moves none of the asset passes, even over a limit tightened below what is used.
      if (amount === 0n || used + amount <= BigInt(rule.amount)) return null;
      const limit = shortAmount(rule.asset, BigInt(rule.amount), facts.chainId);
      return `sends ${assetAmount(rule.asset, amount, facts.chainId)}, but ${shortAmount(rule.asset, used, facts.chainId)} of the ${limit} allowed per ${windowText(rule.window)} is already used or reserved`;
    }
    case 'allowed_recipients': {
      if (facts.opaque) return OPAQUE;
      const allowed = new Set(rule.addresses);
      const outside = facts.counterparties.filter((party) => !allowed.has(party.address));
      const first = outside[0];
      if (!first) return null;
      return `${ROLE_TEXT[first.role]} ${checksumAddress(first.address)} is not on this wallet's list of allowed recipients${more(outside.length)}`;
    }
    case 'allowed_contracts': {
      if (facts.opaque) return OPAQUE;
      const allowed = new Map(rule.contracts.map((contract) => [contract.address, contract.functions === null ? null : new Set(contract.functions.map(selectorFor))]));
      const outside = facts.contractCalls.filter((call) => {
        if (!allowed.has(call.address)) return true;
        const selectors = allowed.get(call.address);
        return selectors !== null && selectors !== undefined && !selectors.has(call.selector);
      });
      const first = outside[0];
      if (!first) return null;
      if (!allowed.has(first.address)) return `calls ${checksumAddress(first.address)}, which is not an allowed contract${more(outside.length)}`;
      return `calls function ${first.selector || '(none)'} of ${checksumAddress(first.address)}, which is not among its allowed functions${more(outside.length)}`;
    }
    case 'deny_unlimited_approvals': {
      if (facts.opaque) return OPAQUE;
      const max = rule.max_amount === null ? null : BigInt(rule.max_amount);
      for (const grant of facts.grants) {
        const token = checksumAddress(grant.token);
        if (grant.amount === null) return `lets ${checksumAddress(grant.spender)} move every token of ${token} (setApprovalForAll)`;
        if (max === null && grant.unlimited) return `grants ${checksumAddress(grant.spender)} an unlimited allowance of token ${token}`;
        if (max !== null && grant.amount > max) {
          return `grants ${checksumAddress(grant.spender)} an allowance of ${formatBaseUnits(grant.amount)} base units of token ${token}; at most ${formatBaseUnits(max)} is allowed`;
        }
      }
      return null;
    }
  }
}

/** An amount rule cannot count a batch it cannot read, nor a call into the token that is not a transfer. */
function amountUnreadable(asset: Asset, facts: RequestFacts): string | null {
  if (facts.opaque) return OPAQUE;
  if (asset !== 'native' && facts.unknownCalls.has(asset)) {
    return `calls a function of token ${checksumAddress(asset)} that is not a transfer, so the amount it moves cannot be counted against this limit`;
  }
  return null;
}

const ROLE_TEXT = { recipient: 'recipient', spender: 'spender', operator: 'operator' } as const;
const more = (n: number) => (n > 1 ? ` (and ${n - 1} more)` : '');

/** keccak-256 of each listed signature, once (a policy with 20 rules is evaluated at every prepare). */
const selectorCache = new Map<string, string>();
function selectorFor(signature: string): string {
  let selector = selectorCache.get(signature);
  if (selector === undefined) {
    selector = selectorOf(signature);
    if (selectorCache.size > 10_000) selectorCache.clear();
    selectorCache.set(signature, selector);
  }
  return selector;
}

/** "0.3 ETH" for native amounts; token amounts in base units (their decimals are the token's own claim). */
export function assetAmount(asset: Asset, amount: bigint, chainId: number): string {
  if (asset === 'native') return formatNative(amount, chainId) ?? `${amount} wei`;
  return `${formatBaseUnits(amount)} base units of token ${checksumAddress(asset)}`;
}

/** The same amount once its unit has been named in the sentence: "0.3 ETH", or "300" base units. */
const shortAmount = (asset: Asset, amount: bigint, chainId: number) => (asset === 'native' ? assetAmount(asset, amount, chainId) : (formatBaseUnits(amount) ?? amount.toString()));
