/**
 * The countersigned transaction, as the API sees it: prepare (agent), approve
 * with TOTP / reject (owner), execute (agent), cancel, read, and the seed's
 * user-initiated transfers that run the same workflow approved at once.
 *
 * Order of checks (CONTRACT.md): object lookup (404 for unknown and foreign
 * alike, before any TOTP step is consumed) → password / MFA → state (409) →
 * idempotency (422).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { UpdateDefinition } from '@temporalio/common';
import type { Config } from '../../config/env';
import type { Clock } from '../../lib/clock';
import type { Db, DbOrTx } from '../../lib/db';
import type { Logger } from '../../lib/logger';
import { mapLimit } from '../../lib/concurrency';
import type { AuditLog } from '../audit/types';
import { AppError, invalidState, notFound, unavailable } from '../../lib/errors';
import { approvalDigest } from '../chain/digest';
import { canonicalizeStringRecord } from '../chain/canonical';
import {
  approveUpdate,
  cancelUpdate,
  executeUpdate,
  rejectUpdate,
  TERMINAL_STATUSES,
  type Caller,
  type TransactionState,
} from '../../workflows/definitions';
import { findWalletForAgent, findWalletForUser, type PublicWalletRow } from '../wallets/dal';
import { agentHasActiveWebhook } from '../webhooks/dal';
import {
  findApproval,
  findByIdempotencyKey,
  findTransaction,
  recordApproval,
  recordApprovals,
  findOwnedTransactions,
  findTransactionWithAgentName,
  insertTransaction,
  listTransactions,
  projectStatus,
  type TransactionRow,
} from './dal';
import { operatorView } from './workflow-client';
import { projectionFields } from './projection';
import type { AuthorizeBody, PrepareBody, TransactionView } from './schemas';
import { buildSummary } from './summary';
import { toView, effectiveStatus } from './view';
import type { TransactionWorkflows } from './workflow-client';
import { WorkflowGoneError } from './workflow-client';
import type { TransactionChain, TxIntent } from './ports';

export interface MfaGate {
  verifyAndConsume(args: { userId: string; code: string; purpose: string; trx?: DbOrTx }): Promise<{ mfaUseId: string }>;
}
/** Its owner and its preparing agent see a transaction; nobody else learns it exists. */
const visibleTo = (caller: Caller, row: Pick<TransactionRow, 'user_id' | 'agent_id'>) => (caller.type === 'user' ? row.user_id === caller.id : row.agent_id === caller.id);

/** Approve Updates in flight at once for one batch: enough to overlap round trips, few enough not to flood the worker. */
const APPROVAL_UPDATE_CONCURRENCY = 8;

export interface PasswordCheck {
  verifyPassword(userId: string, password: string): Promise<void>;
}
export type AuditSink = Pick<AuditLog, 'append' | 'appendMany'>;

export interface TransactionServiceDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  config: Pick<Config, 'CHAIN_ID' | 'APPROVAL_TTL_DEFAULT' | 'APPROVAL_TTL_MAX' | 'EXECUTION_WINDOW'>;
  workflows: TransactionWorkflows;
  chain: TransactionChain;
  mfa: MfaGate;
  passwords: PasswordCheck;
  audit: AuditSink;
  /** How long a user-initiated transfer waits for its broadcast before answering 202. */
  userTransferWaitMs?: number;
}

export interface RequestMeta {
  ip: string;
  requestId: string;
}

export interface AgentCaller {
  agentId: string;
  userId: string;
}

const NATIVE_SYMBOL = 'ETH';
const MAX_SEQ = 9223372036854775807n;

