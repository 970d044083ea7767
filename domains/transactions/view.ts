/** Turns a projection row into the public JSON shape (CONTRACT.md formats). */
import { getAddress } from 'ethers';
import type { TransactionStatus } from '../../workflows/definitions';
import type { TransactionRow } from './dal';
import type { TransactionView } from './schemas';

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

export function toView(row: TransactionRow, agentName: string | null, now: Date): TransactionView {
  const status = effectiveStatus(row, now);
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
    memo: row.memo,
    agent: row.agent_id ? { agent_id: row.agent_id, name: agentName ?? '' } : null,
    summary: row.summary,
    created_at: row.created_at.toISOString(),
    approval_expires_at: row.approval_expires_at.toISOString(),
    expires_at: expiresAt.toISOString(),
    approved_at: iso(row.approved_at),
    executed_at: iso(row.executed_at),
    tx_hash: row.tx_hash,
    nonce: row.nonce,
    block_number: row.block_number,
    confirmations: row.confirmations,
    error: row.error ?? row.last_error,
    rejection_reason: row.rejection_reason,
    version: row.version,
    last_event_id: row.last_event_id ?? null,
  };
}
