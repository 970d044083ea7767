/**
 * Rows the policy domain reads, parsed rather than cast: the signing
 * transaction evaluates these rules, so a rule that is not what the evaluator
 * expects fails loudly (the request is not signed) instead of being skipped.
 */
import { z } from 'zod';
import { uuidString } from '../../lib/schemas';
import { RULE_TYPES, type Rule } from './types';
import { WINDOW_PATTERN } from './windows';

const uuid = uuidString();
const address = z.string().regex(/^0x[0-9a-f]{40}$/);
const units = z.string().regex(/^(0|[1-9][0-9]{0,77})$/);
const positiveUnits = z.string().regex(/^[1-9][0-9]{0,77}$/);
const window = z.string().regex(WINDOW_PATTERN);
const asset = z.union([z.literal('native'), address]);
const base = { id: z.string().regex(/^r_[0-9a-f]{16}$/), agent_id: uuid.nullable() };

export const StoredRule = z.discriminatedUnion('type', [
  z.object({ ...base, type: z.literal('max_per_transaction'), asset, amount: positiveUnits }).strict(),
  z.object({ ...base, type: z.literal('rolling_limit'), asset, amount: positiveUnits, window }).strict(),
  z.object({ ...base, type: z.literal('allowed_recipients'), addresses: z.array(address) }).strict(),
  z
    .object({ ...base, type: z.literal('allowed_contracts'), contracts: z.array(z.object({ address, functions: z.array(z.string().min(3)).nullable() }).strict()) })
    .strict(),
  z.object({ ...base, type: z.literal('deny_unlimited_approvals'), max_amount: units.nullable() }).strict(),
  z.object({ ...base, type: z.literal('allowed_chains'), chain_ids: z.array(z.number().int().positive()) }).strict(),
  z.object({ ...base, type: z.literal('max_requests'), count: z.number().int().positive(), window }).strict(),
  z.object({ ...base, type: z.literal('frozen') }).strict(),
]);
/** Stored rules → the evaluator's type (the schema above is that type, with `0x${string}` spelled as a pattern). */
const StoredRules = z.array(StoredRule).transform((rules) => rules as Rule[]);

export const PolicyRowSchema = z.object({
  wallet_id: uuid,
  version: z.number().int().nonnegative(),
  rules: StoredRules,
  updated_by: uuid.nullable(),
  updated_at: z.date(),
});
export type PolicyRow = z.output<typeof PolicyRowSchema>;

export const AddressBookRowSchema = z.object({
  user_id: uuid,
  address,
  label: z.string().min(1),
  created_at: z.date(),
  updated_at: z.date(),
});
export type AddressBookRow = z.output<typeof AddressBookRowSchema>;

export const RefusalRowSchema = z.object({
  id: z.string(),
  agent_id: uuid.nullable(),
  stage: z.enum(['prepare', 'signing']),
  transaction_id: uuid.nullable(),
  policy_version: z.number().int(),
  violations: z.array(z.object({ rule_id: z.string(), type: z.enum(RULE_TYPES), message: z.string() })),
  created_at: z.date(),
});
export type RefusalRow = z.output<typeof RefusalRowSchema>;
