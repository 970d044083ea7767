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

export type TransactionStatus =
  | 'pending_approval'
  | 'approved'
  | 'signing'
  | 'broadcast'
  | 'confirmed'
  | 'failed'
  | 'rejected'
  | 'expired'
  | 'cancelled';

export const TERMINAL_STATUSES: readonly TransactionStatus[] = ['confirmed', 'failed', 'rejected', 'expired', 'cancelled'];

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
}

/** Who sent a message: the API has already authenticated and authorised it. */
export interface Caller {
  type: 'user' | 'agent';
  id: string;
}

export interface ApproveArgs {
  /** The approval row written by the API (after the TOTP gate), in PostgreSQL. */
  approvalId: string;
  caller: Caller;
}
export interface RejectArgs {
  caller: Caller;
}
export interface ExecuteArgs {
  caller: Caller;
}
export interface CancelArgs {
  caller: Caller;
}

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

/** Validator rejections carry one of these as the error message, mapped to 409 reasons by the API. */
export type RefusalReason = 'not_approved' | 'already_decided' | 'expired' | 'signing_started' | 'execution_window_passed';

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
