/**
 * The decisions on a request: the owner approves (TOTP) or rejects, the
 * preparing agent executes, the owner or the agent cancels.
 *
 * Each is written to PostgreSQL first — an approval row behind the TOTP gate,
 * or a command row — and the Update sent to the workflow names that record;
 * the workflow verifies it, and the signing gate checks again.
 *
 * Order of checks (docs/http-contract.md): object lookup (404 for unknown and foreign
 * alike, before any TOTP step is consumed) → MFA → state (409).
 */
import { randomUUID } from 'node:crypto';
import { mapLimit } from '../../lib/concurrency';
import { AppError, invalidState, notFound } from '../../lib/errors';
import { requestOrigin } from '../audit';
import {
  approveUpdate,
  cancelUpdate,
  executeUpdate,
  rejectUpdate,
  SIGNING_STARTED_STATUSES,
  TERMINAL_STATUSES,
  type Caller,
  type RefusalReason,
} from '../../workflows/definitions';
import type { AgentCaller, RequestMeta, TransactionContext } from './context';
import { findOwnedTransactions, findTransaction, findTransactionWithAgentName, recordApprovals, setRejectionReason } from './dal';
import type { TransactionRow } from './rows';
import type { AuthorizeBody, TransactionView } from './schemas';
import { effectiveStatus } from './view';

/** Approve Updates in flight at once for one batch: enough to overlap round trips, few enough not to flood the worker. */
const APPROVAL_UPDATE_CONCURRENCY = 8;

interface Problem {
  code: 'invalid_state';
  reason: RefusalReason | 'stale_digest';
  message: string;
}

/** Why a request cannot be approved or rejected now (with the digest the approver saw, if any). */
function decisionProblem(ctx: TransactionContext, row: TransactionRow, submittedDigest: string | undefined): Problem | undefined {
  const status = effectiveStatus(row, ctx.now());
  if (status === 'expired') return { code: 'invalid_state', reason: 'expired', message: 'the transaction has expired' };
  if (status !== 'pending_approval') return { code: 'invalid_state', reason: 'already_decided', message: 'the transaction has already been decided' };
  if (submittedDigest !== undefined && submittedDigest.toLowerCase() !== row.digest) {
    return { code: 'invalid_state', reason: 'stale_digest', message: 'the request changed since it was shown: review it again' };
  }
  return undefined;
}

/** The request as it stands after a decision, as `caller` sees it (one query, with its agent's name). */
async function view(ctx: TransactionContext, caller: Caller, transactionId: string): Promise<TransactionView> {
  const [view] = await ctx.presentFor(caller, [(await findTransactionWithAgentName(ctx.deps.db, transactionId))!]);
  return view!;
}

type Result = { status: TransactionView['status']; error?: { code: string; message: string; reason?: string } };

/** POST /api/authorize_transaction — one TOTP code approves one or several requests. */
export async function authorizeTransactions(ctx: TransactionContext, userId: string, body: AuthorizeBody, meta: RequestMeta) {
  const { db, audit, mfa } = ctx.deps;
  const single = 'transaction_id' in body;
  const ids = single ? [body.transaction_id] : [...new Set(body.transaction_ids)];
  const submittedDigests = single ? [body.digest] : body.digests;

  // 1. Object lookup before the TOTP step is consumed: unknown and foreign ids are both 404.
  const found = new Map((await findOwnedTransactions(db, userId, ids)).map((row) => [row.id, row]));
  const rows = ids.map((id) => {
    const row = found.get(id);
    if (!row) throw notFound('transaction');
    return row;
  });

  // A digest list that does not pair up with the ids cannot show what the owner reviewed.
  // It matches the published schema (JSON Schema cannot tie two arrays' lengths), so it is
  // not a 400 (docs/http-contract.md): like any digest that differs, it is 409 stale_digest.
  if (!single && submittedDigests.length !== body.transaction_ids.length) {
    throw invalidState('stale_digest', 'digests must list one digest per transaction id, in the same order: review the requests again');
  }
  const digestFor = new Map<string, string>();
  (single ? ids : body.transaction_ids).forEach((id, i) => digestFor.set(id, submittedDigests[i]!));

  // 2. State and digest, per request.
  const results = new Map<string, Result>();
  const approvable: TransactionRow[] = [];
  for (const row of rows) {
    const problem = decisionProblem(ctx, row, digestFor.get(row.id));
    if (problem) results.set(row.id, { status: effectiveStatus(row, ctx.now()), error: problem });
    else approvable.push(row);
  }
  if (approvable.length === 0) {
    const first = results.get(rows[0]!.id)!.error as Problem;
    throw invalidState(first.reason, first.message);
  }

  // 3. The one TOTP gate and the approval rows, in one database transaction.
  const approvals = await db.transaction(async (trx) => {
    const { mfaUseId } = await mfa.verifyAndConsume({ userId, code: body.mfa_code, purpose: 'approve_transactions', trx, meta });
    const approvalIds = await recordApprovals(
      trx,
      approvable.map((row) => ({ id: randomUUID(), transaction_id: row.id, user_id: userId, mfa_use_id: mfaUseId, digest: row.digest, created_at: ctx.now() })),
    );
    await audit.appendMany(
      approvable.map((row) => ({
        action: 'transaction.approved',
        actorType: 'user' as const,
        actorId: userId,
        subjectType: 'transaction',
        subjectId: row.id,
        ...requestOrigin(meta),
        data: { digest: row.digest, mfa_use_id: mfaUseId },
      })),
      trx,
    );
    return approvable.map((row) => ({ row, approvalId: approvalIds.get(row.id)! }));
  });

  // 4. Tell each workflow, a few at a time; the approval id deduplicates retried Updates.
  await mapLimit(approvals, APPROVAL_UPDATE_CONCURRENCY, async ({ row, approvalId }) => {
    try {
      const state = await ctx.sendUpdate(row, approveUpdate, { approvalId }, approvalId);
      results.set(row.id, { status: state.status });
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      // One request: its own error is the answer, with its headers (Retry-After on a 503).
      if (single) throw err;
      const reason = err.extra?.reason as string | undefined;
      results.set(row.id, { status: effectiveStatus((await findTransaction(db, row.id)) ?? row, ctx.now()), error: { code: err.code, message: err.message, ...(reason ? { reason } : {}) } });
    }
  });

  const ordered = rows.map((row) => ({ transaction_id: row.id, ...results.get(row.id)! }));
  if (single) {
    const only = ordered[0]!;
    return { transaction_id: only.transaction_id, status: only.status, results: ordered };
  }
  return { results: ordered };
}

