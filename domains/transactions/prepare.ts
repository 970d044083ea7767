/**
 * Preparing a request: validate, simulate and decode it, freeze it with its
 * approval digest, then start its workflow. Everything the owner will be
 * shown is computed before the 202.
 */
import { createHash, randomUUID } from 'node:crypto';
import { AppError, notFound } from '../../lib/errors';
import { requestOrigin } from '../audit';
import { canonicalizeStringRecord, nativeSymbol } from '../chain';
import { findWalletForAgent, type PublicWalletRow } from '../wallets';
import type { AgentCaller, RequestMeta, TransactionContext } from './context';
import { findByIdempotencyKey, hasSentTo, insertTransaction, type NewTransaction } from './dal';
import { digestOf } from './digest';
import type { TxIntent } from './ports';
import type { TransactionRow } from './rows';
import type { PrepareBody } from './schemas';
import { simulationRefusal } from './refusals';
import { buildSummary } from './summary';
import { effectiveStatus, summaryView } from './view';

/** The columns of a new request that prepare computes (the rest say who asked, and how). */
export type BuiltRequest = Pick<
  NewTransaction,
  | 'id'
  | 'chain_id'
  | 'from_address'
  | 'to_address'
  | 'value'
  | 'data'
  | 'gas_limit'
  | 'max_fee_per_gas'
  | 'max_priority_fee_per_gas'
  | 'approval_expires_at'
  | 'recipient'
  | 'token_address'
  | 'summary'
  | 'digest'
>;

/** Builds, simulates and freezes a request (its digest from the frozen columns, as signing recomputes it); the caller inserts it. */
export async function buildRequest(
  ctx: TransactionContext,
  args: { transactionId: string; wallet: PublicWalletRow; chainId: number; intent: TxIntent; approvalTtlSeconds: number },
): Promise<BuiltRequest> {
  const prepared = await ctx.deps.chain.prepare(args.chainId, args.wallet.address, args.intent);
  const warnings = [...prepared.warnings];
  const recipient = prepared.recipient?.toLowerCase() ?? null;
  if (recipient && !(await hasSentTo(ctx.deps.db, args.wallet.id, recipient))) warnings.push('new_recipient');
  if (args.wallet.frozen_at) warnings.push('wallet_frozen');
  // Whole seconds: the digest carries unix seconds, and the column must match it exactly.
  const approvalExpiresAt = new Date(Math.floor(ctx.now().getTime() / 1000) * 1000 + args.approvalTtlSeconds * 1000);
  const frozen = {
    id: args.transactionId,
    chain_id: args.chainId,
    from_address: args.wallet.address,
    to_address: prepared.call.to.toLowerCase(),
    value: prepared.call.value.toString(),
    data: prepared.call.data.toLowerCase(),
    gas_limit: prepared.gasLimit.toString(),
    max_fee_per_gas: prepared.maxFeePerGas.toString(),
    max_priority_fee_per_gas: prepared.maxPriorityFeePerGas.toString(),
    approval_expires_at: approvalExpiresAt,
  };
  const summary = buildSummary({
    decoded: prepared.decoded,
    token: prepared.token,
    tokens: prepared.tokens,
    simulation: prepared.simulation,
    effects: prepared.effects,
    warnings,
    gasLimit: prepared.gasLimit,
    maxFeePerGas: prepared.maxFeePerGas,
    nativeSymbol: nativeSymbol(args.chainId),
  });
  return { ...frozen, digest: digestOf(frozen), recipient, token_address: prepared.token?.address.toLowerCase() ?? null, summary };
}

/** The request a prepare body (or a user transfer's) describes. */
export function intentFrom(body: Record<string, unknown>): TxIntent {
  if ('token_address' in body) return { kind: 'erc20', token: body.token_address as string, to: body.to_address as string, amount: body.amount as string };
  if ('contract_address' in body) {
    const value = (body.value as string | undefined) ?? '0';
    if (typeof body.data === 'string') return { kind: 'contract_call', contract: body.contract_address as string, data: body.data, value };
    return {
      kind: 'contract_call',
      contract: body.contract_address as string,
      abi: body.contract_abi as unknown[],
      functionName: body.function_name as string,
      args: (body.function_args as unknown[] | undefined) ?? [],
      value,
    };
  }
  return { kind: 'native', to: body.to_address as string, amount: body.amount as string };
}

