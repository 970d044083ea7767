/** Turns a projection row into the public JSON shape (docs/http-contract.md formats). */
import { getAddress } from 'ethers';
import { isBlockingWarning, sanitizeDisplayText, warningLabel } from '../chain';
import type { TransactionStatus } from '../../workflows/definitions';
import type { TransactionRow } from './rows';
import type { ViewNotes } from '../policies';
import type { Summary, TransactionView } from './schemas';

/** Chain id → block explorer base URL, without a trailing slash (config CHAIN_EXPLORER_URLS). */
export type ExplorerUrls = ReadonlyMap<number, string>;

export const MAX_MEMO_LENGTH = 500;

/**
 * What a reader should be told. A pending request past its deadline reads as
 * expired even before the workflow's timer has written it, and so does an
 * approved one whose execution window closed before anything was signed.
 */
export function effectiveStatus(row: Pick<TransactionRow, 'status' | 'approval_expires_at' | 'execution_expires_at'>, now: Date): TransactionStatus {
  if (row.status === 'pending_approval' && row.approval_expires_at.getTime() <= now.getTime()) return 'expired';
  if (row.status === 'approved' && row.execution_expires_at && row.execution_expires_at.getTime() <= now.getTime()) return 'expired';
  return row.status;
}

const iso = (date: Date | null) => (date ? date.toISOString() : null);

const NO_NOTES: ViewNotes = { labels: [], limits: [] };

/**
 * `last_event_id`: the newest event of the request (dal.lastEventIdColumn), so a reader can continue in GET /api/events.
 * `notes`: the owner's labels and limits (policies.notesFor); agents' views carry none.
 */
export function toView(row: TransactionRow & { last_event_id: string | null }, agentName: string | null, now: Date, explorers?: ExplorerUrls, notes: ViewNotes = NO_NOTES): TransactionView {
  const status = effectiveStatus(row, now);
  // The memo is stored as the agent sent it and shown stripped (docs/http-contract.md): bidi overrides and
  // invisible characters never reach a client that forgets to clean it.
  const memo = row.memo === null ? null : sanitizeDisplayText(row.memo, MAX_MEMO_LENGTH);
  const expiresAt = row.status === 'approved' && row.execution_expires_at ? row.execution_expires_at : row.approval_expires_at;
  return {
    transaction_id: row.id,
    status,
    kind: row.kind,
    origin: row.origin,
    wallet_address: getAddress(row.from_address),
    chain_id: row.chain_id,
    to: getAddress(row.to_address),
    recipient: row.recipient ? getAddress(row.recipient) : null,
    token_address: row.token_address ? getAddress(row.token_address) : null,
    amount: row.amount,
    value: row.value,
    data: row.data,
    gas_limit: row.gas_limit,
    max_fee_per_gas: row.max_fee_per_gas,
    max_priority_fee_per_gas: row.max_priority_fee_per_gas,
    digest: row.digest,
    memo,
    memo_altered: row.memo !== null && memo !== row.memo.trim(),
    agent: row.agent_id ? { agent_id: row.agent_id, name: agentName ?? '' } : null,
    summary: summaryView(row.summary),
    created_at: row.created_at.toISOString(),
    approval_expires_at: row.approval_expires_at.toISOString(),
    expires_at: expiresAt.toISOString(),
    approved_at: iso(row.approved_at),
    executed_at: iso(row.executed_at),
    tx_hash: row.tx_hash,
    explorer: explorerLinks(row, status, explorers?.get(row.chain_id)),
    nonce: row.nonce,
    block_number: row.block_number,
    confirmations: row.confirmations,
    error: row.error ?? row.last_error,
    rejection_reason: row.rejection_reason,
    version: row.version,
    last_event_id: row.last_event_id,
    labels: notes.labels,
    limits: notes.limits,
  };
}

/** Links for the addresses and, once it reached the network, the transaction (Etherscan/Blockscout paths). */
export function explorerLinks(
  row: Pick<TransactionRow, 'from_address' | 'to_address' | 'recipient' | 'token_address' | 'tx_hash' | 'block_number'>,
  status: TransactionStatus,
  baseUrl: string | undefined,
): TransactionView['explorer'] {
  if (!baseUrl) return null;
  const address = (value: string) => `${baseUrl}/address/${getAddress(value)}`;
  // A hash signed but never accepted by a node (or failed before broadcast) is on no explorer.
  const onChain = row.tx_hash !== null && (status === 'broadcast' || status === 'confirmed' || (status === 'failed' && row.block_number !== null));
  return {
    base_url: baseUrl,
    wallet: address(row.from_address),
    to: address(row.to_address),
    recipient: row.recipient ? address(row.recipient) : null,
    token: row.token_address ? address(row.token_address) : null,
    tx: onChain ? `${baseUrl}/tx/${row.tx_hash}` : null,
  };
}

/**
 * A summary as stored; requests prepared before balance changes, batches and
 * warning details existed get the newer fields empty, so every answer matches
 * the published schema.
 */
export function summaryView(stored: Summary): Summary {
  const legacy = stored as Partial<Summary> & Pick<Summary, 'title' | 'warnings' | 'fee_cap_wei'>;
  if (Array.isArray(legacy.warning_details)) return stored;
  const decoded = legacy.decoded_call as { function: string; args: string[] } | null | undefined;
  return {
    title: legacy.title,
    recipient: legacy.recipient ?? null,
    recipient_role: null,
    amount_formatted: legacy.amount_formatted ?? null,
    amount: null,
    value_formatted: null,
    token: legacy.token ?? null,
    // Older summaries did not say where names came from: treat them as unverified.
    decoded_call: decoded ? { function: decoded.function, source: 'agent_abi', args: decoded.args, params: [] } : null,
    calls: [],
    simulation: { ok: legacy.simulation?.ok ?? false, revert_reason: legacy.simulation?.revert_reason ?? null, trace: null },
    balance_changes: [],
    allowances: [],
    warnings: legacy.warnings,
    warning_details: legacy.warnings.map((code) => ({ code, blocking: isBlockingWarning(code), message: warningLabel(code) ?? code })),
    fee_cap_wei: legacy.fee_cap_wei,
  };
}
