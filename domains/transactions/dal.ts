/**
 * Data access for transactions: the projection, approvals, events. Every
 * function takes an optional knex transaction so services compose writes.
 */
import type { Knex } from 'knex';
import type { DbOrTx } from '../../lib/db';
import { activeWebhookOf } from '../webhooks/dal';
import type { TransactionStatus } from '../../workflows/definitions';
import type { Summary } from './schemas';
import { recordTransition } from './metrics';

export interface TransactionRow {
  id: string;
  seq: string;
  wallet_id: string;
  user_id: string;
  agent_id: string | null;
  origin: 'agent' | 'user';
  kind: 'native' | 'erc20' | 'contract_call';
  chain_id: number;
  from_address: string;
  to_address: string;
  value: string;
  data: string;
  gas_limit: string;
  max_fee_per_gas: string;
  max_priority_fee_per_gas: string;
  approval_expires_at: Date;
  digest: string;
  recipient: string | null;
  token_address: string | null;
  amount: string | null;
  memo: string | null;
  summary: Summary;
  auto_execute: boolean;
  idempotency_key: string | null;
  request_hash: string | null;
  status: TransactionStatus;
  version: number;
  execution_expires_at: Date | null;
  approved_at: Date | null;
  executed_at: Date | null;
  decided_at: Date | null;
  rejection_reason: string | null;
  nonce: string | null;
  tx_hash: string | null;
  block_number: string | null;
  confirmations: number;
  error: string | null;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
}

export type NewTransaction = Omit<
  TransactionRow,
  | 'version'
  | 'execution_expires_at'
  | 'approved_at'
  | 'executed_at'
  | 'decided_at'
  | 'rejection_reason'
  | 'nonce'
  | 'tx_hash'
  | 'block_number'
  | 'confirmations'
  | 'error'
  | 'last_error'
  | 'created_at'
  | 'updated_at'
  | 'status'
  | 'seq'
>;

export const TX = 'transactions';

export async function insertTransaction(db: DbOrTx, row: NewTransaction, now: Date): Promise<TransactionRow> {
  const [inserted] = await db(TX)
    .insert({ ...row, summary: JSON.stringify(row.summary), status: 'pending_approval', version: 1, created_at: now, updated_at: now })
    .returning('*');
  await db('transaction_events').insert({
    transaction_id: row.id,
    user_id: row.user_id,
    agent_id: row.agent_id,
    status: 'pending_approval',
    version: 1,
    created_at: now,
  });
  recordTransition(db, { from: 'none', to: 'pending_approval', at: now });
  return inserted as TransactionRow;
}

export async function findTransaction(db: DbOrTx, id: string): Promise<TransactionRow | undefined> {
  return (await db(TX).where({ id }).first()) as TransactionRow | undefined;
}

/** A transaction and the name of the agent that prepared it (null for the owner's own transfers), in one query. */
export async function findTransactionWithAgentName(db: DbOrTx, id: string): Promise<(TransactionRow & { agent_name: string | null }) | undefined> {
  return (await db(TX)
    .leftJoin('agents', 'agents.id', `${TX}.agent_id`)
    .where(`${TX}.id`, id)
    .first(`${TX}.*`, 'agents.name as agent_name')) as (TransactionRow & { agent_name: string | null }) | undefined;
}

/** The user's transactions among `ids`, in no particular order (unknown and foreign ids are simply absent). */
export async function findOwnedTransactions(db: DbOrTx, userId: string, ids: readonly string[]): Promise<TransactionRow[]> {
  return (await db(TX).whereIn('id', ids).andWhere({ user_id: userId })) as TransactionRow[];
}

export async function findByIdempotencyKey(db: DbOrTx, agentId: string, key: string): Promise<TransactionRow | undefined> {
  return (await db(TX).where({ agent_id: agentId, idempotency_key: key }).first()) as TransactionRow | undefined;
}

export interface ProjectionUpdate {
  transactionId: string;
  status: TransactionStatus;
  version: number;
  at: Date;
  fields?: Partial<Pick<TransactionRow, 'approved_at' | 'executed_at' | 'decided_at' | 'execution_expires_at' | 'nonce' | 'tx_hash' | 'error' | 'rejection_reason' | 'last_error'>>;
}

export interface ProjectionResult {
  /** The write moved the projection (false: a stale or repeated version, or no such transaction). */
  applied: boolean;
  /**
   * The transaction's agent has an active webhook now (see activeWebhookOf),
   * whether or not the write applied: the workflow schedules `notifyWebhooks`
   * only then. Read in the same statement as the write, so no extra round trip.
   */
  agentHasWebhook: boolean;
}

/**
 * Writes a status carried by the workflow's version; never moves backwards
 * (a stale or repeated write changes nothing). Returns whether it applied,
 * and whether the agent has a webhook to tell. Each applied change is one row
 * in transaction_events (SSE and webhooks).
 */
