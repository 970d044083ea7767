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
  /** decimals() gave another answer to a second read (from the wallet): do not format with it. */
  inconsistentDecimals?: true;
}

export type { Warning } from './warnings';

/** A decoded argument for display. Strings are sanitised; addresses EIP-55; integers decimal strings. */
export type DisplayValue = string | boolean | DisplayValue[] | { [name: string]: DisplayValue };

export interface DecodedArgument {
  name: string;
  type: string;
  value: DisplayValue;
}

/** One call inside a batch (multicall, Multicall3 aggregate, Safe multiSend / execTransaction). */
export interface InnerCall {
  /** `delegatecall`: the target's code runs with the batch contract's storage and rights (Safe operation 1). */
  operation: 'call' | 'delegatecall';
  /**
   * Whose rights the call runs with: the wallet's (multicall(bytes[]) delegates
   * into the contract itself, so msg.sender stays the wallet) or the batch
   * contract's (Multicall3 and multiSend call out as themselves).
   */
  sender: 'wallet' | 'contract';
  /** EIP-55. */
  to: string;
  value: string;
  decoded: DecodedCall;
}

/**
 * The human-readable reading of (to, value, data). Addresses EIP-55, amounts
 * and values decimal strings. Derived from the bytes that will be signed,
 * never from the agent's description. Well-known calls are recognised by
 * selector whatever ETH value they carry (`value` says it), with canonical
 * parameter names; only `contract_call.function` comes from the agent's ABI.
 */
export type DecodedCall =
  | { type: 'native_transfer'; to: string; value: string }
  | { type: 'erc20_transfer'; token: string; to: string; amount: string; value: string }
  | { type: 'erc20_approve'; token: string; spender: string; amount: string; unlimited: boolean; value: string }
  | { type: 'erc20_increase_allowance'; token: string; spender: string; amount: string; unlimited: boolean; value: string }
  | {
      type: 'erc20_permit';
      /** EIP-2612 `permit(address,address,uint256,uint256,uint8,bytes32,bytes32)` or DAI's (`…,bool,uint8,…`). */
      signature: string;
      token: string;
      owner: string;
      spender: string;
      amount: string;
      unlimited: boolean;
      /** Unix seconds (EIP-2612 `deadline`, DAI `expiry`; 0 = never for DAI). */
      deadline: string;
      value: string;
    }
  | { type: 'erc20_transfer_from'; token: string; from: string; to: string; amount: string; value: string }
  | { type: 'set_approval_for_all'; contract: string; operator: string; approved: boolean; value: string }
  | {
      type: 'batch';
      contract: string;
      value: string;
      selector: string;
      /** The canonical batch function, e.g. `multicall(bytes[])`. */
      function: { name: string; signature: string };
      calls: InnerCall[];
      /** More calls or deeper nesting than are decoded (see MAX_INNER_CALLS, MAX_BATCH_DEPTH). */
      truncated: boolean;
    }
  | {
      type: 'contract_call';
      contract: string;
      value: string;
      /** 4-byte selector, or "" for data shorter than 4 bytes. */
      selector: string;
      /** Present when the agent's ABI decodes the data exactly. Names in it are the agent's, unverified. */
      function?: { name: string; signature: string; args: DecodedArgument[] };
    };
