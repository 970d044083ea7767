/** What the transaction domain needs from the chain domain, in its own words. */
import type { DecodedCall, PreparedEffects, TokenInfo } from '../chain';

export type TxIntent =
  | { kind: 'native'; to: string; amount: string }
  | { kind: 'erc20'; token: string; to: string; amount: string }
  | { kind: 'contract_call'; contract: string; data: string; value: string }
  | { kind: 'contract_call'; contract: string; abi: unknown[]; functionName: string; args: unknown[]; value: string };

export interface PreparedRequest {
  /** Lowercase target, value and calldata: exactly what will be signed. */
  call: { to: string; value: bigint; data: string };
  gasLimit: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
  simulation: { ok: boolean; revertReason?: string | undefined };
  decoded: DecodedCall;
  token?: TokenInfo | undefined;
  /** Every token the call or its effects name, with metadata. */
  tokens?: TokenInfo[] | undefined;
  /** Balance changes and allowances from a trace; absent when the node cannot trace. */
  effects?: PreparedEffects | undefined;
  /** Who receives value or tokens, for the "new recipient" check. */
  recipient?: string | undefined;
  warnings: string[];
}

export interface TransactionChain {
  /** Validates, simulates and prices a call; 400 for an impossible request, 503 when the node is away. */
  prepare(chainId: number, from: string, intent: TxIntent): Promise<PreparedRequest>;
}

/** What signing, broadcast and confirmation need from the chain domain. */
export interface SignArgs {
  privateKey: Buffer;
  chainId: number;
  nonce: number;
  to: string;
  value: bigint;
  data: string;
  gasLimit: bigint;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

export interface ConfirmationResult {
  status: 'confirmed' | 'reverted';
  blockNumber: number;
  confirmations: number;
  revertReason?: string | undefined;
}

export interface SigningChain {
  pendingNonce(chainId: number, address: string): Promise<number>;
  feeSuggestion(chainId: number): Promise<{ maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }>;
  sign(args: SignArgs): Promise<{ raw: string; hash: string }>;
  /** Resolves when a node holds the bytes; throws NonceConsumedError, BroadcastRejectedError, or a retryable error. */
  broadcast(chainId: number, raw: string, hash: string): Promise<void>;
  waitForConfirmation(
    chainId: number,
    args: { hash: string; raw: string; confirmations: number; heartbeat: (details: unknown) => void; signal: AbortSignal },
  ): Promise<ConfirmationResult>;
}
