/**
 * Request and response shapes of the policy and address-book routes. They
 * validate input and are published as the OpenAPI document, so whatever
 * matches them is accepted (docs/http-contract.md: schema-valid input never gets a 400):
 * every rule a schema admits can be stored and evaluated.
 */
import { z } from 'zod';
import { Address, chainIdSchema, MfaCode } from '../../lib/schemas';
import { LABEL_PATTERN, MAX_LABEL_LENGTH } from './labels';
import { MAX_FUNCTIONS, MAX_LIST, MAX_RULES, RULE_TYPES } from './types';
import { WINDOW_PATTERN } from './windows';

const Uuid = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'expected a UUID')
  .transform((id) => id.toLowerCase());
/** Base units, a positive integer below 10^77 (as prepare_transaction's amounts). */
const Amount = z.string().regex(/^[1-9][0-9]{0,76}$/, 'expected a positive integer amount in base units, as a string');
const Value = z.string().regex(/^(0|[1-9][0-9]{0,76})$/, 'expected a non-negative integer amount in base units, as a string');
const Window = z.string().regex(WINDOW_PATTERN, 'expected a window of whole hours (1h–720h) or days (1d–30d), e.g. 24h');
const AssetInput = z.union([z.literal('native'), Address]).describe('"native", or an ERC-20 contract address');
/** A function as its selector is computed: `name(type,type)` (whitespace is ignored). */
const FunctionSignature = z
  .string()
  .regex(/^[A-Za-z_$][A-Za-z0-9_$]{0,99}\([A-Za-z0-9_$,[\]() ]{0,500}\)$/, 'expected a function signature such as transfer(address,uint256)');

export const MAX_REQUESTS_COUNT = 100_000;

const inputBase = {
  agent_id: Uuid.nullable().optional().describe('One of your agents; absent or null: every agent of the wallet'),
  id: z.string().max(64).optional().describe('Ignored: a rule id is derived from its content'),
};

export function ruleInputSchema(chainIds: readonly number[]) {
  return z.discriminatedUnion('type', [
    z.object({ ...inputBase, type: z.literal('max_per_transaction'), asset: AssetInput, amount: Amount }).strict(),
    z.object({ ...inputBase, type: z.literal('rolling_limit'), asset: AssetInput, amount: Amount, window: Window }).strict(),
    z.object({ ...inputBase, type: z.literal('allowed_recipients'), addresses: z.array(Address).min(1).max(MAX_LIST) }).strict(),
    z
      .object({
        ...inputBase,
        type: z.literal('allowed_contracts'),
        contracts: z
          .array(z.object({ address: Address, functions: z.array(FunctionSignature).min(1).max(MAX_FUNCTIONS).nullable().optional() }).strict())
          .min(1)
          .max(MAX_LIST),
      })
      .strict(),
    z.object({ ...inputBase, type: z.literal('deny_unlimited_approvals'), max_amount: Value.nullable().optional() }).strict(),
    z.object({ ...inputBase, type: z.literal('allowed_chains'), chain_ids: z.array(chainIdSchema(chainIds)).min(1).max(64) }).strict(),
    z.object({ ...inputBase, type: z.literal('max_requests'), count: z.int().min(1).max(MAX_REQUESTS_COUNT), window: Window }).strict(),
    z.object({ ...inputBase, type: z.literal('frozen') }).strict(),
  ]);
}

/** A rule as the owner writes it (its id is derived; schemas.ts validated it). */
export type RuleInput = z.output<ReturnType<typeof ruleInputSchema>>;

export function replacePolicyBody(chainIds: readonly number[]) {
  return z.object({ rules: z.array(ruleInputSchema(chainIds)).max(MAX_RULES), mfa_code: MfaCode }).strict();
}
export type ReplacePolicyBody = z.output<ReturnType<typeof replacePolicyBody>>;

// ---- responses ----

