/**
 * The operator's commands (`npm run admin`, scripts/admin.ts): find stuck
 * requests, look at one, stop one, re-drive missing workflows, re-send
 * webhook notifications, freeze a wallet or an agent, verify the audit chain.
 *
 * They run as the schema owner (the operator's credential, not an app's) and
 * talk to Temporal through the payload codec, as the API does. Every change
 * is audited with actor `operator` and the operator's name. None of them can
 * move a request toward a signature: approving stays the owner's.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Db } from '../lib/db';
import { notFound } from '../lib/errors';
import type { AuditLog } from '../domains/audit';
import { verifyChain, type ChainVerification } from '../domains/audit';
import { cancelAsOperator, createTransactionWorkflows, effectiveStatus, type ReconcileReport, type TransactionRow } from '../domains/transactions';
import { TERMINAL_STATUSES, transactionWorkflowId, type TransactionState, type TransactionStatus } from '../workflows/definitions';
import type { reconcileWorkflow } from '../workflows/reconcile';
import type { resendNotificationsWorkflow } from '../workflows/resend';

export interface AdminDeps {
  /** The schema owner's connection (MIGRATION_DATABASE_URL). */
  db: Db;
  /** A client with the history codec (domains/history), as the API's, and the task queue; only the commands that reach workflows need it. */
  temporal?: { client: Client; taskQueue: string };
  audit: Pick<AuditLog, 'append'>;
  now: () => Date;
  /** Who runs the command, for the audit log (--operator, else the login name). */
  operator: string;
}

function temporalOf(deps: AdminDeps): { client: Client; taskQueue: string } {
  if (!deps.temporal) throw new Error('this command needs Temporal');
  return deps.temporal;
}

/** Temporal's view of a request's workflow: its execution status, or `missing` when it never started. */
export type WorkflowState = string;

