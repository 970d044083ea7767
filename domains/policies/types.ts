/**
 * The policy domain's vocabulary: rules as stored and evaluated, what a rule
 * says when it refuses, and the verdict. A policy can only refuse: nothing in
 * this domain approves, skips the owner's TOTP or signs.
 *
 * Addresses are lowercase inside the domain (EIP-55 on the way out); amounts
 * are base-unit decimal strings, bigint only while evaluating.
 */

export const RULE_TYPES = [
  'max_per_transaction',
  'rolling_limit',
  'allowed_recipients',
  'allowed_contracts',
  'deny_unlimited_approvals',
  'allowed_chains',
  'max_requests',
  'frozen',
] as const;
export type RuleType = (typeof RULE_TYPES)[number];

/** `native`, or an ERC-20 contract (lowercase). */
export type Asset = 'native' | `0x${string}`;

/** `1h` … `720h`, `1d` … `30d`. */
export type Window = string;

interface RuleBase {
  /** Derived from the rule's content (ruleId): the same rule keeps its id across policy versions. */
  id: string;
  /** null: the rule applies to every agent of the wallet. */
  agent_id: string | null;
}

export type Rule =
  | (RuleBase & { type: 'max_per_transaction'; asset: Asset; amount: string })
  | (RuleBase & { type: 'rolling_limit'; asset: Asset; amount: string; window: Window })
  | (RuleBase & { type: 'allowed_recipients'; addresses: string[] })
  | (RuleBase & { type: 'allowed_contracts'; contracts: AllowedContract[] })
  | (RuleBase & { type: 'deny_unlimited_approvals'; max_amount: string | null })
  | (RuleBase & { type: 'allowed_chains'; chain_ids: number[] })
  | (RuleBase & { type: 'max_requests'; count: number; window: Window })
  | (RuleBase & { type: 'frozen' });

export interface AllowedContract {
  address: string;
  /** Canonical signatures (`transfer(address,uint256)`); null: any function. */
  functions: string[] | null;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A rule without who it is for and its id: what the id is derived from. */
export type RuleContent = DistributiveOmit<Rule, 'id' | 'agent_id'>;

export type CountingRule = Extract<Rule, { type: 'rolling_limit' | 'max_requests' }>;
export const isCountingRule = (rule: Rule): rule is CountingRule => rule.type === 'rolling_limit' || rule.type === 'max_requests';

/** One refusal: which rule, and a sentence a person reads (amounts formatted, addresses EIP-55). */
export interface Violation {
  rule_id: string;
  type: RuleType;
  message: string;
}

export interface Verdict {
  allowed: boolean;
  violations: Violation[];
  /** The policy version the verdict was reached under. */
  version: number;
}

/** A wallet's policy as stored. */
export interface Policy {
  walletId: string;
  version: number;
  rules: Rule[];
}

/** Where a refusal happened: before anything was stored, or in the signing transaction. */
export type RefusalStage = 'prepare' | 'signing';

/**
 * Told when a policy refuses, after the refusal is recorded: the owner
 * notification channel (and metrics) plug in here. It never changes the
 * outcome, and a failure of it is logged, not raised.
 */
export interface PolicyRefusalNotice {
  stage: RefusalStage;
  walletId: string;
  userId: string;
  agentId: string | null;
  transactionId: string | null;
  violations: Violation[];
  policyVersion: number;
}
export type OnPolicyRefusal = (notice: PolicyRefusalNotice) => void | Promise<void>;

export const POLICY_AUDIT = {
  changed: 'policy.changed',
  denied: 'policy.denied',
  labelSaved: 'address_book.saved',
  labelDeleted: 'address_book.deleted',
} as const;

/** At most this many rules per wallet (the bench runs 20). */
export const MAX_RULES = 50;
/** At most this many addresses in one allow-list rule. */
export const MAX_LIST = 200;
/** At most this many functions per allowed contract. */
export const MAX_FUNCTIONS = 50;