export function createTransactionService(deps: TransactionServiceDeps) {
  const now = () => deps.clock.now();

  async function agentName(agentId: string | null): Promise<string | null> {
    if (!agentId) return null;
    const row = (await deps.db('agents').where({ id: agentId }).first('name')) as { name: string } | undefined;
    return row?.name ?? null;
  }

  async function view(row: TransactionRow): Promise<TransactionView> {
    return toView(row, await agentName(row.agent_id), now());
  }

  /** Builds, simulates and freezes a request; the caller inserts it. */
  async function buildRequest(args: {
    transactionId: string;
    wallet: PublicWalletRow;
    chainId: number;
    intent: TxIntent;
    approvalTtlSeconds: number;
  }) {
    const prepared = await deps.chain.prepare(args.chainId, args.wallet.address, args.intent);
    const warnings = [...prepared.warnings];
    const recipient = prepared.recipient?.toLowerCase() ?? null;
    if (recipient && !(await hasSentTo(args.wallet.id, recipient))) warnings.push('new_recipient');
    if (args.wallet.frozen_at) warnings.push('wallet_frozen');
    // Whole seconds: the digest carries unix seconds, and the column must match it exactly.
    const approvalExpiresAt = new Date(Math.floor(now().getTime() / 1000) * 1000 + args.approvalTtlSeconds * 1000);
    const request = {
      transaction_id: args.transactionId,
      chain_id: args.chainId,
      from: args.wallet.address,
      to: prepared.call.to,
      value: prepared.call.value,
      data: prepared.call.data,
      gas_limit: prepared.gasLimit,
      max_fee_per_gas: prepared.maxFeePerGas,
      max_priority_fee_per_gas: prepared.maxPriorityFeePerGas,
      approval_expires_at: approvalExpiresAt,
    };
    const summary = buildSummary({
      decoded: prepared.decoded,
      token: prepared.token,
      simulation: prepared.simulation,
      warnings,
      gasLimit: prepared.gasLimit,
      maxFeePerGas: prepared.maxFeePerGas,
      nativeSymbol: NATIVE_SYMBOL,
    });
    return {
      digest: approvalDigest(request),
      row: {
        chain_id: args.chainId,
        from_address: args.wallet.address,
        to_address: prepared.call.to.toLowerCase(),
        value: prepared.call.value.toString(),
        data: prepared.call.data.toLowerCase(),
        gas_limit: prepared.gasLimit.toString(),
        max_fee_per_gas: prepared.maxFeePerGas.toString(),
        max_priority_fee_per_gas: prepared.maxPriorityFeePerGas.toString(),
        approval_expires_at: approvalExpiresAt,
        recipient,
        token_address: prepared.token?.address.toLowerCase() ?? null,
        summary,
      },
    };
  }

  async function hasSentTo(walletId: string, recipient: string): Promise<boolean> {
    const row = await deps.db('transactions')
      .where({ wallet_id: walletId, recipient })
      .whereIn('status', ['broadcast', 'confirmed'])
      .first('id');
    return row !== undefined;
  }

  /** `closeOnFailure`: a first start that fails closes the request; a replay's retry leaves it be. */
  async function startWorkflow(row: TransactionRow, autoExecute: boolean, closeOnFailure = true) {
    // Is the first event worth a webhook activity? (The workflow decides the later ones as they happen.)
    // Only a hint: if it cannot be read, notify, and the activity decides.
    const notifyWebhooks = row.agent_id !== null && (await agentHasActiveWebhook(deps.db, row.agent_id, now()).catch(() => true));
    try {
      await deps.workflows.start(
        {
          transactionId: row.id,
          approvalExpiresAtMs: row.approval_expires_at.getTime(),
          executionWindowMs: deps.config.EXECUTION_WINDOW * 1000,
          autoExecute,
          notifyWebhooks,
        },
        { wallet: row.from_address, agent: row.agent_id, owner: row.user_id, chainId: row.chain_id, ...operatorView(row) },
      );
    } catch (err) {
      deps.logger.error({ transactionId: row.id, err: err instanceof Error ? err.name : 'unknown' }, 'could not start the transaction workflow');
      if (!closeOnFailure) throw unavailable('the orchestrator is unavailable; try again shortly');
      // Nothing was started: close the request so it cannot linger as pending.
      await projectStatus(deps.db, { transactionId: row.id, status: 'failed', version: 1_000_000, at: now(), fields: { error: 'orchestrator_unavailable' } });
      throw unavailable('the orchestrator is unavailable; the request was not accepted');
    }
  }

  /** Writes the workflow's answer to the projection at once, so reads agree with the 2xx just given. */
  async function applyState(transactionId: string, state: TransactionState) {
    await projectStatus(deps.db, { transactionId, status: state.status, version: state.version, at: now(), fields: projectionFields(state, now()) });
  }

  /** An Update to a finished or vanished workflow: answer from what PostgreSQL knows. */
  function goneToConflict(row: TransactionRow): AppError {
    const status = effectiveStatus(row, now());
    if (status === 'expired') return invalidState('expired', 'the transaction has expired');
    if (status === 'pending_approval') return unavailable('the transaction workflow is not running; try again shortly');
    if (['signing', 'broadcast', 'confirmed', 'failed'].includes(status)) return invalidState('signing_started', 'signing has already started');
    return invalidState('already_decided', 'the transaction has already been decided');
  }

  async function sendUpdate<Arg>(row: TransactionRow, def: UpdateDefinition<TransactionState, [Arg]>, arg: Arg, updateId?: string) {
    try {
      const state = await deps.workflows.update(row.id, def, arg, updateId);
      await applyState(row.id, state);
      return state;
    } catch (err) {
      if (err instanceof WorkflowGoneError) throw goneToConflict((await findTransaction(deps.db, row.id)) ?? row);
      throw err;
    }
  }

  async function loadOwned(userId: string, transactionId: string): Promise<TransactionRow> {
    const row = await findTransaction(deps.db, transactionId);
    if (!row || row.user_id !== userId) throw notFound('transaction');
    return row;
  }

  async function loadVisible(caller: Caller, transactionId: string): Promise<TransactionRow> {
    const row = await findTransaction(deps.db, transactionId);
    if (!row || !visibleTo(caller, row)) throw notFound('transaction');
    return row;
  }

  function intentFrom(body: PrepareBody | Record<string, unknown>): TxIntent {
    const b = body as Record<string, unknown>;
    if ('token_address' in b) return { kind: 'erc20', token: b.token_address as string, to: b.to_address as string, amount: b.amount as string };
    if ('contract_address' in b) {
      const value = (b.value as string | undefined) ?? '0';
      if (typeof b.data === 'string') return { kind: 'contract_call', contract: b.contract_address as string, data: b.data, value };
      return {
        kind: 'contract_call',
        contract: b.contract_address as string,
        abi: b.contract_abi as unknown[],
        functionName: b.function_name as string,
        args: (b.function_args as unknown[] | undefined) ?? [],
        value,
      };
    }
    return { kind: 'native', to: b.to_address as string, amount: b.amount as string };
  }

  function ttlSeconds(requested: number | undefined) {
    return Math.min(requested ?? deps.config.APPROVAL_TTL_DEFAULT, deps.config.APPROVAL_TTL_MAX);
  }

  return {
    view,

    /** POST /api/prepare_transaction — 202 with the summary and digest the owner will approve. */
    async prepare(agent: AgentCaller, body: PrepareBody, idempotencyHeader: string | undefined, meta: RequestMeta) {
      const idempotencyKey = body.idempotency_key ?? idempotencyHeader;
      if (body.idempotency_key && idempotencyHeader && body.idempotency_key !== idempotencyHeader) {
        throw new AppError('invalid_request', 'the Idempotency-Key header and idempotency_key differ', {
          extra: { details: [{ field: 'idempotency_key', message: 'differs from the Idempotency-Key header' }] },
        });
      }
      const { idempotency_key: _ignored, ...hashed } = body;
      const requestHash = hashRequest(hashed);

      const wallet = await findWalletForAgent(deps.db, agent.agentId, body.wallet_address);
      if (!wallet || (body.user_id !== undefined && body.user_id !== wallet.user_id)) throw notFound('wallet');

      if (idempotencyKey) {
        const existing = await findByIdempotencyKey(deps.db, agent.agentId, idempotencyKey);
        if (existing) return replay(existing, requestHash);
      }

      const transactionId = randomUUID();
      const chainId = body.chain_id ?? deps.config.CHAIN_ID;
      const built = await buildRequest({ transactionId, wallet, chainId, intent: intentFrom(body), approvalTtlSeconds: ttlSeconds(body.approval_ttl) });

      let row: TransactionRow;
      try {
        row = await deps.db.transaction(async (trx) => {
          const inserted = await insertTransaction(
            trx,
            {
              id: transactionId,
              wallet_id: wallet.id,
              user_id: wallet.user_id,
              agent_id: agent.agentId,
              origin: 'agent',
              kind: body.kind,
              ...built.row,
              digest: built.digest,
              amount: 'amount' in body ? body.amount : null,
              memo: body.memo ?? null,
              auto_execute: body.auto_execute ?? false,
              idempotency_key: idempotencyKey ?? null,
              request_hash: requestHash,
            },
            now(),
          );
          await deps.audit.append(
            { action: 'transaction.prepared', actorType: 'agent', actorId: agent.agentId, subjectType: 'transaction', subjectId: transactionId, ip: meta.ip, requestId: meta.requestId, data: { wallet: wallet.address, chain_id: chainId, kind: body.kind, digest: built.digest } },
            trx,
          );
          return inserted;
        });
      } catch (err) {
        // Two requests with one idempotency key raced: the loser answers like a replay.
        if (idempotencyKey && (err as { code?: string }).code === '23505') {
          const existing = await findByIdempotencyKey(deps.db, agent.agentId, idempotencyKey);
          if (existing) return replay(existing, requestHash);
        }
        throw err;
      }
      await startWorkflow(row, row.auto_execute);
      return prepareAnswer(row);

      async function replay(existing: TransactionRow, hash: string) {
        if (existing.request_hash !== hash) {
          throw new AppError('idempotency_key_reused', 'this idempotency key was used with a different request');
        }
        // The first attempt may have died between saving the request and starting its workflow:
        // starting again is idempotent (the workflow id is the transaction's).
        if (existing.status === 'pending_approval') await startWorkflow(existing, existing.auto_execute, false);
        return prepareAnswer(existing);
      }
    },

    /** POST /api/authorize_transaction — one TOTP code approves one or several requests. */
    async authorize(userId: string, body: AuthorizeBody, meta: RequestMeta) {
      const single = 'transaction_id' in body;
      const ids = single ? [body.transaction_id] : [...new Set(body.transaction_ids)];
      const submittedDigests = single ? (body.digest ? [body.digest] : undefined) : body.digests;

      // 1. Object lookup before the TOTP step is consumed: unknown and foreign ids are both 404.
      const found = new Map((await findOwnedTransactions(deps.db, userId, ids)).map((row) => [row.id, row]));
      const rows = ids.map((id) => {
        const row = found.get(id);
        if (!row) throw notFound('transaction');
        return row;
      });

      // A digest list that does not pair up with the ids cannot show what the owner reviewed.
      // It matches the published schema (JSON Schema cannot tie two arrays' lengths), so it is
      // not a 400 (CONTRACT.md): like any digest that differs, it is 409 stale_digest.
      if (!single && submittedDigests && submittedDigests.length !== body.transaction_ids.length) {
        throw invalidState('stale_digest', 'digests must list one digest per transaction id, in the same order: review the requests again');
      }
      const digestFor = new Map<string, string>();
      if (submittedDigests) {
        const source = single ? ids : body.transaction_ids;
        source.forEach((id, i) => digestFor.set(id, submittedDigests[i]!));
      }

      // 2. State and digest, per request.
      const results = new Map<string, { status: TransactionView['status']; error?: { code: string; message: string; reason?: string } }>();
      const approvable: TransactionRow[] = [];
      for (const row of rows) {
        const problem = approvalProblem(row, digestFor.get(row.id));
        if (problem) results.set(row.id, { status: effectiveStatus(row, now()), error: problem });
        else approvable.push(row);
      }
      if (approvable.length === 0) {
        const first = results.get(rows[0]!.id)!.error!;
        throw invalidState(first.reason as 'expired', first.message);
      }

      // 3. The one TOTP gate and the approval rows, in one database transaction.
      const approvals = await deps.db.transaction(async (trx) => {
        const { mfaUseId } = await deps.mfa.verifyAndConsume({ userId, code: body.mfa_code, purpose: 'approve_transactions', trx });
        const approvalIds = await recordApprovals(
          trx,
          approvable.map((row) => ({ id: randomUUID(), transaction_id: row.id, user_id: userId, mfa_use_id: mfaUseId, digest: row.digest, created_at: now() })),
        );
        await deps.audit.appendMany(
          approvable.map((row) => ({
            action: 'transaction.approved',
            actorType: 'user' as const,
            actorId: userId,
            subjectType: 'transaction',
            subjectId: row.id,
            ip: meta.ip,
            requestId: meta.requestId,
            data: { digest: row.digest, mfa_use_id: mfaUseId },
          })),
          trx,
        );
        return approvable.map((row) => ({ row, approvalId: approvalIds.get(row.id)! }));
      });

      // 4. Tell each workflow, a few at a time; the approval id deduplicates retried Updates.
      await mapLimit(approvals, APPROVAL_UPDATE_CONCURRENCY, async ({ row, approvalId }) => {
        try {
          const state = await sendUpdate(row, approveUpdate, { approvalId, caller: { type: 'user', id: userId } }, approvalId);
          results.set(row.id, { status: state.status });
        } catch (err) {
          if (!(err instanceof AppError)) throw err;
          // One request: its own error is the answer, with its headers (Retry-After on a 503).
          if (single) throw err;
          const reason = err.extra?.reason as string | undefined;
          results.set(row.id, { status: effectiveStatus((await findTransaction(deps.db, row.id)) ?? row, now()), error: { code: err.code, message: err.message, ...(reason ? { reason } : {}) } });
        }
      });

      const ordered = rows.map((row) => ({ transaction_id: row.id, ...results.get(row.id)! }));
      if (single) {
        const only = ordered[0]!;
        return { transaction_id: only.transaction_id, status: only.status, results: ordered };
      }
      return { results: ordered };
    },

    /** POST /api/reject_transaction */
    async reject(userId: string, transactionId: string, reason: string, meta: RequestMeta) {
      const row = await loadOwned(userId, transactionId);
      const problem = approvalProblem(row, undefined);
      if (problem) throw invalidState(problem.reason as 'expired', problem.message);
      const state = await sendUpdate(row, rejectUpdate, { caller: { type: 'user', id: userId } });
      // Code points, as the schema counts them: a UTF-16 slice could keep half a surrogate pair.
      await deps.db('transactions').where({ id: row.id }).update({ rejection_reason: Array.from(reason).slice(0, 500).join('') });
      await deps.audit.append({ action: 'transaction.rejected', actorType: 'user', actorId: userId, subjectType: 'transaction', subjectId: row.id, ip: meta.ip, requestId: meta.requestId });
      void state;
      return view((await findTransaction(deps.db, row.id))!);
    },

    /** POST /api/execute_transaction — the preparing agent starts signing an approved request. */
    async execute(agent: AgentCaller, transactionId: string, meta: RequestMeta) {
      const row = await loadVisible({ type: 'agent', id: agent.agentId }, transactionId);
      const status = effectiveStatus(row, now());
      if (status === 'pending_approval') throw invalidState('not_approved', 'the transaction has not been approved');
      if (status === 'expired') throw invalidState('expired', 'the transaction has expired');
      await sendUpdate(row, executeUpdate, { caller: { type: 'agent', id: agent.agentId } });
      await deps.audit.append({ action: 'transaction.execute_requested', actorType: 'agent', actorId: agent.agentId, subjectType: 'transaction', subjectId: row.id, ip: meta.ip, requestId: meta.requestId });
      return view((await findTransaction(deps.db, row.id))!);
    },

    /** POST /api/transactions/:id/cancel — owner or preparing agent, until signing starts. */
    async cancel(caller: Caller, transactionId: string, meta: RequestMeta) {
      const row = await loadVisible(caller, transactionId);
      const status = effectiveStatus(row, now());
      if (status === 'expired') throw invalidState('expired', 'the transaction has expired');
      if (TERMINAL_STATUSES.includes(status) || status === 'signing' || status === 'broadcast') {
        throw invalidState(status === 'signing' || status === 'broadcast' || status === 'confirmed' || status === 'failed' ? 'signing_started' : 'already_decided', 'the transaction can no longer be cancelled');
      }
      await sendUpdate(row, cancelUpdate, { caller });
      await deps.audit.append({ action: 'transaction.cancelled', actorType: caller.type, actorId: caller.id, subjectType: 'transaction', subjectId: row.id, ip: meta.ip, requestId: meta.requestId });
      return view((await findTransaction(deps.db, row.id))!);
    },

    /** GET /api/transaction_status: one query (the hottest read). */
    async get(caller: Caller, transactionId: string) {
      const row = await findTransactionWithAgentName(deps.db, transactionId);
      if (!row || !visibleTo(caller, row)) throw notFound('transaction');
      const { agent_name: agentName, ...transaction } = row;
      return toView(transaction, agentName, now());
    },

    async list(caller: Caller, query: { status?: TransactionView['status']; wallet?: string; cursor?: string; limit?: string }) {
      const limit = query.limit ? Number(query.limit) : 50;
      const before = query.cursor ? (BigInt(query.cursor) > MAX_SEQ ? MAX_SEQ.toString() : query.cursor) : undefined;
      const rows = await listTransactions(deps.db, {
        ...(caller.type === 'user' ? { userId: caller.id } : { agentId: caller.id }),
        ...(query.status ? { status: query.status } : {}),
        ...(query.wallet ? { walletAddress: query.wallet } : {}),
        ...(before ? { before } : {}),
        limit,
        now: now(),
      });
      const names = new Map<string, string>();
      const agentIds = [...new Set(rows.map((r) => r.agent_id).filter((id): id is string => id !== null))];
      if (agentIds.length > 0) {
        for (const a of (await deps.db('agents').whereIn('id', agentIds).select('id', 'name')) as { id: string; name: string }[]) names.set(a.id, a.name);
      }
      const transactions = rows.map((row) => toView(row, row.agent_id ? (names.get(row.agent_id) ?? null) : null, now()));
      return { transactions, next_cursor: rows.length === limit ? rows[rows.length - 1]!.seq : null };
    },

    /**
     * The seed's user-initiated routes: password + TOTP in the request, then
     * the same workflow, approved at once, executing immediately.
     */
    async userTransfer(userId: string, kind: 'native' | 'erc20' | 'contract_call', body: Record<string, unknown> & { wallet_address: string; password: string; mfa_code: string; chain_id?: number; memo?: string }, meta: RequestMeta) {
      const wallet = await findWalletForUser(deps.db, userId, body.wallet_address);
      if (!wallet) throw notFound('wallet');
      await deps.passwords.verifyPassword(userId, body.password);

      const transactionId = randomUUID();
      const chainId = body.chain_id ?? deps.config.CHAIN_ID;
      const built = await buildRequest({ transactionId, wallet, chainId, intent: intentFrom(body), approvalTtlSeconds: ttlSeconds(undefined) });

      const { row, approvalId } = await deps.db.transaction(async (trx) => {
        const { mfaUseId } = await deps.mfa.verifyAndConsume({ userId, code: body.mfa_code, purpose: `transfer_${kind}`, trx });
        const inserted = await insertTransaction(
          trx,
          {
            id: transactionId,
            wallet_id: wallet.id,
            user_id: userId,
            agent_id: null,
            origin: 'user',
            kind,
            ...built.row,
            digest: built.digest,
            amount: typeof body.amount === 'string' ? body.amount : null,
            memo: body.memo ?? null,
            auto_execute: true,
            idempotency_key: null,
            request_hash: null,
          },
          now(),
        );
        const approval = { id: randomUUID(), transaction_id: transactionId, user_id: userId, mfa_use_id: mfaUseId, digest: built.digest, created_at: now() };
        await recordApproval(trx, approval);
        await deps.audit.append(
          { action: 'transaction.user_initiated', actorType: 'user', actorId: userId, subjectType: 'transaction', subjectId: transactionId, ip: meta.ip, requestId: meta.requestId, data: { wallet: wallet.address, chain_id: chainId, kind, digest: built.digest, mfa_use_id: mfaUseId } },
          trx,
        );
        return { row: inserted, approvalId: approval.id };
      });

      await startWorkflow(row, true);
      await sendUpdate(row, approveUpdate, { approvalId, caller: { type: 'user', id: userId } }, approvalId);

      const settled = await waitForBroadcast(row.id, deps.userTransferWaitMs ?? 20_000);
      const status = effectiveStatus(settled, now());
      const done = settled.tx_hash !== null && ['broadcast', 'confirmed'].includes(status);
      return { httpStatus: done ? 201 : 202, body: { transaction_id: row.id, tx_hash: settled.tx_hash, status } };
    },
  };

  async function waitForBroadcast(transactionId: string, timeoutMs: number): Promise<TransactionRow> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const row = (await findTransaction(deps.db, transactionId))!;
      if (['broadcast', 'confirmed', 'failed', 'expired', 'cancelled', 'rejected'].includes(row.status) || Date.now() >= deadline) return row;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  function approvalProblem(row: TransactionRow, submittedDigest: string | undefined) {
    const status = effectiveStatus(row, now());
    if (status === 'expired') return { code: 'invalid_state', reason: 'expired', message: 'the transaction has expired' };
    if (status !== 'pending_approval') return { code: 'invalid_state', reason: 'already_decided', message: 'the transaction has already been decided' };
    if (submittedDigest !== undefined && submittedDigest.toLowerCase() !== row.digest) {
      return { code: 'invalid_state', reason: 'stale_digest', message: 'the request changed since it was shown: review it again' };
    }
    return undefined;
  }

  function prepareAnswer(row: TransactionRow) {
    return {
      transaction_id: row.id,
      status: effectiveStatus(row, now()),
      expires_at: row.approval_expires_at.toISOString(),
      summary: row.summary,
      digest: row.digest,
    };
  }
}

export type TransactionService = ReturnType<typeof createTransactionService>;

/** The idempotency fingerprint: canonical JSON of the request without its key. */
export function hashRequest(body: Record<string, unknown>): string {
  const flat: Record<string, string> = {};
  for (const [key, value] of Object.entries(body)) if (value !== undefined) flat[key] = JSON.stringify(value);
  return createHash('sha256').update(canonicalizeStringRecord(flat)).digest('hex');
}

export { findApproval };
