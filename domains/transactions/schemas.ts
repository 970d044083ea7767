/**
 * Request and response shapes of the transaction routes. They validate input
 * and are published as the OpenAPI document, so whatever matches them is
 * accepted (CONTRACT.md: schema-valid input never gets a 400).
 */
import { z } from 'zod';
import { codePointLength, codePointString } from '../../lib/schemas';

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

/** A string of min..max code points (see lib/schemas.ts). */
export const boundedString = codePointString;

// eslint-disable-next-line no-control-regex -- refusing U+0000 is the point
const NO_NUL = /^[^\u0000]*$/;
/**
 * Free text stored in PostgreSQL as given (memo, rejection reason): a `text`
 * column cannot hold U+0000, so it is refused here as a 400 naming the field —
 * not a 500 from the database. Other control characters are kept and stripped
 * only where the text is shown.
 */
export function storedText(min: number, max: number) {
  return z
    .string()
    .regex(NO_NUL, 'must not contain NUL (U+0000) characters')
    .refine((text) => {
      const n = codePointLength(text);
      return n >= min && n <= max;
    }, `must be ${min} to ${max} characters long`)
    .meta({ minLength: min, maxLength: max });
}

export const Address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'expected a 0x-prefixed 20-byte hex address');
/** Base units (wei, token units), a positive integer below 10^77. */
export const Amount = z.string().regex(/^[1-9][0-9]{0,76}$/, 'expected a positive integer amount in base units, as a string');
/** Like Amount, but zero is allowed (a contract call's value). */
export const Value = z.string().regex(/^(0|[1-9][0-9]{0,76})$/, 'expected a non-negative integer amount in base units, as a string');
export const HexData = z.string().regex(/^0x([0-9a-fA-F]{2}){0,16384}$/, 'expected 0x-prefixed hex bytes');
export const MfaCode = z.string().regex(/^[0-9]{6}$/, 'expected the 6-digit code from the authenticator app');
export const TransactionId = z.uuid({ version: 'v4' });
export const Memo = storedText(0, 500);
export const IdempotencyKey = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'expected 1–128 characters of A-Z a-z 0-9 _ . : -');
/** prepare_transaction's headers: the key may come here or as `idempotency_key` in the body (same value if both). */
export const PrepareHeaders = z.object({
  'Idempotency-Key': IdempotencyKey.optional().describe('Replays the first answer for the same key and body; 422 for another body'),
});
export const Digest = z.string().regex(/^0x[0-9a-f]{64}$/, 'expected the 0x-prefixed SHA-256 digest shown with the request');
export const Password = boundedString(1, 128);

/** A JSON ABI fragment; ethers decides whether it makes sense (a 400 if not). */
const AbiFragment = z.object({ type: boundedString(0, 32), name: boundedString(0, 256).optional() }).loose();
const FunctionArg = z.json();

export function chainIdSchema(chainIds: readonly number[]) {
  const [first, ...rest] = chainIds.map((id) => z.literal(id));
  if (!first) throw new Error('no chain configured');
  return rest.length === 0 ? first : z.union([first, ...rest]);
}

export function prepareSchemas(chainIds: readonly number[], ttl: { min: number; max: number } = { min: 60, max: 7 * 24 * 3600 }) {
  const common = {
    wallet_address: Address,
    chain_id: chainIdSchema(chainIds).optional(),
    memo: Memo.optional(),
    user_id: z.uuid().optional(),
    auto_execute: z.boolean().optional(),
    /** Seconds the owner has to approve. */
    approval_ttl: z.int().min(ttl.min).max(ttl.max).optional(),
    idempotency_key: IdempotencyKey.optional(),
  };
  const native = z.object({ ...common, kind: z.literal('native'), to_address: Address, amount: Amount }).strict();
  const erc20 = z.object({ ...common, kind: z.literal('erc20'), token_address: Address, to_address: Address, amount: Amount }).strict();
  const callWithAbi = z
    .object({
      ...common,
      kind: z.literal('contract_call'),
      contract_address: Address,
      contract_abi: z.array(AbiFragment).min(1).max(200),
      function_name: boundedString(1, 256),
      function_args: z.array(FunctionArg).max(64).optional(),
      value: Value.optional(),
    })
    .strict();
  const callWithData = z
    .object({ ...common, kind: z.literal('contract_call'), contract_address: Address, data: HexData, value: Value.optional() })
    .strict();
  return z.union([native, erc20, callWithAbi, callWithData]);
}
export type PrepareBody = z.output<ReturnType<typeof prepareSchemas>>;

