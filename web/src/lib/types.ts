/**
 * Shapes of the API's answers (docs/http-contract.md). Everything is optional/nullable on
 * purpose: the page renders defensively and never trusts a field to be present.
 */

export type TxStatus =
  | 'pending_approval'
  | 'approved'
  | 'signing'
  | 'broadcast'
  | 'confirmed'
  | 'failed'
  | 'rejected'
  | 'expired'
  | 'cancelled';

export const TX_STATUSES: readonly TxStatus[] = [
  'pending_approval',
  'approved',
  'signing',
  'broadcast',
  'confirmed',
  'failed',
  'rejected',
  'expired',
  'cancelled',
];

export interface Token {
  address?: string | null;
  symbol?: string | null;
  decimals?: number | null;
}

export interface DecodedCall {
  function?: string | null;
  /** known: canonical names; agent_abi: names from the agent's ABI, unverified. */
  source?: string | null;
  args?: unknown[] | null;
}

export interface BalanceChange {
  asset?: string | null;
  token?: string | null;
  delta?: string | null;
  delta_formatted?: string | null;
  before_formatted?: string | null;
  after_formatted?: string | null;
}

export interface Allowance {
  kind?: string | null;
  token?: string | null;
  spender?: string | null;
  amount_formatted?: string | null;
  unlimited?: boolean | null;
}

export interface InnerCall {
  index?: string | null;
  depth?: number | null;
  to?: string | null;
  title?: string | null;
  operation?: string | null;
}

export interface Summary {
  title?: string | null;
  recipient?: string | null;
  recipient_role?: string | null;
  amount_formatted?: string | null;
  /** Machine-readable amount; formatted with the shared formatter. */
  amount?: unknown;
  value_formatted?: string | null;
  token?: Token | null;
  decoded_call?: DecodedCall | null;
  calls?: InnerCall[] | null;
  simulation?: { ok?: boolean | null; revert_reason?: string | null; trace?: string | null } | null;
  balance_changes?: BalanceChange[] | null;
  allowances?: Allowance[] | null;
  warnings?: string[] | null;
  warning_details?: { code?: unknown; blocking?: unknown; message?: unknown }[] | null;
  fee_cap_wei?: string | null;
}

export interface ExplorerLinks {
  base_url?: string | null;
  wallet?: string | null;
  to?: string | null;
  recipient?: string | null;
  token?: string | null;
  tx?: string | null;
}

export interface Transaction {
  transaction_id: string;
  status?: TxStatus | string | null;
  kind?: string | null;
  wallet_address?: string | null;
  chain_id?: string | number | null;
  to?: string | null;
  amount?: string | null;
  value?: string | null;
  data?: string | null;
  gas_limit?: string | number | null;
  max_fee_per_gas?: string | null;
  max_priority_fee_per_gas?: string | null;
  approval_expires_at?: string | null;
  expires_at?: string | null;
  digest?: string | null;
  memo?: string | null;
  /** The server stripped characters from the memo for display. */
  memo_altered?: boolean | null;
  agent?: { agent_id?: string | null; name?: string | null } | null;
  summary?: Summary | null;
  created_at?: string | null;
  approved_at?: string | null;
  executed_at?: string | null;
  tx_hash?: string | null;
  explorer?: ExplorerLinks | null;
  nonce?: number | string | null;
  block_number?: number | string | null;
  confirmations?: number | null;
  /** A failure description (string), or null. */
  error?: unknown;
  /** The owner's reason, for a rejected request. */
  rejection_reason?: string | null;
  recipient?: string | null;
  token_address?: string | null;
  /** The owner's address-book labels for the addresses this request names. */
  labels?: LabelEntry[] | null;
  /** The limits a waiting request counts toward. */
  limits?: LimitNote[] | null;
}

export interface LabelEntry {
  address: string;
  label: string;
  created_at?: string | null;
  updated_at?: string | null;
}

export interface LimitNote {
  rule_id: string;
  type: 'rolling_limit' | 'max_per_transaction' | string;
  asset: string;
  amount: string;
  limit: string;
  used?: string | null;
  window?: string | null;
}

/** One rule of a wallet's policy (GET /api/wallets/:address/policy). */
export interface Rule {
  id?: string;
  type: string;
  agent_id?: string | null;
  asset?: string;
  amount?: string;
  window?: string;
  addresses?: string[];
  contracts?: { address: string; functions?: string[] | null }[];
  max_amount?: string | null;
  chain_ids?: number[];
  count?: number;
}

export interface Violation {
  rule_id?: string;
  type?: string;
  message?: string;
}

export interface Policy {
  wallet_address?: string;
  version?: number;
  updated_at?: string | null;
  rules?: Rule[] | null;
  usage?: { rule_id: string; used: string | null }[] | null;
  refusals?: { last_24h?: number; recent?: { at?: string; stage?: string; agent_id?: string | null; violations?: Violation[] }[] } | null;
}

export interface TransactionPage {
  transactions?: Transaction[] | null;
  next_cursor?: string | null;
}

export interface Wallet {
  wallet_id?: string;
  address: string;
  label?: string | null;
  balance?: string | null;
  chain_id?: string | number | null;
  created_at?: string | null;
}

export interface Agent {
  agent_id: string;
  name?: string | null;
  wallets?: string[] | null;
  created_at?: string | null;
  expires_at?: string | null;
  revoked_at?: string | null;
  last_used_at?: string | null;
}

/** GET /api/sessions: one signed-in device. `user_agent` is the client's own text (clean it before showing). */
export interface SessionInfo {
  id: string;
  created_at: string;
  last_seen_at?: string;
  ip?: string;
  user_agent?: string;
  current: boolean;
}

export interface MfaSetup {
  mfa_uri?: string;
  secret?: string;
  qr_code?: string;
}

export interface ApprovalResult {
  transaction_id: string;
  status?: string | null;
  error?: { code?: string; message?: string; reason?: string } | string | null;
}

/** SSE payload of `transaction.<status>` events. */
export interface TransactionEvent {
  transaction_id: string;
  status: string;
  version?: number;
}