export function approvalTtlSeconds(ctx: TransactionContext, requested: number | undefined): number {
  return Math.min(requested ?? ctx.deps.config.APPROVAL_TTL_DEFAULT, ctx.deps.config.APPROVAL_TTL_MAX);
}

/** The idempotency fingerprint: canonical JSON of the request without its key. */
export function hashRequest(body: Record<string, unknown>): string {
  const flat: Record<string, string> = {};
  for (const [key, value] of Object.entries(body)) if (value !== undefined) flat[key] = JSON.stringify(value);
  return createHash('sha256').update(canonicalizeStringRecord(flat)).digest('hex');
}

export function prepareAnswer(ctx: TransactionContext, row: TransactionRow) {
  return {
    transaction_id: row.id,
    status: effectiveStatus(row, ctx.now()),
    expires_at: row.approval_expires_at.toISOString(),
    summary: summaryView(row.summary),
    digest: row.digest,
  };
}

/** POST /api/prepare_transaction — 202 with the summary and digest the owner will approve. */
export async function prepareTransaction(ctx: TransactionContext, agent: AgentCaller, body: PrepareBody, idempotencyHeader: string | undefined, meta: RequestMeta) {
  const { db, audit } = ctx.deps;
  const idempotencyKey = body.idempotency_key ?? idempotencyHeader;
  if (body.idempotency_key && idempotencyHeader && body.idempotency_key !== idempotencyHeader) {
    throw new AppError('invalid_request', 'the Idempotency-Key header and idempotency_key differ', {
      extra: { details: [{ field: 'idempotency_key', message: 'differs from the Idempotency-Key header' }] },
    });
  }
  const { idempotency_key: _ignored, ...hashed } = body;
  const requestHash = hashRequest(hashed);

  const wallet = await findWalletForAgent(db, agent.agentId, body.wallet_address);
  if (!wallet || (body.user_id !== undefined && body.user_id !== wallet.user_id)) throw notFound('wallet');

  const replay = async (existing: TransactionRow) => {
    if (existing.request_hash !== requestHash) throw new AppError('idempotency_key_reused', 'this idempotency key was used with a different request');
    // The first attempt may have died between saving the request and starting its workflow:
    // starting again is idempotent (the workflow id is the transaction's).
    if (existing.status === 'pending_approval') await ctx.startWorkflow(existing, false);
    return prepareAnswer(ctx, existing);
  };
  if (idempotencyKey) {
    const existing = await findByIdempotencyKey(db, agent.agentId, idempotencyKey);
    if (existing) return replay(existing);
  }

  const chainId = body.chain_id ?? ctx.deps.config.CHAIN_ID;
  const built = await buildRequest(ctx, { transactionId: randomUUID(), wallet, chainId, intent: intentFrom(body), approvalTtlSeconds: approvalTtlSeconds(ctx, body.approval_ttl) });
  // A request that cannot succeed is refused (422 simulation_failed): nothing stored, the owner not asked.
  const refusal = body.allow_simulation_failure === true ? undefined : simulationRefusal(body.kind, built.summary);
  if (refusal) throw refusal;

  let row: TransactionRow;
  try {
    row = await db.transaction(async (trx) => {
      const inserted = await insertTransaction(
        trx,
        {
          ...built,
          wallet_id: wallet.id,
          user_id: wallet.user_id,
          agent_id: agent.agentId,
          origin: 'agent',
          kind: body.kind,
          amount: 'amount' in body ? body.amount : null,
          memo: body.memo ?? null,
          auto_execute: body.auto_execute ?? false,
          idempotency_key: idempotencyKey ?? null,
          request_hash: requestHash,
        },
        ctx.now(),
      );
      await audit.append(
        {
          action: 'transaction.prepared',
          actorType: 'agent',
          actorId: agent.agentId,
          subjectType: 'transaction',
          subjectId: built.id,
          ...requestOrigin(meta),
          data: { wallet: wallet.address, chain_id: chainId, kind: body.kind, digest: built.digest },
        },
        trx,
      );
      return inserted;
    });
  } catch (err) {
    // Two requests with one idempotency key raced: the loser answers like a replay.
    if (idempotencyKey && (err as { code?: string }).code === '23505') {
      const existing = await findByIdempotencyKey(db, agent.agentId, idempotencyKey);
      if (existing) return replay(existing);
    }
    throw err;
  }
  await ctx.startWorkflow(row);
  return prepareAnswer(ctx, row);
}