async function workflowStateOf(temporal: Client, transactionId: string): Promise<WorkflowState> {
  try {
    return (await temporal.workflow.getHandle(transactionWorkflowId(transactionId)).describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'missing';
    throw err;
  }
}

export interface StuckRequest {
  id: string;
  /** As stored in the projection. */
  status: TransactionStatus;
  /** As a reader is told (a waiting request past its deadline reads expired). */
  effectiveStatus: TransactionStatus;
  createdAt: Date;
  /** Since the projection last moved. */
  updatedAt: Date;
  walletId: string;
  agentId: string | null;
  error: string | null;
  workflow: WorkflowState;
}

/** Requests not yet final whose status has not moved for `olderThanMs`, oldest first, with their workflow's state. */
export async function listStuck(deps: AdminDeps, options: { olderThanMs: number; statuses?: readonly TransactionStatus[]; limit: number }): Promise<StuckRequest[]> {
  const before = new Date(deps.now().getTime() - options.olderThanMs);
  const query = deps.db('transactions').whereNotIn('status', [...TERMINAL_STATUSES]).andWhere('updated_at', '<', before).orderBy([{ column: 'updated_at' }, { column: 'id' }]).limit(options.limit);
  if (options.statuses?.length) query.whereIn('status', [...options.statuses]);
  const rows = (await query.select('*')) as TransactionRow[];
  const out: StuckRequest[] = [];
  for (const row of rows) {
    out.push({
      id: row.id,
      status: row.status,
      effectiveStatus: effectiveStatus(row, deps.now()),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      walletId: row.wallet_id,
      agentId: row.agent_id,
      error: row.error,
      workflow: await workflowStateOf(temporalOf(deps).client, row.id),
    });
  }
  return out;
}

export interface TransactionDossier {
  request: Record<string, unknown>;
  events: Array<{ version: number; status: string; at: Date }>;
  commands: Array<{ kind: string; actor: string; reason: string | null; at: Date }>;
  approval: { id: string; userId: string; digest: string; at: Date } | null;
  signed: { txHash: string; nonce: string; at: Date } | null;
  audit: Array<{ id: string; action: string; actor: string; at: Date }>;
  workflow: {
    state: WorkflowState;
    runId?: string;
    startedAt?: Date;
    closedAt?: Date | null;
    historyLength?: number;
    pendingActivities?: Array<{ type: string; attempt: number; lastFailure: string | null }>;
  };
}

/** Everything recorded about one request: the row, its status history, commands, approval, signature, audit entries and workflow. */
export async function showTransaction(deps: AdminDeps, transactionId: string): Promise<TransactionDossier> {
  const row = (await deps.db('transactions').where({ id: transactionId }).first()) as TransactionRow | undefined;
  if (!row) throw notFound('transaction');
  const [events, commands, approval, signed, audit] = await Promise.all([
    deps.db('transaction_events').where({ transaction_id: row.id }).orderBy('version').select('version', 'status', 'created_at'),
    deps.db('transaction_commands').where({ transaction_id: row.id }).orderBy('created_at').select('kind', 'actor_type', 'actor_id', 'reason', 'created_at'),
    deps.db('approvals').where({ transaction_id: row.id }).first('id', 'user_id', 'digest', 'created_at'),
    deps.db('signed_transactions').where({ transaction_id: row.id }).first('tx_hash', 'nonce', 'created_at'),
    deps.db('audit_events').where({ subject_type: 'transaction', subject_id: row.id }).orderBy('id').select('id', 'action', 'actor_type', 'actor_id', 'created_at'),
  ]);
  return {
    request: { ...row, effective_status: effectiveStatus(row, deps.now()) },
    events: (events as Array<{ version: number; status: string; created_at: Date }>).map((e) => ({ version: e.version, status: e.status, at: e.created_at })),
    commands: (commands as Array<{ kind: string; actor_type: string; actor_id: string; reason: string | null; created_at: Date }>).map((c) => ({
      kind: c.kind,
      actor: c.actor_type === 'operator' ? 'operator' : `${c.actor_type} ${c.actor_id}`,
      reason: c.reason,
      at: c.created_at,
    })),
    approval: approval ? { id: approval.id as string, userId: approval.user_id as string, digest: approval.digest as string, at: approval.created_at as Date } : null,
    signed: signed ? { txHash: signed.tx_hash as string, nonce: String(signed.nonce), at: signed.created_at as Date } : null,
    audit: (audit as Array<{ id: string; action: string; actor_type: string; actor_id: string | null; created_at: Date }>).map((a) => ({
      id: String(a.id),
      action: a.action,
      actor: a.actor_id ? `${a.actor_type} ${a.actor_id}` : a.actor_type,
      at: a.created_at,
    })),
    workflow: await describeWorkflow(temporalOf(deps).client, row.id),
  };
}

async function describeWorkflow(temporal: Client, transactionId: string): Promise<TransactionDossier['workflow']> {
  try {
    const described = await temporal.workflow.getHandle(transactionWorkflowId(transactionId)).describe();
    return {
      state: described.status.name,
      runId: described.runId,
      startedAt: described.startTime,
      closedAt: described.closeTime ?? null,
      historyLength: described.historyLength,
      pendingActivities: (described.raw.pendingActivities ?? []).map((a) => ({
        type: a.activityType?.name ?? '?',
        attempt: a.attempt ?? 0,
        lastFailure: a.lastFailure?.message ?? null,
      })),
    };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { state: 'missing' };
    throw err;
  }
}

/** Cancels a request before signing (domains/transactions/operator.ts). */
export async function cancel(deps: AdminDeps, transactionId: string, reason: string): Promise<TransactionState> {
  const workflows = createTransactionWorkflows(temporalOf(deps));
  return cancelAsOperator({ db: deps.db, workflows, audit: deps.audit, now: deps.now }, transactionId, { operator: deps.operator, reason });
}

/**
 * Runs one reconciler pass now (the schedule runs one every half minute),
 * on a worker: it starts the workflow of every waiting request older than
 * `graceMs` that has none, and resumes that of every in-flight one
 * (approved, signing, broadcast: after a restore) (domains/transactions/reconcile.ts).
 */
export async function redrive(deps: AdminDeps, options: { graceMs: number }): Promise<ReconcileReport> {
  const { client, taskQueue } = temporalOf(deps);
  const report = await client.workflow.execute<typeof reconcileWorkflow>('reconcileWorkflow', {
    taskQueue,
    workflowId: `reconcile-admin-${deps.now().getTime()}`,
    args: [{ graceMs: options.graceMs }],
    workflowExecutionTimeout: '5 minutes',
  });
  await deps.audit.append({ action: 'reconciler.run_by_operator', actorType: 'operator', data: { operator: deps.operator, started: report.started, resumed: report.resumed ?? [], checked: report.checked } });
  return report;
}

/** Starts the re-send of a transaction's failed webhook deliveries (workflows/resend.ts); `wait` for the versions re-sent. */
export async function resend(deps: AdminDeps, transactionId: string, options: { wait: boolean }): Promise<{ workflowId: string; versions?: number[] }> {
  const row = (await deps.db('transactions').where({ id: transactionId }).first('id')) as { id: string } | undefined;
  if (!row) throw notFound('transaction');
  const workflowId = `resend-${transactionId}-${deps.now().getTime()}`;
  const { client, taskQueue } = temporalOf(deps);
  const handle = await client.workflow.start<typeof resendNotificationsWorkflow>('resendNotificationsWorkflow', {
    taskQueue,
    workflowId,
    args: [{ transactionId }],
  });
  await deps.audit.append({ action: 'transaction.notifications_resent', actorType: 'operator', subjectType: 'transaction', subjectId: transactionId, data: { operator: deps.operator, workflowId } });
  if (!options.wait) return { workflowId };
  return { workflowId, ...(await handle.result()) };
}

export type FreezeTarget = 'wallet' | 'agent';
const TABLE: Record<FreezeTarget, string> = { wallet: 'wallets', agent: 'agents' };

/**
 * Freezes a wallet (nothing is signed for it) or an agent (its key is refused
 * and nothing it prepared is signed). The first freeze's reason stands.
 * Returns false when it was frozen already.
 */
export async function freeze(deps: AdminDeps, target: FreezeTarget, id: string, reason: string): Promise<boolean> {
  return deps.db.transaction(async (trx) => {
    const exists = await trx(TABLE[target]).where({ id }).first('id');
    if (!exists) throw notFound(target);
    const changed = await trx(TABLE[target]).where({ id }).whereNull('frozen_at').update({ frozen_at: deps.now(), frozen_reason: `${deps.operator}: ${reason}`.slice(0, 500) });
    if (changed > 0) await deps.audit.append({ action: `${target}.frozen`, actorType: 'operator', subjectType: target, subjectId: id, data: { operator: deps.operator, reason } }, trx);
    return changed > 0;
  });
}

/** Lifts a freeze. Returns false when it was not frozen. */
export async function unfreeze(deps: AdminDeps, target: FreezeTarget, id: string, reason: string): Promise<boolean> {
  return deps.db.transaction(async (trx) => {
    const row = (await trx(TABLE[target]).where({ id }).first('frozen_at', 'frozen_reason')) as { frozen_at: Date | null; frozen_reason: string | null } | undefined;
    if (!row) throw notFound(target);
    if (!row.frozen_at) return false;
    await trx(TABLE[target]).where({ id }).update({ frozen_at: null, frozen_reason: null });
    await deps.audit.append(
      { action: `${target}.unfrozen`, actorType: 'operator', subjectType: target, subjectId: id, data: { operator: deps.operator, reason, was: row.frozen_reason } },
      trx,
    );
    return true;
  });
}

/** Recomputes the audit log's HMAC chain; `expectCount` also catches rows cut from the end (a shorter chain still verifies). */
export async function auditVerify(db: Db, hmacKey: string, expectCount?: number): Promise<{ intact: boolean; line: string; verification: ChainVerification }> {
  const verification = await verifyChain(db, hmacKey);
  if (!verification.ok) {
    const why = verification.reason === 'prev_mismatch' ? 'its prev_hmac does not link to the row before (a row was removed or reordered)' : 'its contents do not match its HMAC (the row was altered)';
    return { intact: false, verification, line: `audit chain BROKEN at event id ${verification.brokenId}: ${why}; ${verification.count} events before it verify` };
  }
  if (expectCount !== undefined && verification.count < expectCount) {
    return { intact: false, verification, line: `audit chain TRUNCATED: ${verification.count} events verify, but ${expectCount} were expected` };
  }
  return { intact: true, verification, line: `audit chain OK: ${verification.count} events verify` };
}
