/**
 * Types shared across the chain domain. Quantities are bigint inside the
 * domain; anything meant to be stored or shown (decoded calls, heartbeat
 * details, confirmation results) is JSON-safe: decimal strings, no bigint.
 */

/** Lowercase 0x-prefixed 20-byte hex. */
export type Address = `0x${string}`;
/** Lowercase 0x-prefixed hex; "0x" when empty. */
export type Hex = `0x${string}`;

/** What an EIP-1559 transaction calls: target, value and calldata. */
export interface Call {
  to: Address;
  value: bigint;
  data: Hex;
}

export interface FeeCaps {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

export interface TokenMetadata {
  /** Sanitised: control/bidi characters stripped, length-capped; "" when the token has none. */
  symbol: string;
  decimals: number;
}

export type Warning = 'would_revert' | 'unlimited_approval' | 'unknown_contract' | 'insufficient_funds' | 'new_recipient';

/** A decoded argument for display. Strings are sanitised; addresses EIP-55; integers decimal strings. */
export type DisplayValue = string | boolean | DisplayValue[] | { [name: string]: DisplayValue };

export interface DecodedArgument {
  name: string;
  type: string;
  value: DisplayValue;
}

/**
 * The human-readable reading of (to, value, data). Addresses EIP-55, amounts
 * and values decimal strings. Derived from the bytes that will be signed,
 * never from the agent's description.
 */
export type DecodedCall =
  | { type: 'native_transfer'; to: string; value: string }
  | { type: 'erc20_transfer'; token: string; to: string; amount: string; value: string }
  | { type: 'erc20_approve'; token: string; spender: string; amount: string; unlimited: boolean; value: string }
  | { type: 'erc20_transfer_from'; token: string; from: string; to: string; amount: string; value: string }
  | { type: 'set_approval_for_all'; contract: string; operator: string; approved: boolean; value: string }
  | {
      type: 'contract_call';
      contract: string;
      value: string;
      /** 4-byte selector, or "" for data shorter than 4 bytes. */
      selector: string;
      /** Present when the supplied ABI decodes the data exactly. */
      function?: { name: string; signature: string; args: DecodedArgument[] };
    };
