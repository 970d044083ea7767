/**
 * The approval digest of a stored request, from its frozen columns: what
 * prepare answers and stores, and what the signing gate recomputes before it
 * decrypts a key. One function, so the two can never be built differently.
 */
import { approvalDigest } from '../chain';
import type { TransactionRow } from './rows';

export type DigestColumns = Pick<
  TransactionRow,
  'id' | 'chain_id' | 'from_address' | 'to_address' | 'value' | 'data' | 'gas_limit' | 'max_fee_per_gas' | 'max_priority_fee_per_gas' | 'approval_expires_at'
>;

export function digestOf(row: DigestColumns): string {
  return approvalDigest({
    transaction_id: row.id,
    chain_id: row.chain_id,
    from: row.from_address,
    to: row.to_address,
    value: row.value,
    data: row.data,
    gas_limit: row.gas_limit,
    max_fee_per_gas: row.max_fee_per_gas,
    max_priority_fee_per_gas: row.max_priority_fee_per_gas,
    approval_expires_at: row.approval_expires_at,
  });
}
