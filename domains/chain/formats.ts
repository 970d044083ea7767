/**
 * Input formats of docs/http-contract.md, as patterns (for the API's zod schemas) and as
 * parsers that throw InvalidIntentError (a 400) naming the field.
 *
 * Addresses are accepted in any case with no checksum check (docs/http-contract.md: input
 * matching the schema never gets a 400), stored lowercase, shown EIP-55.
 */
import { getAddress } from 'ethers';
import { InvalidIntentError } from './errors';
import type { Address, Hex } from './types';

/** A positive amount in base units (wei / token units). 77 digits keep it below 2^256. */
export const AMOUNT_PATTERN = /^[1-9][0-9]{0,76}$/;
/** A value that may be zero (contract calls). */
export const VALUE_PATTERN = /^(0|[1-9][0-9]{0,76})$/;
export const ADDRESS_PATTERN = /^0x[0-9a-fA-F]{40}$/;
export const HEX_DATA_PATTERN = /^0x([0-9a-fA-F]{2})*$/;
export const MAX_UINT256 = (1n << 256n) - 1n;
/** geth refuses transactions over 128 KiB; calldata beyond that can never be broadcast. */
export const MAX_CALLDATA_BYTES = 128 * 1024;

export const isAmount = (value: unknown): value is string =>
  typeof value === 'string' && AMOUNT_PATTERN.test(value) && BigInt(value) <= MAX_UINT256;
export const isAddress = (value: unknown): value is string => typeof value === 'string' && ADDRESS_PATTERN.test(value);
export const isHexData = (value: unknown): value is string =>
  typeof value === 'string' && HEX_DATA_PATTERN.test(value) && (value.length - 2) / 2 <= MAX_CALLDATA_BYTES;

/** A positive base-unit amount. */
export function parseAmount(value: unknown, field: string): bigint {
  if (!isAmount(value)) {
    throw new InvalidIntentError(field, `${field} must be a positive integer in base units (a decimal string without sign, point or leading zeros)`);
  }
  return BigInt(value);
}

/** A non-negative base-unit value; absent means zero. */
export function parseValue(value: unknown, field: string): bigint {
  if (value === undefined) return 0n;
  if (typeof value !== 'string' || !VALUE_PATTERN.test(value) || BigInt(value) > MAX_UINT256) {
    throw new InvalidIntentError(field, `${field} must be a non-negative integer in base units (a decimal string)`);
  }
  return BigInt(value);
}

/** Any-case hex address → lowercase. */
export function normalizeAddress(value: unknown, field: string): Address {
  if (!isAddress(value)) throw new InvalidIntentError(field, `${field} must be a 0x-prefixed 20-byte hex address`);
  return value.toLowerCase() as Address;
}

/** Any-case calldata → lowercase, bounded. */
export function normalizeHexData(value: unknown, field: string): Hex {
  if (typeof value !== 'string' || !HEX_DATA_PATTERN.test(value)) {
    throw new InvalidIntentError(field, `${field} must be 0x-prefixed hex with an even number of digits`);
  }
  if ((value.length - 2) / 2 > MAX_CALLDATA_BYTES) {
    throw new InvalidIntentError(field, `${field} exceeds ${MAX_CALLDATA_BYTES} bytes`);
  }
  return value.toLowerCase() as Hex;
}

/** EIP-55 checksummed form for output. */
export function checksumAddress(address: string): string {
  return getAddress(address.toLowerCase());
}
