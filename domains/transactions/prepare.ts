/**
 * Preparing a request: validate, simulate and decode it, freeze it with its
 * approval digest, then start its workflow. Everything the owner will be
 * shown is computed before the 202.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { DbOrTx } from '../../lib/db';
import { AppError, notFound } from '../../lib/errors';
import { failpoint } from '../../lib/failpoints';
import { findOwnAgent } from '../agents';
import { requestOrigin } from '../audit';
import { canonicalizeStringRecord, nativeSymbol } from '../chain';
import { policyDenied, type Verdict } from '../policies';
import { findWalletForAgent, findWalletForUser, type PublicWalletRow } from '../wallets';
import type { AgentCaller, RequestMeta, TransactionContext } from './context';
import { findByIdempotencyKey, hasSentTo, insertTransaction, type NewTransaction } from './dal';
import { digestOf } from './digest';
import type { TxIntent } from './ports';
import type { TransactionRow } from './rows';
import type { PolicyCheckBody, PrepareBody } from './schemas';
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
  // It is raised only after the policy check below: the owner's rules come first.
  const doomed = body.allow_simulation_failure === true ? undefined : simulationRefusal(body.kind, built.summary);

  type Outcome = { kind: 'stored'; row: TransactionRow } | { kind: 'replay'; existing: TransactionRow } | { kind: 'refused'; verdict: Verdict };
  let outcome: Outcome;
  try {
    outcome = await db.transaction(async (trx): Promise<Outcome> => {
      // Holds the wallet's policy row until this commits: check and insert are one step for concurrent prepares and signings.
      const verdict = await policyVerdict(ctx, trx, wallet, agent.agentId, built);
      // Under that lock a concurrent twin with this idempotency key has committed: it is replayed, not counted twice.
      if (idempotencyKey) {
        const existing = await findByIdempotencyKey(trx, agent.agentId, idempotencyKey);
        if (existing) return { kind: 'replay', existing };
      }
      if (!verdict.allowed) return { kind: 'refused', verdict };
      // Policy before simulation (docs/http-contract.md): a request the owner's rules refuse is 403 policy_denied
      // whatever the chain says, so the dry run and prepare agree and every forbidden attempt is counted.
      if (doomed) throw doomed;
      const at = ctx.now();
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
        at,
      );
      await ctx.deps.policies.recordSpend(trx, { transactionId: built.id, walletId: wallet.id, agentId: agent.agentId, facts: verdict.facts, at });
      await audit.append(
        {
          action: 'transaction.prepared',
          actorType: 'agent',
          actorId: agent.agentId,
          subjectType: 'transaction',
          subjectId: built.id,
          ...requestOrigin(meta),
          data: { wallet: wallet.address, chain_id: chainId, kind: body.kind, digest: built.digest, policy_version: verdict.version },
        },
        trx,
      );
      return { kind: 'stored', row: inserted };
    });
  } catch (err) {
    // Two requests with one idempotency key raced: the loser answers like a replay.
    if (idempotencyKey && (err as { code?: string }).code === '23505') {
      const existing = await findByIdempotencyKey(db, agent.agentId, idempotencyKey);
      if (existing) return replay(existing);
    }
    throw err;
  }
  if (outcome.kind === 'replay') return replay(outcome.existing);
  if (outcome.kind === 'refused') {
    // Nothing was stored, no workflow starts, the owner is not asked: the refusal is recorded, audited and counted.
    await ctx.deps.policies.recordRefusal({ stage: 'prepare', walletId: wallet.id, userId: wallet.user_id, agentId: agent.agentId, transactionId: null, verdict: outcome.verdict, meta });
    throw policyDenied(outcome.verdict);
  }
  failpoint('after_prepare_commit');
  await ctx.startWorkflow(outcome.row);
  return prepareAnswer(ctx, outcome.row);
}

/**
 * The policy check of a built request — prepare's and the dry run's, one
 * function: the frozen columns are what is checked, as they are at signing.
 */
function policyVerdict(ctx: TransactionContext, trx: DbOrTx, wallet: PublicWalletRow, agentId: string | null, built: BuiltRequest) {
  return ctx.deps.policies.checkPrepare(trx, { walletId: wallet.id, agentId, chainId: built.chain_id, to: built.to_address, value: built.value, data: built.data });
}

/**
 * POST /api/policy/check — what prepare_transaction would answer about this
 * body under the wallet's policy now, through the same steps (build, lock,
 * count, evaluate), storing nothing. An agent checks as itself; the owner as
 * one of their agents (`agent_id`) or, without one, against the rules for
 * every agent.
 */
export async function checkPolicy(ctx: TransactionContext, caller: PolicyCheckCaller, body: PolicyCheckBody) {
  const { db } = ctx.deps;
  const wallet = caller.type === 'agent' ? await findWalletForAgent(db, caller.agentId, body.wallet_address) : await findWalletForUser(db, caller.userId, body.wallet_address);
  if (!wallet || (body.user_id !== undefined && body.user_id !== wallet.user_id)) throw notFound('wallet');
  let agentId: string | null;
  if (caller.type === 'agent') {
    if (body.agent_id !== undefined && body.agent_id !== caller.agentId) throw notFound('agent');
    agentId = caller.agentId;
  } else {
    agentId = body.agent_id ?? null;
    if (agentId !== null && !(await findOwnAgent(db, caller.userId, agentId))) throw notFound('agent');
  }
  const chainId = body.chain_id ?? ctx.deps.config.CHAIN_ID;
  const built = await buildRequest(ctx, { transactionId: randomUUID(), wallet, chainId, intent: intentFrom(body), approvalTtlSeconds: approvalTtlSeconds(ctx, body.approval_ttl) });
  const verdict = await db.transaction((trx) => policyVerdict(ctx, trx, wallet, agentId, built));
  return { allowed: verdict.allowed, violations: verdict.violations, policy_version: verdict.version };
}

export type PolicyCheckCaller = { type: 'agent'; agentId: string } | { type: 'user'; userId: string };