const viewBase = { id: z.string(), agent_id: z.string().nullable() };
export const RuleView = z.discriminatedUnion('type', [
  z.object({ ...viewBase, type: z.literal('max_per_transaction'), asset: z.string(), amount: z.string() }),
  z.object({ ...viewBase, type: z.literal('rolling_limit'), asset: z.string(), amount: z.string(), window: z.string() }),
  z.object({ ...viewBase, type: z.literal('allowed_recipients'), addresses: z.array(z.string()) }),
  z.object({ ...viewBase, type: z.literal('allowed_contracts'), contracts: z.array(z.object({ address: z.string(), functions: z.array(z.string()).nullable() })) }),
  z.object({ ...viewBase, type: z.literal('deny_unlimited_approvals'), max_amount: z.string().nullable() }),
  z.object({ ...viewBase, type: z.literal('allowed_chains'), chain_ids: z.array(z.int()) }),
  z.object({ ...viewBase, type: z.literal('max_requests'), count: z.int(), window: z.string() }),
  z.object({ ...viewBase, type: z.literal('frozen') }),
]);
export type RuleView = z.output<typeof RuleView>;

export const ViolationView = z.object({ rule_id: z.string(), type: z.enum(RULE_TYPES), message: z.string() });

export const PolicyView = z.object({
  wallet_address: z.string(),
  version: z.int().describe('0 until the first change; every change adds one'),
  updated_at: z.string().nullable(),
  rules: z.array(RuleView).describe("The owner sees every rule; an agent only those that apply to it (the wallet's and its own)"),
  usage: z
    .array(z.object({ rule_id: z.string(), used: z.string().nullable() }))
    .describe('Per rolling_limit: base units counted now (signed in the window, plus requests that may still be signed). Per max_requests: requests in the window by its agent (null for an owner reading a rule for every agent).'),
  refusals: z
    .object({
      last_24h: z.int(),
      recent: z.array(
        z.object({
          at: z.string(),
          stage: z.enum(['prepare', 'signing']),
          agent_id: z.string().nullable(),
          transaction_id: z.string().nullable(),
          policy_version: z.int(),
          violations: z.array(ViolationView),
        }),
      ),
    })
    .nullable()
    .describe('Requests the policy refused (owner only; null for an agent)'),
});
export type PolicyView = z.output<typeof PolicyView>;

export const PolicyCheckResponse = z.object({
  allowed: z.boolean(),
  violations: z.array(ViolationView),
  policy_version: z.int(),
});

/** On an owner's transaction view: a limit a live request counts toward ("0.3 of 1 ETH in the last day"). */
export const LimitNoteView = z.object({
  rule_id: z.string(),
  type: z.enum(['rolling_limit', 'max_per_transaction']),
  asset: z.string().describe('"native" or the token (EIP-55)'),
  amount: z.string().describe('What this request counts, base units'),
  limit: z.string(),
  used: z.string().nullable().describe('rolling_limit: base units counted now, this request included; null for max_per_transaction'),
  window: z.string().nullable(),
});
export const LabelView = z.object({ address: z.string(), label: z.string() });

// ---- the address book ----

export const Label = z
  .string()
  .regex(LABEL_PATTERN, `expected 1–${MAX_LABEL_LENGTH} printable ASCII characters that do not look like an address (no 0x…, no run of 8 hex digits)`)
  .describe('Shown beside the address, never instead of it');

export const AddressBookEntry = z.object({ address: z.string(), label: z.string(), created_at: z.string(), updated_at: z.string() });
export const AddressBookList = z.object({
  entries: z.array(AddressBookEntry).describe("The owner's whole book; an agent sees only the entries for the wallets it is granted"),
});
export const SaveLabelBody = z.object({ address: Address, label: Label, mfa_code: MfaCode }).strict();
export const DeleteLabelBody = z.object({ mfa_code: MfaCode }).strict();
export const AddressParams = z.object({ address: Address }).strict();
