/**
 * Data access for transactions: the projection, approvals, commands, events,
 * and the custody tables (signed bytes, nonces). Every query is a named
 * function taking a connection or a transaction, so services and the signing
 * gate compose writes atomically. Rows on the custody path are parsed
 * (rows.ts), not cast.
 */
import { z } from 'zod';
import type { DbOrTx } from '../../lib/db';
import { agentLabelsColumn } from '../policies';
import { activeWebhookOf } from '../webhooks';
import type { CommandKind, TransactionStatus } from '../../workflows/definitions';
import {
  parseRow,
  SignableWalletSchema,
  SignedTransactionRowSchema,
  TransactionRowSchema,
  type SignableWallet,
  type SignedTransactionRow,
  type TransactionRow,
} from './rows';
import { recordTransition } from './metrics';

export type { TransactionRow } from './rows';

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
  | 'last_event_id'
>;

export const TX = 'transactions';

export async function insertTransaction(db: DbOrTx, row: NewTransaction, now: Date): Promise<TransactionRow> {
  const [inserted] = (await db(TX)
    .insert({ ...row, summary: JSON.stringify(row.summary), status: 'pending_approval', version: 1, created_at: now, updated_at: now })
    .returning('*')) as unknown[];
  await db('transaction_events').insert({
    transaction_id: row.id,
    user_id: row.user_id,
    agent_id: row.agent_id,
    status: 'pending_approval',
    version: 1,
    created_at: now,
  });
  recordTransition(db, { from: 'none', to: 'pending_approval', at: now });
  return TransactionRowSchema.parse(inserted);
}

export async function findTransaction(db: DbOrTx, id: string): Promise<TransactionRow | undefined> {
  return parseRow(TransactionRowSchema, await db(TX).where({ id }).first());
}

/** The request, locked for the rest of the caller's transaction (the signing gate's re-check). */
export async function lockTransaction(trx: DbOrTx, id: string): Promise<TransactionRow | undefined> {
  return parseRow(TransactionRowSchema, await trx(TX).where({ id }).forUpdate().first());
}

/** `last_event_id` of each row read from `transactions` (one index probe on transaction_events per row). */
export const lastEventIdColumn = (db: DbOrTx) => db.raw(`(select max(e.id) from transaction_events e where e.transaction_id = ${TX}.id) as last_event_id`);

/**
 * What a view is made of: the row, its agent's name, the id of its newest
 * event and the address-book labels its preparing agent may see
 * (domains/policies agentLabelsColumn; the owner's view reads its own).
 */
const ViewRowSchema = TransactionRowSchema.extend({
  agent_name: z.string().nullable(),
  last_event_id: z.string().regex(/^[0-9]+$/).nullable(),
  agent_labels: z.array(z.object({ address: z.string(), label: z.string() })),
});
export type ViewRow = z.output<typeof ViewRowSchema>;

const viewColumns = (db: DbOrTx) => [`${TX}.*`, 'agents.name as agent_name', lastEventIdColumn(db), agentLabelsColumn(db)];

/** A transaction, the name of the agent that prepared it (null for the owner's own transfers), its last event id and its agent's labels, in one query. */
export async function findTransactionWithAgentName(db: DbOrTx, id: string): Promise<ViewRow | undefined> {
  return parseRow(ViewRowSchema, await db(TX).leftJoin('agents', 'agents.id', `${TX}.agent_id`).where(`${TX}.id`, id).first(...viewColumns(db)));
}

/** The user's transactions among `ids`, in no particular order (unknown and foreign ids are simply absent). */
export async function findOwnedTransactions(db: DbOrTx, userId: string, ids: readonly string[]): Promise<TransactionRow[]> {
  return ((await db(TX).whereIn('id', ids).andWhere({ user_id: userId })) as unknown[]).map((row) => TransactionRowSchema.parse(row));
}