export async function projectStatus(db: DbOrTx, update: ProjectionUpdate): Promise<ProjectionResult> {
  // One statement: the status and its event row commit together (a crash between two statements
  // would lose the event for good), and `target` still answers when `applied` is empty (the API
  // or an earlier attempt wrote this version first).
  const rows = (await db
    // `target` reads the row as it was before this statement (one snapshot): the status it leaves, for the metrics.
    .with('target', (q) => q.from(TX).where({ id: update.transactionId }).select('agent_id', 'status', 'created_at', 'approved_at'))
    .with(
      'applied',
      db(TX)
        .where({ id: update.transactionId })
        .andWhere('version', '<', update.version)
        .update({ status: update.status, version: update.version, updated_at: update.at, ...(update.fields ?? {}) })
        .returning(['user_id', 'agent_id']),
    )
    .with(
      'event',
      db.raw(
        `INSERT INTO transaction_events (transaction_id, user_id, agent_id, status, version, created_at)
         SELECT ?, user_id, agent_id, ?, ?, ? FROM applied
         ON CONFLICT (transaction_id, version) DO NOTHING`,
        [update.transactionId, update.status, update.version, update.at],
      ),
    )
    .from('target')
    .joinRaw('left join applied on true')
    .select(
      'applied.user_id',
      'target.status as from_status',
      'target.created_at',
      'target.approved_at',
      db.raw('exists (?) as agent_has_webhook', [activeWebhookOf(db, db.ref('target.agent_id'), update.at)]),
    )) as {
    user_id: string | null;
    from_status: string;
    created_at: Date;
    approved_at: Date | null;
    agent_has_webhook: boolean;
  }[];
  const row = rows[0];
  const applied = Boolean(row?.user_id);
  if (applied && row!.from_status !== update.status) {
    recordTransition(db, { from: row!.from_status, to: update.status, at: update.at, createdAt: row!.created_at, approvedAt: update.fields?.approved_at ?? row!.approved_at });
  }
  return { applied, agentHasWebhook: row?.agent_has_webhook === true };
}

/** Non-status fields (confirmations, last_error, the signature's nonce and hash) that may change without a transition. */
export async function updateDetails(
  db: DbOrTx,
  transactionId: string,
  fields: Partial<Pick<TransactionRow, 'block_number' | 'confirmations' | 'last_error' | 'executed_at' | 'nonce' | 'tx_hash'>>,
  at: Date,
): Promise<void> {
  await db(TX).where({ id: transactionId }).update({ ...fields, updated_at: at });
}

export interface ApprovalRow {
  id: string;
  transaction_id: string;
  user_id: string;
  mfa_use_id: string;
  digest: string;
  created_at: Date;
}

/**
 * Records the approval of a request and returns its id. A request has at most
 * one: if an earlier attempt recorded it but its Update never reached the
 * workflow (a timeout), the retry — behind a fresh TOTP step — resends that
 * same approval rather than failing on the unique constraint.
 */
export async function recordApproval(db: DbOrTx, row: ApprovalRow): Promise<string> {
  return (await recordApprovals(db, [row])).get(row.transaction_id)!;
}

/**
 * recordApproval for several requests: one insert, and one read for the requests that were
 * approved already (a retried batch). Returns the approval id per transaction id.
 */
export async function recordApprovals(db: DbOrTx, rows: readonly ApprovalRow[]): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  if (rows.length === 0) return ids;
  const inserted = (await db('approvals').insert(rows).onConflict('transaction_id').ignore().returning(['id', 'transaction_id'])) as { id: string; transaction_id: string }[];
  for (const row of inserted) ids.set(row.transaction_id, row.id);
  const missing = rows.filter((row) => !ids.has(row.transaction_id));
  if (missing.length > 0) {
    const existing = (await db('approvals')
      .whereIn(['transaction_id', 'digest'], missing.map((row) => [row.transaction_id, row.digest]))
      .select('id', 'transaction_id')) as { id: string; transaction_id: string }[];
    for (const row of existing) ids.set(row.transaction_id, row.id);
  }
  const vanished = rows.find((row) => !ids.has(row.transaction_id));
  if (vanished) throw new Error('approval row vanished');
  return ids;
}

export async function findApproval(db: DbOrTx, transactionId: string): Promise<ApprovalRow | undefined> {
  return (await db('approvals').where({ transaction_id: transactionId }).first()) as ApprovalRow | undefined;
}

export interface ListFilter {
  userId?: string;
  agentId?: string;
  status?: TransactionStatus;
  walletAddress?: string;
  /** Exclusive upper bound on the list position (newest first). */
  before?: string;
  limit: number;
  /** Pending or approved rows past their window read as expired (see view.ts). */
  now: Date;
}

/** Newest first; the cursor is the `seq` of the last row returned. */
export async function listTransactions(db: DbOrTx, filter: ListFilter): Promise<TransactionRow[]> {
  const query = db(TX).select('*').orderBy('seq', 'desc').limit(filter.limit);
  if (filter.userId) query.where('user_id', filter.userId);
  if (filter.agentId) query.where('agent_id', filter.agentId);
  if (filter.status === 'pending_approval') query.where('status', 'pending_approval').andWhere('approval_expires_at', '>', filter.now);
  else if (filter.status === 'approved') {
    query.where('status', 'approved').andWhere((q) => q.whereNull('execution_expires_at').orWhere('execution_expires_at', '>', filter.now));
  } else if (filter.status === 'expired') {
    query.where((q) =>
      q
        .where('status', 'expired')
        .orWhere((p) => p.where('status', 'pending_approval').andWhere('approval_expires_at', '<=', filter.now))
        .orWhere((p) => p.where('status', 'approved').andWhere('execution_expires_at', '<=', filter.now)),
    );
  } else if (filter.status) query.where('status', filter.status);
  if (filter.walletAddress) query.where('from_address', filter.walletAddress.toLowerCase());
  if (filter.before) query.where('seq', '<', filter.before);
  return (await query) as TransactionRow[];
}

export type Trx = Knex.Transaction;
