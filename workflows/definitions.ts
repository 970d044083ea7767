/**
 * Message definitions shared by the workflow and the API: workflow ids, the
 * Updates and Query, and the search-attribute keys operators filter on in the
 * Temporal UI. No Node built-ins here: this file is bundled into workflows.
 *
 * Inputs and results carry ids only — never amounts, ABIs, summaries, raw
 * transactions or secrets: the worker trusts PostgreSQL, not messages.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const transactionWorkflowId = (transactionId: string) => `tx-${transactionId}`;
export const pingWorkflowId = (pingId: string) => `ping-${pingId}`;

export const TRANSACTION_STATUSES = [
  'pending_approval',
  'approved',
  'signing',
  'broadcast',
  'confirmed',
  'failed',
  'rejected',
  'expired',
  'cancelled',
] as const;
export type TransactionStatus = (typeof TRANSACTION_STATUSES)[number];

export const TERMINAL_STATUSES: readonly TransactionStatus[] = ['confirmed', 'failed', 'rejected', 'expired', 'cancelled'];
/** Once a request is here its first signature may exist: it is driven to an on-chain outcome and never cancelled. */
export const SIGNING_STARTED_STATUSES: readonly TransactionStatus[] = ['signing', 'broadcast', 'confirmed', 'failed'];
/** Past approval and not final: a request here whose workflow is missing (a restore into a fresh Temporal) is resumed at its status. */
export const RESUMABLE_STATUSES = ['approved', 'signing', 'broadcast'] as const;
export type ResumableStatus = (typeof RESUMABLE_STATUSES)[number];

/**
 * Where a workflow started by the reconciler for a request PostgreSQL holds
 * past `pending_approval` begins: that status at that version. Only a claim:
 * the workflow goes on only once PostgreSQL holds exactly this (a local
 * activity), and every gate is checked again at signing.
 */
export interface TransactionResume {
  status: ResumableStatus;
  version: number;
}

export interface TransactionWorkflowInput {
  transactionId: string;
  /** Unix milliseconds; the approval window closes here. */
  approvalExpiresAtMs: number;
  /** Length of the execution window that opens at approval, in milliseconds. */
  executionWindowMs: number;
  /** Execute as soon as approved (user-initiated transfers, or the agent asked for it). */
  autoExecute: boolean;
  /**
   * The agent had an active webhook when the API started the workflow, so the
   * first event (pending_approval) is worth a `notifyWebhooks` activity.
   * Absent (started by older code) means true.
   */
  notifyWebhooks?: boolean;
  /** Absent: the run begins at `pending_approval` (every start before resumes existed). */
  resume?: TransactionResume;
}

/** What PostgreSQL holds for a resumed request, read by the workflow before it goes on (activities verifyResume). */
export interface ResumePoint {
  /** The execution window's end recorded at approval (Unix ms). */
  executionDeadlineMs: number | null;
  /** The preparing agent's recorded execute command, if any. */
  executeCommandId: string | null;
  /** The stored signature's hash, once signed. */
  txHash: string | null;
}

/** Who asked for something, as the API authenticated them (never read from a message). */
export interface Caller {
  type: 'user' | 'agent';
  id: string;
}

/**
 * Every message names a record the API wrote in PostgreSQL after it had
 * authenticated and authorised the caller; the workflow verifies the record
 * before acting (and the signing gate checks again). A message alone — from the
 * Temporal UI or CLI — names nothing that exists and is refused.
 */
export interface ApproveArgs {
  /** The approval row written by the API (after the TOTP gate). */
  approvalId: string;
}
/** The kinds of command the API records in `transaction_commands`. */
export type CommandKind = 'execute' | 'reject' | 'cancel';
export interface CommandArgs {
  /** The `transaction_commands` row written by the API. */
  commandId: string;
}
export type RejectArgs = CommandArgs;
export type ExecuteArgs = CommandArgs;
export type CancelArgs = CommandArgs;

