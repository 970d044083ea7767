/** What the signing activities need from the chain domain. */
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
