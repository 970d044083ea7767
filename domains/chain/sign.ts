/**
 * Signing, offline. Only EIP-1559 (type 2) transactions with a `to` are signed:
 * no contract creation, no access lists, no EIP-7702 authorisations, no
 * messages (docs/http-contract.md).
 *
 * Key hygiene: the caller holds the decrypted key in a Buffer and zeroes it in
 * a `finally` (see `withZeroedKey`). This function makes no copy of it; ethers'
 * SigningKey unavoidably keeps a hex string, which cannot be wiped in JS, so the
 * Wallet lives only for this call and is never connected to a provider.
 */
import { keccak256, SigningKey, Transaction, Wallet } from 'ethers';
import { ChainError } from './errors';
import { ADDRESS_PATTERN, HEX_DATA_PATTERN, MAX_UINT256 } from './formats';
import type { Address, Hex } from './types';

export interface SignInput {
  privateKey: Buffer | Uint8Array | string;
  chainId: number | bigint;
  nonce: number;
  to: string;
  value: bigint;
  data: string;
  gasLimit: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
  /** When given, the key must belong to this wallet: a wrongly decrypted key never signs. */
  from?: string;
}

export interface SignedTransaction {
  /** Lowercase hex of the serialised signed transaction. */
  raw: Hex;
  /** keccak256(raw), lowercase. */
  hash: Hex;
  /** The signer, lowercase. */
  from: Address;
}

const invalid = (message: string) => new ChainError('invalid_transaction', message);

function checkInput(input: SignInput): void {
  if (input.to === undefined || input.to === null || input.to === '') throw invalid('refusing to sign without `to`: contract creation is not supported');
  if (!ADDRESS_PATTERN.test(input.to)) throw invalid('`to` must be a 20-byte hex address');
  if (input.from !== undefined && !ADDRESS_PATTERN.test(input.from)) throw invalid('`from` must be a 20-byte hex address');
  if (!HEX_DATA_PATTERN.test(input.data)) throw invalid('`data` must be 0x-prefixed hex');
  const chainId = BigInt(input.chainId);
  if (chainId <= 0n) throw invalid('`chainId` must be positive');
  if (!Number.isSafeInteger(input.nonce) || input.nonce < 0) throw invalid('`nonce` must be a non-negative integer');
  if (input.value < 0n || input.value > MAX_UINT256) throw invalid('`value` is out of range');
  if (input.gasLimit <= 0n) throw invalid('`gasLimit` must be positive');
  if (input.maxFeePerGas <= 0n) throw invalid('`maxFeePerGas` must be positive');
  if (input.maxPriorityFeePerGas < 0n || input.maxPriorityFeePerGas > input.maxFeePerGas) {
    throw invalid('`maxPriorityFeePerGas` must be between 0 and `maxFeePerGas`');
  }
}

export async function signEip1559(input: SignInput): Promise<SignedTransaction> {
  checkInput(input);
  const wallet = new Wallet(new SigningKey(input.privateKey));
  const signer = wallet.address.toLowerCase() as Address;
  if (input.from !== undefined && input.from.toLowerCase() !== signer) {
    throw new ChainError('key_mismatch', 'the decrypted key does not belong to this wallet');
  }
  const raw = (
    await wallet.signTransaction({
      type: 2,
      chainId: BigInt(input.chainId),
      nonce: input.nonce,
      to: input.to.toLowerCase(),
      value: input.value,
      data: input.data.toLowerCase(),
      gasLimit: input.gasLimit,
      maxFeePerGas: input.maxFeePerGas,
      maxPriorityFeePerGas: input.maxPriorityFeePerGas,
      accessList: [],
    })
  ).toLowerCase() as Hex;
  // Belt and braces: what we persist is exactly what was asked for.
  const parsed = Transaction.from(raw);
  if (parsed.type !== 2 || parsed.to?.toLowerCase() !== input.to.toLowerCase() || parsed.from?.toLowerCase() !== signer) {
    throw invalid('the signed transaction does not match its request');
  }
  return { raw, hash: keccak256(raw).toLowerCase() as Hex, from: signer };
}

/** Runs `fn` with the key and zeroes the Buffer afterwards, whatever happens. */
export async function withZeroedKey<T>(key: Buffer | Uint8Array, fn: (key: Buffer | Uint8Array) => Promise<T>): Promise<T> {
  try {
    return await fn(key);
  } finally {
    key.fill(0);
  }
}

/** The hash of signed bytes (keccak256), lowercase. */
export const transactionHash = (raw: string): Hex => keccak256(raw).toLowerCase() as Hex;
