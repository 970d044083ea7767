/**
 * Request and response shapes of the wallet routes. They validate input and
 * are published as the OpenAPI document, so whatever matches them is accepted
 * (docs/http-contract.md: schema-valid input never gets a 400). zod counts string
 * lengths in code points, as JSON Schema does.
 */
import { z } from 'zod';
import { Address, boundedString, chainIdSchema, MfaCode, Password } from '../../lib/schemas';
import { MAX_LABEL_LENGTH, MAX_TOKENS_PER_REQUEST } from './types';

const Uuid = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'expected a UUID')
  .transform((id) => id.toLowerCase());

/** Query strings are strings: `?chain_id=31337`, one of the configured chains. */
export function chainIdQuery(chainIds: readonly number[]) {
  const values = chainIds.map(String);
  if (values.length === 0) throw new Error('no chain configured');
  return z
    .enum(values as [string, ...string[]])
    .transform(Number)
    .meta({ description: 'A configured chain id; default CHAIN_ID' });
}

const ADDRESS = '0x[0-9a-fA-F]{40}';
/** `?tokens=0x…,0x…`: up to 20 ERC-20 contracts, comma-separated; empty means none. */
export const TokensQuery = z
  .string()
  .regex(new RegExp(`^(${ADDRESS}(,${ADDRESS}){0,${MAX_TOKENS_PER_REQUEST - 1}})?$`), `expected up to ${MAX_TOKENS_PER_REQUEST} comma-separated token addresses`)
  .transform((text) => (text === '' ? [] : [...new Set(text.split(',').map((a) => a.toLowerCase()))]))
  .meta({ description: `Up to ${MAX_TOKENS_PER_REQUEST} ERC-20 contract addresses, comma-separated` });

export const Label = boundedString(0, MAX_LABEL_LENGTH).meta({ description: `Up to ${MAX_LABEL_LENGTH} characters; control and bidi characters are removed` });

export const CreateWalletBody = z.object({ password: Password, label: Label.nullable().optional() }).strict();

export function loadWalletBody(chainIds: readonly number[]) {
  const chain_id = chainIdSchema(chainIds).optional();
  return z.union([
    z
      .object({ password: Password, mfa_code: MfaCode, address: Address, chain_id })
      .strict()
      .meta({ title: 'UserLoadWallet', description: 'A user: password, TOTP code and the wallet address' }),
    z.object({ chain_id }).strict().meta({ title: 'AgentLoadWallet', description: 'An agent (API key): an empty body lists its granted wallets' }),
  ]);
}
export type LoadWalletBody = z.output<ReturnType<typeof loadWalletBody>>;

export function walletListQuery(chainIds: readonly number[]) {
  return z.object({ chain_id: chainIdQuery(chainIds).optional() }).strict();
}

export function walletDetailQuery(chainIds: readonly number[]) {
  return z.object({ chain_id: chainIdQuery(chainIds).optional(), tokens: TokensQuery.optional() }).strict();
}

export const WalletAddressParams = z.object({ address: Address }).strict();
export const AgentIdParams = z.object({ id: Uuid }).strict();
export const AgentWalletParams = z.object({ id: Uuid, address: Address }).strict();
export const GrantBody = z.object({ address: Address, mfa_code: MfaCode }).strict();

// ---- responses ----

const Checksummed = z.string().regex(/^0x[0-9a-fA-F]{40}$/).meta({ description: 'EIP-55 checksummed' });
const BaseUnits = z.string().regex(/^(0|[1-9][0-9]*)$/).meta({ description: 'Base units (wei / token units), a decimal string' });
const Iso = z.string().meta({ description: 'ISO-8601 UTC' });

export const CreateWalletResponse = z.object({ wallet_id: z.uuid(), address: Checksummed, label: z.string().nullable(), created_at: Iso }).strict();

export const WalletViewSchema = z
  .object({
    wallet_id: z.uuid(),
    address: Checksummed,
    label: z.string().nullable(),
    balance: BaseUnits,
    chain_id: z.int(),
    created_at: Iso,
    frozen: z.boolean().meta({ description: 'Signing is stopped (the key was used outside Countersign)' }),
  })
  .strict();

export const TokenBalanceSchema = z
  .object({
    token: Checksummed,
    symbol: z.string().nullable().meta({ description: 'As the contract reports it, sanitised; untrusted' }),
    decimals: z.int().nullable(),
    balance: BaseUnits.nullable(),
  })
  .strict();

export const WalletListResponse = z.object({ wallets: z.array(WalletViewSchema) }).strict();
export const WalletDetailResponse = WalletViewSchema.extend({ tokens: z.array(TokenBalanceSchema) }).strict();

export const UserLoadWalletResponse = z
  .object({ address: Checksummed, balance: BaseUnits, nonce: z.string().regex(/^(0|[1-9][0-9]*)$/).meta({ description: "The chain's pending nonce" }), chain_id: z.int() })
  .strict();
export const AgentLoadWalletResponse = z
  .object({ wallets: z.array(z.object({ address: Checksummed, balance: BaseUnits, chain_id: z.int(), label: z.string().nullable() }).strict()) })
  .strict();

export const GrantResponse = z.object({ agent_id: z.uuid(), wallets: z.array(Checksummed) }).strict();
