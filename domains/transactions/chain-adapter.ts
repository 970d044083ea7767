/**
 * Binds the chain domain to what the transaction service (prepare) and the
 * signing activities need, and turns chain errors into API answers: an
 * impossible request is a 400 naming the field, an unreachable node a 503.
 */
import type { SigningChain } from './ports';
import {
  broadcastRaw,
  buildCall,
  ChainError,
  InvalidIntentError,
  nativeSymbol,
  pendingNonce,
  prepareCall,
  signEip1559,
  suggestFees,
  waitForConfirmation,
  type ChainClients,
  type TxIntent as ChainIntent,
} from '../chain';
import { AppError, unavailable } from '../../lib/errors';
import type { PreparedRequest, TransactionChain, TxIntent } from './ports';

export interface ChainAdapterOptions {
  /** How often the confirm activity polls for the receipt. */
  pollMs?: number;
}

export function createChainAdapter(clients: ChainClients, options: ChainAdapterOptions = {}): TransactionChain & SigningChain {
  return {
    async prepare(chainId, from, intent): Promise<PreparedRequest> {
      try {
        const chainIntent = toChainIntent(intent);
        const call = buildCall(chainIntent);
        const prepared = await prepareCall(clients.get(chainId), {
          from,
          to: call.to,
          value: call.value,
          data: call.data,
          kind: intent.kind,
          nativeSymbol: nativeSymbol(chainId),
          ...(chainIntent.kind === 'contract_call' && chainIntent.abi !== undefined ? { abi: chainIntent.abi } : {}),
        });
        return {
          call: prepared.call,
          gasLimit: prepared.gasLimit,
          maxFeePerGas: prepared.maxFeePerGas,
          maxPriorityFeePerGas: prepared.maxPriorityFeePerGas,
          simulation: { ok: prepared.simulation.ok, revertReason: prepared.simulation.revertReason },
          decoded: prepared.decoded,
          token: prepared.token,
          tokens: prepared.tokens,
          effects: prepared.effects,
          recipient: prepared.recipient,
          warnings: prepared.warnings,
        };
      } catch (err) {
        throw toAppError(err);
      }
    },

    pendingNonce: (chainId, address) => pendingNonce(clients.get(chainId), address),

    async feeSuggestion(chainId) {
      const { maxFeePerGas, maxPriorityFeePerGas } = await suggestFees(clients.get(chainId));
      return { maxFeePerGas, maxPriorityFeePerGas };
    },

    async sign(args) {
      const signed = await signEip1559(args);
      return { raw: signed.raw, hash: signed.hash };
    },

    async broadcast(chainId, raw, hash) {
      await broadcastRaw(clients.get(chainId), raw, hash);
    },

    async waitForConfirmation(chainId, args) {
      const result = await waitForConfirmation({
        provider: clients.get(chainId),
        hash: args.hash,
        raw: args.raw,
        confirmations: args.confirmations,
        pollMs: options.pollMs ?? 500,
        heartbeat: args.heartbeat,
        signal: args.signal,
      });
      return { status: result.status, blockNumber: result.blockNumber, confirmations: result.confirmations, revertReason: result.revertReason };
    },
  };
}

function toChainIntent(intent: TxIntent): ChainIntent {
  switch (intent.kind) {
    case 'native':
    case 'erc20':
      return intent;
    case 'contract_call':
      return 'data' in intent
        ? { kind: 'contract_call', contract: intent.contract, data: intent.data, value: intent.value }
        : { kind: 'contract_call', contract: intent.contract, abi: intent.abi as never, functionName: intent.functionName, args: intent.args, value: intent.value };
  }
}

function toAppError(err: unknown): Error {
  if (err instanceof AppError) return err;
  if (err instanceof InvalidIntentError) {
    return new AppError('invalid_request', err.message, { extra: { details: [{ field: err.field, message: err.message }] } });
  }
  if (err instanceof ChainError && (err.code === 'invalid_transaction' || err.code === 'invalid_intent')) {
    return new AppError('invalid_request', err.message);
  }
  return unavailable('the chain node is unavailable, try again shortly');
}