/**
 * Requests still waiting for approval, their window still open, committed at or
 * before `createdBefore` — oldest first, after the (`created_at`, `id`) cursor
 * `after` — for the reconciler. Served by the partial index of migration 012.
 */
export async function findWaitingRequests(
  db: DbOrTx,
  args: { now: Date; createdBefore: Date; after?: { createdAt: Date; id: string }; limit: number },
): Promise<TransactionRow[]> {
  const query = db(TX)
    .where({ status: 'pending_approval' })
    .andWhere('approval_expires_at', '>', args.now)
    .andWhere('created_at', '<=', args.createdBefore)
    .orderBy([{ column: 'created_at' }, { column: 'id' }])
    .limit(args.limit);
  if (args.after) query.andWhereRaw('(created_at, id) > (?, ?)', [args.after.createdAt, args.after.id]);
  return ((await query) as unknown[]).map((row) => TransactionRowSchema.parse(row));
}

/**
 * Requests past approval and not final — `approved` with its execution window
 * still open, `signing`, `broadcast` — whose status has not moved since
 * `movedBefore`, oldest first after the (`created_at`, `id`) cursor: for the
 * reconciler, which resumes the workflow of any that has none (a restore into a
 * fresh Temporal). Served by the partial index of migration 015.
 */
export async function findInFlightRequests(
  db: DbOrTx,
  args: { now: Date; movedBefore: Date; after?: { createdAt: Date; id: string }; limit: number },
): Promise<TransactionRow[]> {
  const query = db(TX)
    .whereIn('status', ['approved', 'signing', 'broadcast'])
    .andWhere((q) => q.whereNot('status', 'approved').orWhere('execution_expires_at', '>', args.now))
    .andWhere('updated_at', '<=', args.movedBefore)
    .orderBy([{ column: 'created_at' }, { column: 'id' }])
    .limit(args.limit);
  if (args.after) query.andWhereRaw('(created_at, id) > (?, ?)', [args.after.createdAt, args.after.id]);
  return ((await query) as unknown[]).map((row) => TransactionRowSchema.parse(row));
}

