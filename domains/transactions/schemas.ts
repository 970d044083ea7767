/**
 * Request and response shapes of the transaction routes. They validate input
 * and are published as the OpenAPI document, so whatever matches them is
 * accepted (docs/http-contract.md: schema-valid input never gets a 400).
 */
import { z } from 'zod';
import { Address, boundedString, chainIdSchema, MfaCode, Password, storedText } from '../../lib/schemas';
import { TRANSACTION_STATUSES } from '../../workflows/definitions';
import { LabelView, LimitNoteView } from '../policies';

export { TRANSACTION_STATUSES } from '../../workflows/definitions';
export { Address, boundedString, chainIdSchema, MfaCode, Password, storedText } from '../../lib/schemas';

/** Base units (wei, token units), a positive integer below 10^77. */
export const Amount = z.string().regex(/^[1-9][0-9]{0,76}$/, 'expected a positive integer amount in base units, as a string');
/** Like Amount, but zero is allowed (a contract call's value). */
export const Value = z.string().regex(/^(0|[1-9][0-9]{0,76})$/, 'expected a non-negative integer amount in base units, as a string');
export const HexData = z.string().regex(/^0x([0-9a-fA-F]{2}){0,16384}$/, 'expected 0x-prefixed hex bytes');
export const TransactionId = z.uuid({ version: 'v4' });
export const Memo = storedText(0, 500);
export const IdempotencyKey = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'expected 1–128 characters of A-Z a-z 0-9 _ . : -');
/** prepare_transaction's headers: the key may come here or as `idempotency_key` in the body (same value if both). */
export const PrepareHeaders = z.object({
  'Idempotency-Key': IdempotencyKey.optional().describe('Replays the first answer for the same key and body; 422 for another body'),
});
export const Digest = z.string().regex(/^0x[0-9a-f]{64}$/, 'expected the 0x-prefixed SHA-256 digest shown with the request');

/** A JSON ABI fragment; ethers decides whether it makes sense (a 400 if not). */
const AbiFragment = z.object({ type: boundedString(0, 32), name: boundedString(0, 256).optional() }).loose();
const FunctionArg = z.json();

