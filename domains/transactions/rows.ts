/**
 * The rows the custody path reads, parsed rather than cast: a column that is
 * not what the signing gate expects (a NULL, a renamed column, a driver that
 * starts returning numbers for numerics) fails loudly here instead of
 * reaching a signature. Types are derived from the schemas.
 *
 * node-postgres returns numeric and int8 as strings, timestamptz as Date and
 * jsonb as parsed JSON.
 */
import { z } from 'zod';
import { uuidString } from '../../lib/schemas';
import { TRANSACTION_STATUSES } from '../../workflows/definitions';
import type { Summary } from './schemas';

const uuid = uuidString();
/** numeric(78,0) and bigint columns: base-10 digit strings. */
const integerString = z.string().regex(/^-?[0-9]+$/);
const hex = z.string().regex(/^0x[0-9a-f]*$/);
const address = z.string().regex(/^0x[0-9a-f]{40}$/);

export const TransactionRowSchema = z.object({
  id: uuid,
  seq: integerString,
  wallet_id: uuid,
  user_id: uuid,
  agent_id: uuid.nullable(),
  origin: z.enum(['agent', 'user']),
  kind: z.enum(['native', 'erc20', 'contract_call']),
  chain_id: z.number().int(),
  // --- the frozen request ---
  from_address: address,
  to_address: address,
  value: integerString,
  data: hex,
  gas_limit: integerString,
  max_fee_per_gas: integerString,
  max_priority_fee_per_gas: integerString,
  approval_expires_at: z.date(),
  digest: z.string(),
  // --- what the human is shown ---
  recipient: z.string().nullable(),
  token_address: z.string().nullable(),
  amount: integerString.nullable(),
  memo: z.string().nullable(),
  // Display only, validated where it is built (schemas.ts); never read by the signing gate.
  summary: z.custom<Summary>((value) => typeof value === 'object' && value !== null),
  auto_execute: z.boolean(),
  idempotency_key: z.string().nullable(),
  request_hash: z.string().nullable(),
  // --- the projection ---
  status: z.enum(TRANSACTION_STATUSES),
  version: z.number().int(),
  execution_expires_at: z.date().nullable(),
  approved_at: z.date().nullable(),
  executed_at: z.date().nullable(),
  decided_at: z.date().nullable(),
  rejection_reason: z.string().nullable(),
  nonce: integerString.nullable(),
  tx_hash: z.string().nullable(),
  block_number: integerString.nullable(),
  confirmations: z.number().int(),
  error: z.string().nullable(),
  last_error: z.string().nullable(),
  created_at: z.date(),
  updated_at: z.date(),
});
export type TransactionRow = z.output<typeof TransactionRowSchema>;

/** What the signing gate reads of the wallet: whose it is, whether it is frozen, and its key's ciphertext. */
export const SignableWalletSchema = z.object({
  id: uuid,
  user_id: uuid,
  address,
  frozen_at: z.date().nullable(),
  key_ciphertext: z.string().min(1),
});
export type SignableWallet = z.output<typeof SignableWalletSchema>;

export const SignedTransactionRowSchema = z.object({
  transaction_id: uuid,
  wallet_id: uuid,
  chain_id: z.number().int(),
  nonce: integerString,
  raw: hex,
  tx_hash: z.string().regex(/^0x[0-9a-f]{64}$/),
});
export type SignedTransactionRow = z.output<typeof SignedTransactionRowSchema>;

/** Parses one row, or undefined for no row. */
export function parseRow<S extends z.ZodType>(schema: S, row: unknown): z.output<S> | undefined {
  return row === undefined ? undefined : schema.parse(row);
}