export interface TransactionState {
  status: TransactionStatus;
  /** Increases with every transition; projection writes never move backwards. */
  version: number;
  approvalId?: string;
  executionDeadlineMs?: number;
}

export const approveUpdate = defineUpdate<TransactionState, [ApproveArgs]>('approve');
export const rejectUpdate = defineUpdate<TransactionState, [RejectArgs]>('reject');
export const executeUpdate = defineUpdate<TransactionState, [ExecuteArgs]>('execute');
export const cancelUpdate = defineUpdate<TransactionState, [CancelArgs]>('cancel');
export const statusQuery = defineQuery<TransactionState>('status');

/**
 * The one refusal vocabulary, shared by the API (409 `reason`), the workflow
 * (validator and handler refusals) and the activities (non-retryable failures).
 */
/** A message refused by the workflow because of its state; the API answers 409 with this reason. */
export type RefusalReason = 'not_approved' | 'already_decided' | 'expired' | 'signing_started' | 'execution_window_passed';
/** The signing gate's refusals: nothing was signed. */
export type SigningRefusal =
  | 'not_approved'
  | 'execution_window_passed'
  | 'approval_mismatch'
  | 'execute_not_requested'
  | 'wallet_frozen'
  /** An operator froze the agent that prepared it (`npm run admin -- freeze agent`). */
  | 'agent_frozen'
  | 'unknown_transaction'
  /** The owner's policy refuses it now (domains/policies): the request ends `failed` with this reason. */
  | 'policy_denied';
/** `ApplicationFailure.type` of every non-retryable failure the workflow and its activities raise. */
export const FAILURE_TYPES = {
  /** A message refused by the workflow (state, or a record that does not exist). */
  refused: 'Refused',
  /** The signing gate said no (message: a SigningRefusal). */
  signingRefused: 'SigningRefused',
  /** No node accepted the bytes; the nonce was given back. */
  broadcastRejected: 'BroadcastRejected',
  /** Someone else used the wallet's nonce; the wallet is frozen. */
  nonceConsumed: 'NonceConsumed',
  /** Broadcast or confirm found no stored signature. */
  notSigned: 'NotSigned',
} as const;
/** A message naming a record that does not exist (or not for this request): the back door. */
export const NO_SUCH_RECORD = 'no_such_record';

export const SEARCH_ATTRIBUTES = {
  status: defineSearchAttributeKey('CountersignStatus', SearchAttributeType.KEYWORD),
  wallet: defineSearchAttributeKey('CountersignWallet', SearchAttributeType.KEYWORD),
  agent: defineSearchAttributeKey('CountersignAgent', SearchAttributeType.KEYWORD),
  owner: defineSearchAttributeKey('CountersignOwner', SearchAttributeType.KEYWORD),
  chainId: defineSearchAttributeKey('CountersignChainId', SearchAttributeType.INT),
  txHash: defineSearchAttributeKey('CountersignTxHash', SearchAttributeType.KEYWORD),
  /** Base units as a decimal string (wei, or token units for ERC-20): set at start by the API. */
  amount: defineSearchAttributeKey('CountersignAmount', SearchAttributeType.KEYWORD),
  /** Why a request ended `failed` (`reverted`, `broadcast_rejected: …`, `nonce_consumed`, …). */
  failure: defineSearchAttributeKey('CountersignFailure', SearchAttributeType.KEYWORD),
} as const;

/** Name → Temporal type, for registration at start-up (`--search-attribute Name=Type`). */
export const SEARCH_ATTRIBUTE_TYPES: Record<string, 'Keyword' | 'Int'> = {
  CountersignStatus: 'Keyword',
  CountersignWallet: 'Keyword',
  CountersignAgent: 'Keyword',
  CountersignOwner: 'Keyword',
  CountersignChainId: 'Int',
  CountersignTxHash: 'Keyword',
  CountersignAmount: 'Keyword',
  CountersignFailure: 'Keyword',
};