/** `extra`: fields a route adds to every kind (POST /api/policy/check: `agent_id`). */
export function prepareSchemas<E extends z.ZodRawShape = Record<never, never>>(
  chainIds: readonly number[],
  ttl: { min: number; max: number } = { min: 60, max: 7 * 24 * 3600 },
  extra: E = {} as E,
) {
  const common = {
    ...extra,
    wallet_address: Address,
    chain_id: chainIdSchema(chainIds).optional(),
    memo: Memo.optional(),
    user_id: z.uuid().optional(),
    auto_execute: z.boolean().optional(),
    /** Seconds the owner has to approve. */
    approval_ttl: z.int().min(ttl.min).max(ttl.max).optional(),
    idempotency_key: IdempotencyKey.optional(),
    allow_simulation_failure: z
      .boolean()
      .optional()
      .describe(
        'By default a request the simulation says cannot succeed (it would revert, the wallet cannot pay for it, the token is no ERC-20) is refused with 422 simulation_failed and nothing is stored. true: queue it anyway; the owner sees the warnings.',
      ),
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

/** POST /api/policy/check: prepare_transaction's body, and for the owner which of their agents to check as. */
export function policyCheckSchemas(chainIds: readonly number[], ttl?: { min: number; max: number }) {
  return prepareSchemas(chainIds, ttl, {
    agent_id: z
      .string()
      .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'expected a UUID')
      .transform((id) => id.toLowerCase())
      .optional()
      .describe('The owner checks as one of their agents (absent: the rules for every agent); an agent may name only itself'),
  });
}
export type PolicyCheckBody = z.output<ReturnType<typeof policyCheckSchemas>>;

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
/** GET /api/transaction_status: the id, and optionally a long-poll (domains/transactions/status-wait.ts). */
export const StatusQuery = TransactionIdQuery.extend({
  wait: z
    .string()
    .regex(/^([1-9]|[1-5][0-9]|60)$/, 'expected 1–60 (seconds)')
    .describe(
      'Long-poll: hold the request up to this many seconds (1–60) until the status differs from if_status, or the version is newer than if_version (without either: until it changes from what it is now); then answer 200 with the current status either way.',
    )
    .optional(),
  if_status: z.enum(TRANSACTION_STATUSES).describe('With wait: answer as soon as the status is not this one.').optional(),
  if_version: z
    .string()
    .regex(/^(0|[1-9][0-9]{0,8})$/, 'expected a version number')
    .describe('With wait: answer as soon as the version is newer than this one (the `version` of your last answer).')
    .optional(),
}).strict();
export type StatusQuery = z.output<typeof StatusQuery>;
export const TransactionIdParams = z.object({ id: TransactionId }).strict();

/** Cursors are opaque; every value of the pattern is meaningful (docs/http-contract.md). */
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

const Nullable = <T extends z.ZodType>(schema: T) => schema.nullable();

/** An amount as the approver reads it, with the base units it stands for (domains/chain/amounts.ts formats it). */
export const AmountSpec = z
  .object({
    raw: z.string().describe('Base units, a decimal string'),
    unit: z.enum(['native', 'token', 'not_a_token']).describe('not_a_token: the target does not answer like an ERC-20, so only base units mean anything'),
    symbol: Nullable(z.string()),
    decimals: Nullable(z.int()).describe('The decimals the amount is formatted with; null when unknown or not trusted (then it is shown in base units)'),
    unlimited: z.boolean(),
  })
  .describe('What amount_formatted says, machine-readable');

const DecodedParam = z.object({
  name: z.string(),
  type: z.string(),
  value: z.string(),
  name_verified: z.boolean().describe("false: the name comes from the agent's ABI and says nothing verified"),
});

export const DecodedCallView = z.object({
  function: z.string(),
  source: z.enum(['known', 'agent_abi']).describe("known: recognised by selector, canonical names; agent_abi: decoded with the agent's ABI, names unverified"),
  args: z.array(z.string()),
  params: z.array(DecodedParam),
});

export const WARNING_DESCRIPTION = 'Machine codes (README, "What the approver is shown"); warning_details says which are blocking';

export const Summary = z.object({
  title: z.string(),
  recipient: z.string().nullable(),
  recipient_role: z.enum(['recipient', 'spender', 'operator', 'contract']).nullable().describe('What `recipient` is: a spender of an approval is not a recipient'),
  amount_formatted: z.string().nullable(),
  amount: Nullable(AmountSpec),
  value_formatted: z.string().nullable().describe('The native value the call carries, when above 0'),
  token: z.object({ address: z.string(), symbol: z.string(), decimals: z.int() }).nullable(),
  decoded_call: Nullable(DecodedCallView),
  calls: z
    .array(
      z.object({
        index: z.string().describe('Position in the batch, "2" or "2.1" for a batch inside a batch'),
        depth: z.int(),
        to: z.string(),
        value: z.string(),
        operation: z.enum(['call', 'delegatecall']),
        sender: z.enum(['wallet', 'contract']).describe("Whose rights the call runs with: the wallet's, or the batch contract's"),
        title: z.string(),
        amount: Nullable(AmountSpec),
        amount_formatted: z.string().nullable(),
        decoded_call: Nullable(DecodedCallView),
      }),
    )
    .describe('The calls inside a batch (multicall, Multicall3, Safe multiSend / execTransaction), depth first'),
  simulation: z.object({
    ok: z.boolean(),
    revert_reason: z.string().nullable(),
    trace: z.enum(['eth_simulateV1', 'debug_traceCall']).nullable().describe('How balance changes were traced; null when the node has neither method'),
  }),
  balance_changes: z
    .array(
      z.object({
        asset: z.enum(['native', 'erc20', 'erc721']),
        token: z.string().nullable(),
        token_id: z.string().nullable(),
        symbol: z.string().nullable(),
        decimals: z.int().nullable(),
        delta: z.string().describe('Signed base units'),
        before: z.string().nullable().describe('The wallet balance at preparation (native: gas not included)'),
        after: z.string().nullable(),
        delta_formatted: z.string(),
        before_formatted: z.string().nullable(),
        after_formatted: z.string().nullable(),
      }),
    )
    .describe("What the call changes for the wallet, from a trace at preparation (a lying node can mislead it, not what is signed)"),
  allowances: z.array(
    z.object({
      kind: z.enum(['erc20', 'erc721', 'erc721_all']),
      token: z.string(),
      spender: z.string(),
      symbol: z.string().nullable(),
      amount: z.string().nullable(),
      token_id: z.string().nullable(),
      unlimited: z.boolean(),
      amount_formatted: z.string(),
    }),
  ),
  warnings: z.array(z.string()).describe(WARNING_DESCRIPTION),
  warning_details: z.array(z.object({ code: z.string(), blocking: z.boolean(), message: z.string() })),
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
  memo: z.string().nullable().describe("The agent's unverified note, stripped of control, bidi and invisible characters"),
  memo_altered: z.boolean().describe('True when the stored memo had characters stripped (or whitespace collapsed) for display'),
  agent: z.object({ agent_id: z.string(), name: z.string() }).nullable(),
  summary: Summary,
  created_at: Iso,
  approval_expires_at: Iso,
  expires_at: Iso,
  approved_at: Iso.nullable(),
  executed_at: Iso.nullable(),
  tx_hash: z.string().nullable(),
  explorer: z
    .object({
      base_url: z.string().describe('Addresses at {base_url}/address/{address}, transactions at {base_url}/tx/{hash}'),
      wallet: z.string(),
      to: z.string(),
      recipient: z.string().nullable(),
      token: z.string().nullable(),
      tx: z.string().nullable().describe('Once the transaction reached the network'),
    })
    .nullable()
    .describe('Block explorer links (CHAIN_EXPLORER_URLS); null when none is configured for the chain'),
  nonce: z.string().nullable(),
  block_number: z.string().nullable(),
  confirmations: z.int(),
  error: z.string().nullable(),
  rejection_reason: z.string().nullable(),
  version: z.int().describe('Increases with every status change; pass it back as if_version to wait for the next one.'),
  last_event_id: z
    .string()
    .nullable()
    .describe('The id of the latest event of this transaction in GET /api/events: continue there with ?after= (or Last-Event-ID) without missing a change.'),
  labels: z
    .array(LabelView)
    .describe("Address-book labels of the addresses this request names (wallet, target, recipient), shown beside them, never instead: the owner sees every label of their book, the preparing agent only those of the wallets granted to it"),
  limits: z.array(LimitNoteView).describe("For the owner, while the request waits (pending or approved): the limits it counts toward; empty otherwise"),
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