export async function findByIdempotencyKey(db: DbOrTx, agentId: string, key: string): Promise<TransactionRow | undefined> {
  return parseRow(TransactionRowSchema, await db(TX).where({ agent_id: agentId, idempotency_key: key }).first());
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

export interface CommandRow {
  id: string;
  transaction_id: string;
  kind: CommandKind;
  /** 'operator' only for a cancel (a CHECK constraint), with OPERATOR_ACTOR_ID (operator.ts). */
  actor_type: 'user' | 'agent' | 'operator';
  actor_id: string;
  reason: string | null;
  created_at: Date;
}

/**
 * Records an execute, reject or cancel command and returns its id (the Update
 * names it and is deduplicated by it). One of each kind per request: a retry
 * resends the command already recorded.
 */
export async function recordCommand(db: DbOrTx, row: CommandRow): Promise<{ id: string; created: boolean }> {
  const [inserted] = (await db('transaction_commands').insert(row).onConflict(['transaction_id', 'kind']).ignore().returning('id')) as { id: string }[];
  if (inserted) return { id: inserted.id, created: true };
  const existing = (await db('transaction_commands').where({ transaction_id: row.transaction_id, kind: row.kind }).first('id')) as { id: string } | undefined;
  if (!existing) throw new Error('command row vanished');
  return { id: existing.id, created: false };
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

/** Newest first, each with its agent's name; the cursor is the `seq` of the last row returned. */
export async function listTransactions(db: DbOrTx, filter: ListFilter): Promise<ViewRow[]> {
  const query = db(TX).leftJoin('agents', 'agents.id', `${TX}.agent_id`).select(...viewColumns(db)).orderBy('seq', 'desc').limit(filter.limit);
  if (filter.userId) query.where(`${TX}.user_id`, filter.userId);
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
  return ((await query) as unknown[]).map((row) => ViewRowSchema.parse(row));
}

/** Has the wallet sent to this recipient before (broadcast or confirmed)? Drives the `new_recipient` warning. */
export async function hasSentTo(db: DbOrTx, walletId: string, recipient: string): Promise<boolean> {
  const row = await db(TX).where({ wallet_id: walletId, recipient }).whereIn('status', ['broadcast', 'confirmed']).first('id');
  return row !== undefined;
}

/** The owner's reason for a rejection (a display column, not part of the frozen request). */
export async function setRejectionReason(db: DbOrTx, transactionId: string, reason: string): Promise<void> {
  await db(TX).where({ id: transactionId }).update({ rejection_reason: reason });
}

// ---------------------------------------------------------------------------------------------
// What the signing gate reads

/**
 * The one check that an approval counts: recorded for this request over
 * `digest` (the caller recomputes it from the frozen columns), by the user who
 * owns the request's wallet now, behind a TOTP use of that same user. With
 * `approvalId`, only that approval (the one a message names).
 */
export async function findValidApproval(db: DbOrTx, args: { transactionId: string; digest: string; approvalId?: string }): Promise<{ id: string } | undefined> {
  const query = db('approvals as a')
    .join('mfa_uses as m', 'm.id', 'a.mfa_use_id')
    .join(`${TX} as t`, 't.id', 'a.transaction_id')
    .join('wallets as w', 'w.id', 't.wallet_id')
    .where({ 'a.transaction_id': args.transactionId, 'a.digest': args.digest })
    .whereRaw('a.user_id = w.user_id')
    .whereRaw('m.user_id = a.user_id');
  if (args.approvalId !== undefined) query.andWhere('a.id', args.approvalId);
  return (await query.first('a.id')) as { id: string } | undefined;
}

/**
 * A command (execute, reject, cancel) recorded for this request by someone
 * allowed to give it: execute by the preparing agent; reject by the owner;
 * cancel by the owner, the preparing agent or an operator. With `commandId`, only that one.
 */
export async function findValidCommand(db: DbOrTx, args: { transactionId: string; kind: CommandKind; commandId?: string }): Promise<{ id: string } | undefined> {
  const query = db('transaction_commands as c')
    .join(`${TX} as t`, 't.id', 'c.transaction_id')
    .where({ 'c.transaction_id': args.transactionId, 'c.kind': args.kind })
    .andWhere((q) => {
      if (args.kind !== 'execute') q.orWhere((o) => o.where('c.actor_type', 'user').whereRaw('c.actor_id = t.user_id'));
      if (args.kind !== 'reject') q.orWhere((o) => o.where('c.actor_type', 'agent').whereRaw('c.actor_id = t.agent_id'));
      // An operator may only stop a request (migrations/013_operator_controls.ts).
      if (args.kind === 'cancel') q.orWhere('c.actor_type', 'operator');
    });
  if (args.commandId !== undefined) query.andWhere('c.id', args.commandId);
  return (await query.first('c.id')) as { id: string } | undefined;
}

export async function findSignableWallet(db: DbOrTx, walletId: string): Promise<SignableWallet | undefined> {
  return parseRow(SignableWalletSchema, await db('wallets').where({ id: walletId }).first('id', 'user_id', 'address', 'frozen_at', 'key_ciphertext'));
}

/** Has an operator frozen this agent? (The signing gate refuses what a frozen agent prepared.) */
export async function isAgentFrozen(db: DbOrTx, agentId: string): Promise<boolean> {
  const row = (await db('agents').where({ id: agentId }).first('frozen_at')) as { frozen_at: Date | null } | undefined;
  return Boolean(row?.frozen_at);
}

/** Stops all signing for a wallet (first freeze wins; the reason of a later one is not recorded). */
export async function freezeWallet(db: DbOrTx, walletId: string, reason: string, at: Date): Promise<void> {
  await db('wallets').where({ id: walletId }).whereNull('frozen_at').update({ frozen_at: at, frozen_reason: reason });
}

// ---------------------------------------------------------------------------------------------
// Signed bytes (append-only, first writer wins)

export async function findSignedTransaction(db: DbOrTx, transactionId: string): Promise<SignedTransactionRow | undefined> {
  return parseRow(SignedTransactionRowSchema, await db('signed_transactions').where({ transaction_id: transactionId }).first('transaction_id', 'wallet_id', 'chain_id', 'nonce', 'raw', 'tx_hash'));
}

export interface NewSignedTransaction {
  transaction_id: string;
  wallet_id: string;
  chain_id: number;
  nonce: string;
  raw: string;
  tx_hash: string;
  max_fee_per_gas: string;
  max_priority_fee_per_gas: string;
  created_at: Date;
}

/** One per request (primary key): a second insert fails, so the first signature is the only one. */
export async function insertSignedTransaction(trx: DbOrTx, row: NewSignedTransaction): Promise<void> {
  await trx('signed_transactions').insert(row);
}

// ---------------------------------------------------------------------------------------------
// Nonces: PostgreSQL is authoritative after a (wallet, chain) is first used

export async function nonceCounterExists(db: DbOrTx, walletId: string, chainId: number): Promise<boolean> {
  return (await db('wallet_nonces').where({ wallet_id: walletId, chain_id: chainId }).first('next_nonce')) !== undefined;
}

/** Seeds the counter from the chain's pending count; a counter that exists already is kept. */
export async function seedNonceCounter(trx: DbOrTx, walletId: string, chainId: number, next: number): Promise<void> {
  await trx('wallet_nonces').insert({ wallet_id: walletId, chain_id: chainId, next_nonce: next }).onConflict(['wallet_id', 'chain_id']).ignore();
}

/** The next fresh nonce, with the (wallet, chain) row locked until the caller commits. */
export async function lockNonceCounter(trx: DbOrTx, walletId: string, chainId: number): Promise<number | undefined> {
  const row = (await trx('wallet_nonces').where({ wallet_id: walletId, chain_id: chainId }).forUpdate().first('next_nonce')) as { next_nonce: string } | undefined;
  return row === undefined ? undefined : Number(row.next_nonce);
}

export async function advanceNonceCounter(trx: DbOrTx, walletId: string, chainId: number, next: number): Promise<void> {
  await trx('wallet_nonces').where({ wallet_id: walletId, chain_id: chainId }).update({ next_nonce: next });
}

/** The lowest voided nonce (it never reached a node) that no live request holds again, if any. */
export async function lowestReusableNonce(trx: DbOrTx, walletId: string, chainId: number): Promise<number | undefined> {
  const row = (await trx('nonce_assignments as v')
    .where({ 'v.wallet_id': walletId, 'v.chain_id': chainId })
    .whereNotNull('v.voided_at')
    .whereNotExists((q) =>
      q.select(trx.raw('1')).from('nonce_assignments as l').whereRaw('l.wallet_id = v.wallet_id AND l.chain_id = v.chain_id AND l.nonce = v.nonce AND l.voided_at IS NULL'),
    )
    .min('v.nonce as nonce')
    .first()) as { nonce: string | null } | undefined;
  return row?.nonce == null ? undefined : Number(row.nonce);
}

/** A live assignment is unique per (wallet, chain, nonce) and per request. */
export async function assignNonce(trx: DbOrTx, args: { walletId: string; chainId: number; nonce: number; transactionId: string; at: Date }): Promise<void> {
  await trx('nonce_assignments').insert({ wallet_id: args.walletId, chain_id: args.chainId, nonce: args.nonce, transaction_id: args.transactionId, created_at: args.at });
}

/** Gives a request's nonce back (its bytes never reached a node), so no gap remains. */
export async function voidNonce(db: DbOrTx, transactionId: string, at: Date): Promise<void> {
  await db('nonce_assignments').where({ transaction_id: transactionId }).whereNull('voided_at').update({ voided_at: at });
}