/** POST /api/reject_transaction — the owner refuses a pending request, with a reason. */
export async function rejectTransaction(ctx: TransactionContext, userId: string, transactionId: string, reason: string, meta: RequestMeta) {
  const row = await ctx.loadOwned(userId, transactionId);
  const problem = decisionProblem(ctx, row, undefined);
  if (problem) throw invalidState(problem.reason, problem.message);
  // Code points, as the schema counts them: a UTF-16 slice could keep half a surrogate pair.
  const kept = Array.from(reason).slice(0, 500).join('');
  const commandId = await ctx.recordCallerCommand(row, 'reject', { type: 'user', id: userId }, kept);
  await ctx.sendUpdate(row, rejectUpdate, { commandId }, commandId);
  await setRejectionReason(ctx.deps.db, row.id, kept);
  await ctx.deps.audit.append({ action: 'transaction.rejected', actorType: 'user', actorId: userId, subjectType: 'transaction', subjectId: row.id, ...requestOrigin(meta) });
  return view(ctx, { type: 'user', id: userId }, row.id);
}

/**
 * POST /api/execute_transaction — the preparing agent starts signing an approved request.
 * Idempotent for its agent: a request already executing or done answers with its current
 * status (`replayed`, 200) instead of a conflict; not approved, expired, rejected and
 * cancelled stay 409.
 */
export async function executeTransaction(ctx: TransactionContext, agent: AgentCaller, transactionId: string, meta: RequestMeta): Promise<{ replayed: boolean; view: TransactionView }> {
  const row = await ctx.loadVisible({ type: 'agent', id: agent.agentId }, transactionId);
  const status = effectiveStatus(row, ctx.now());
  if (SIGNING_STARTED_STATUSES.includes(status)) return { replayed: true, view: await view(ctx, { type: 'agent', id: agent.agentId }, row.id) };
  if (status === 'pending_approval') throw invalidState('not_approved', 'the transaction has not been approved');
  if (status === 'expired') throw invalidState('expired', 'the transaction has expired');
  const commandId = await ctx.recordCallerCommand(row, 'execute', { type: 'agent', id: agent.agentId }, null, async (trx) => {
    await ctx.deps.audit.append({ action: 'transaction.execute_requested', actorType: 'agent', actorId: agent.agentId, subjectType: 'transaction', subjectId: row.id, ...requestOrigin(meta) }, trx);
  });
  try {
    await ctx.sendUpdate(row, executeUpdate, { commandId }, commandId);
  } catch (err) {
    // The workflow moved on before the projection said so: signing began, which is what was asked.
    if (err instanceof AppError && err.extra?.reason === 'signing_started') return { replayed: true, view: await view(ctx, { type: 'agent', id: agent.agentId }, row.id) };
    throw err;
  }
  return { replayed: false, view: await view(ctx, { type: 'agent', id: agent.agentId }, row.id) };
}

/** POST /api/transactions/:id/cancel — the owner or the preparing agent, until signing starts. */
/** Refuses (409) a cancel of a request that expired, was decided or began signing — whoever asks (the owner, the agent, an operator). */
export function assertCancellable(row: TransactionRow, now: Date): void {
  const status = effectiveStatus(row, now);
  if (status === 'expired') throw invalidState('expired', 'the transaction has expired');
  if (TERMINAL_STATUSES.includes(status) || SIGNING_STARTED_STATUSES.includes(status)) {
    throw invalidState(SIGNING_STARTED_STATUSES.includes(status) ? 'signing_started' : 'already_decided', 'the transaction can no longer be cancelled');
  }
}

export async function cancelTransaction(ctx: TransactionContext, caller: Caller, transactionId: string, meta: RequestMeta) {
  const row = await ctx.loadVisible(caller, transactionId);
  assertCancellable(row, ctx.now());
  const commandId = await ctx.recordCallerCommand(row, 'cancel', caller, null);
  await ctx.sendUpdate(row, cancelUpdate, { commandId }, commandId);
  await ctx.deps.audit.append({ action: 'transaction.cancelled', actorType: caller.type, actorId: caller.id, subjectType: 'transaction', subjectId: row.id, ...requestOrigin(meta) });
  return view(ctx, caller, row.id);
}