const userFactors = { password: Password, mfa_code: MfaCode };
export function userTransferSchemas(chainIds: readonly number[]) {
  const chain_id = chainIdSchema(chainIds).optional();
  const memo = Memo.optional();
  return {
    transfer: z.object({ wallet_address: Address, to_address: Address, amount: Amount, chain_id, memo, ...userFactors }).strict(),
    transferErc20: z
      .object({ wallet_address: Address, token_address: Address, to_address: Address, amount: Amount, chain_id, memo, ...userFactors })
      .strict(),
    contractCall: z.union([
      z
        .object({
          wallet_address: Address,
          contract_address: Address,
          contract_abi: z.array(AbiFragment).min(1).max(200),
          function_name: boundedString(1, 256),
          function_args: z.array(FunctionArg).max(64).optional(),
          value: Value.optional(),
          chain_id,
          memo,
          ...userFactors,
        })
        .strict(),
      z.object({ wallet_address: Address, contract_address: Address, data: HexData, value: Value.optional(), chain_id, memo, ...userFactors }).strict(),
    ]),
  };
}

/**
 * The approver names what they reviewed: `digest` (one request) or `digests`
 * (a batch, in the order of `transaction_ids`) is required — approving
 * without one would approve whatever the request is now, unseen.
 */
export const AuthorizeBody = z.union([
  z.object({ transaction_id: TransactionId, mfa_code: MfaCode, digest: Digest.meta({ description: 'The digest of the request as reviewed (from prepare or GET /api/transactions/{id})' }) }).strict(),
  z
    .object({
      transaction_ids: z.array(TransactionId).min(1).max(50),
      digests: z.array(Digest).min(1).max(50).meta({ description: 'One digest per transaction id, in the same order' }),
      mfa_code: MfaCode,
    })
    .strict(),
]);
export type AuthorizeBody = z.output<typeof AuthorizeBody>;

export const RejectBody = z.object({ transaction_id: TransactionId, reason: storedText(1, 500) }).strict();
export const ExecuteBody = z.object({ transaction_id: TransactionId }).strict();
export const TransactionIdQuery = z.object({ transaction_id: TransactionId }).strict();
export const TransactionIdParams = z.object({ id: TransactionId }).strict();

/** Cursors are opaque; every value of the pattern is meaningful (CONTRACT.md). */
export const Cursor = z.string().regex(/^[0-9]{1,19}$/, 'expected a cursor from next_cursor');
export const ListQuery = z
  .object({
    status: z.enum(TRANSACTION_STATUSES).optional(),
    wallet: Address.optional(),
    cursor: Cursor.optional(),
    limit: z.string().regex(/^([1-9]|[1-9][0-9]|100)$/, 'expected 1–100').optional(),
  })
  .strict();

// ---- responses ----

export const Summary = z.object({
  title: z.string(),
  recipient: z.string().nullable(),
  amount_formatted: z.string().nullable(),
  token: z.object({ address: z.string(), symbol: z.string(), decimals: z.int() }).nullable(),
  decoded_call: z.object({ function: z.string(), args: z.array(z.string()) }).nullable(),
  simulation: z.object({ ok: z.boolean(), revert_reason: z.string().nullable() }),
  warnings: z.array(z.string()),
  fee_cap_wei: z.string(),
});
export type Summary = z.output<typeof Summary>;

const Iso = z.string();
export const TransactionView = z.object({
  transaction_id: z.string(),
  status: z.enum(TRANSACTION_STATUSES),
  kind: z.enum(['native', 'erc20', 'contract_call']),
  origin: z.enum(['agent', 'user']),
  wallet_address: z.string(),
  chain_id: z.int(),
  to: z.string(),
  recipient: z.string().nullable(),
  token_address: z.string().nullable(),
  amount: z.string().nullable(),
  value: z.string(),
  data: z.string(),
  gas_limit: z.string(),
  max_fee_per_gas: z.string(),
  max_priority_fee_per_gas: z.string(),
  digest: z.string(),
  memo: z.string().nullable(),
  agent: z.object({ agent_id: z.string(), name: z.string() }).nullable(),
  summary: Summary,
  created_at: Iso,
  approval_expires_at: Iso,
  expires_at: Iso,
  approved_at: Iso.nullable(),
  executed_at: Iso.nullable(),
  tx_hash: z.string().nullable(),
  nonce: z.string().nullable(),
  block_number: z.string().nullable(),
  confirmations: z.int(),
  error: z.string().nullable(),
  rejection_reason: z.string().nullable(),
});
export type TransactionView = z.output<typeof TransactionView>;

export const PrepareResponse = z.object({
  transaction_id: z.string(),
  /** pending_approval, unless this answers a replayed idempotency key. */
  status: z.enum(TRANSACTION_STATUSES),
  expires_at: Iso,
  summary: Summary,
  digest: z.string(),
});

export const AuthorizeResult = z.object({
  transaction_id: z.string(),
  status: z.enum(TRANSACTION_STATUSES),
  error: z.object({ code: z.string(), message: z.string(), reason: z.string().optional() }).optional(),
});
export const AuthorizeResponse = z.object({
  transaction_id: z.string().optional(),
  status: z.enum(TRANSACTION_STATUSES).optional(),
  results: z.array(AuthorizeResult),
});

export const ListResponse = z.object({ transactions: z.array(TransactionView), next_cursor: z.string().nullable() });
export const UserTransferResponse = z.object({ transaction_id: z.string(), tx_hash: z.string().nullable(), status: z.enum(TRANSACTION_STATUSES) });
