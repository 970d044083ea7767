/**
 * Data access for policies, what requests count toward them, refusals and the
 * address book. Every query is a named function taking a connection or a
 * transaction; rows are parsed (rows.ts).
 *
 * The wallet's policy row is the lock (lockPolicy): prepare holds it from the
 * check to the insert, the signing transaction from the check to the stored
 * signature, a policy change while it writes. So what is counted cannot change
 * between a check and the write it allows.
 */
import type { DbOrTx } from '../../lib/db';
import { AddressBookRowSchema, PolicyRowSchema, RefusalRowSchema, type AddressBookRow, type PolicyRow, type RefusalRow } from './rows';
import type { Asset, RefusalStage, Rule, Violation } from './types';

const POLICIES = 'wallet_policies';

const parsePolicy = (row: unknown): PolicyRow | undefined => (row === undefined ? undefined : PolicyRowSchema.parse(row));

/** The current policy, unlocked (reads); undefined when the wallet never had one (no rules). */
export async function findPolicy(db: DbOrTx, walletId: string): Promise<PolicyRow | undefined> {
  return parsePolicy(await db(POLICIES).where({ wallet_id: walletId }).first());
}

/** The wallet's policy row, locked until the caller's transaction ends; created (empty) on first use. */
export async function lockPolicy(trx: DbOrTx, walletId: string): Promise<PolicyRow> {
  const locked = parsePolicy(await trx(POLICIES).where({ wallet_id: walletId }).forUpdate().first());
  if (locked) return locked;
  await trx(POLICIES).insert({ wallet_id: walletId }).onConflict('wallet_id').ignore();
  const created = parsePolicy(await trx(POLICIES).where({ wallet_id: walletId }).forUpdate().first());
  if (!created) throw new Error('policy row vanished');
  return created;
}

/**
 * The signing transaction's lock: the row as lockPolicy, but never created —
 * an agent request was prepared through lockPolicy, so its wallet's row
 * exists; without one there are no rules (and the worker needs no INSERT).
 */
export async function lockExistingPolicy(trx: DbOrTx, walletId: string): Promise<PolicyRow | undefined> {
  return parsePolicy(await trx(POLICIES).where({ wallet_id: walletId }).forUpdate().first());
}

export async function savePolicy(trx: DbOrTx, args: { walletId: string; version: number; rules: readonly Rule[]; userId: string; at: Date }): Promise<void> {
  await trx(POLICIES)
    .where({ wallet_id: args.walletId })
    .update({ version: args.version, rules: JSON.stringify(args.rules), updated_by: args.userId, updated_at: args.at });
}

// ---------------------------------------------------------------------------------------------
// What requests count

export interface SpendRow {
  transaction_id: string;
  wallet_id: string;
  agent_id: string | null;
  asset: Asset;
  amount: string;
  created_at: Date;
}

export async function insertSpend(trx: DbOrTx, rows: readonly SpendRow[]): Promise<void> {
  if (rows.length > 0) await trx('policy_spend').insert(rows);
}

/** The counted amounts of these requests, per request and asset. */
export async function spendOf(db: DbOrTx, transactionIds: readonly string[]): Promise<{ transaction_id: string; asset: Asset; amount: string }[]> {
  if (transactionIds.length === 0) return [];
  return (await db('policy_spend').whereIn('transaction_id', transactionIds).select('transaction_id', 'asset', 'amount')) as { transaction_id: string; asset: Asset; amount: string }[];
}

export interface RollingQuery {
  /** Column per rule: what counts toward it. */
  rules: readonly { asset: Asset; agentId: string | null; windowStart: Date }[];
  walletId: string;
  now: Date;
  /** No request older than this can still count (the longest window plus a request's longest life). */
  oldest: Date;
  /**
   * prepare: signed amounts in the window plus every request that may still be
   * signed (pending, or approved inside its execution window) — a reservation.
   * signing: signed amounts in the window only, this request excluded.
   */
  mode: { kind: 'prepare' } | { kind: 'signing'; transactionId: string };
}

/**
 * One statement for every rolling rule of a policy: per rule, the amount of
 * its asset counted now. A signed request counts from its signature's time
 * unless its nonce was given back (its bytes never reached a node); rejected,
 * expired, cancelled and unsigned failed requests count for nothing.
 */
export async function rollingUsage(db: DbOrTx, query: RollingQuery): Promise<bigint[]> {
  if (query.rules.length === 0) return [];
  const bindings: unknown[] = [];
  const columns = query.rules.map((rule, i) => {
    bindings.push(rule.asset, rule.agentId, rule.agentId, rule.windowStart);
    return `coalesce(sum(s.amount) FILTER (WHERE s.asset = ? AND (?::uuid IS NULL OR s.agent_id = ?) AND (st.transaction_id IS NULL OR st.created_at > ?)), 0)::text AS c${i}`;
  });
  const assets = [...new Set(query.rules.map((rule) => rule.asset))];
  const earliestWindow = new Date(Math.min(...query.rules.map((rule) => rule.windowStart.getTime())));
  const prepare = query.mode.kind === 'prepare';
  bindings.push(query.walletId, query.oldest, ...assets, prepare, query.now, query.now, earliestWindow, query.mode.kind === 'signing' ? query.mode.transactionId : null);
  const sql = `
    SELECT ${columns.join(', ')}
    FROM policy_spend s
    JOIN transactions t ON t.id = s.transaction_id
    LEFT JOIN signed_transactions st ON st.transaction_id = s.transaction_id
    LEFT JOIN nonce_assignments na ON na.transaction_id = s.transaction_id
    WHERE s.wallet_id = ?
      AND s.created_at > ?
      AND s.asset IN (${assets.map(() => '?').join(', ')})
      AND (
        (st.transaction_id IS NULL AND ?::boolean AND (
          (t.status = 'pending_approval' AND t.approval_expires_at > ?)
          OR (t.status IN ('approved', 'signing') AND (t.execution_expires_at IS NULL OR t.execution_expires_at > ?))))
        OR (st.transaction_id IS NOT NULL AND na.voided_at IS NULL AND st.created_at > ?)
      )
      AND s.transaction_id IS DISTINCT FROM ?::uuid`;
  const result = (await db.raw(sql, bindings as never[])) as { rows: Record<string, string>[] };
  const row = result.rows[0] ?? {};
  return query.rules.map((_, i) => BigInt(row[`c${i}`] ?? '0'));
}

export interface CountQuery {
  walletId: string;
  agentId: string;
  /** Column per rule: requests created after `since`. */
  windows: readonly { since: Date }[];
  /** signing: only requests before this one (created no later, lower position). */
  before?: { createdAt: Date; seq: string };
}

/** Per max_requests rule: the agent's requests from this wallet in the window, whatever became of them. */
export async function requestCounts(db: DbOrTx, query: CountQuery): Promise<bigint[]> {
  if (query.windows.length === 0) return [];
  const bindings: unknown[] = [];
  const columns = query.windows.map((w, i) => {
    bindings.push(w.since);
    return `count(*) FILTER (WHERE t.created_at > ?)::text AS c${i}`;
  });
  const oldest = new Date(Math.min(...query.windows.map((w) => w.since.getTime())));
  bindings.push(query.walletId, query.agentId, oldest);
  let sql = `SELECT ${columns.join(', ')} FROM transactions t WHERE t.wallet_id = ? AND t.agent_id = ? AND t.created_at > ?`;
  if (query.before) {
    sql += ' AND t.created_at <= ? AND t.seq < ?';
    bindings.push(query.before.createdAt, query.before.seq);
  }
  const result = (await db.raw(sql, bindings as never[])) as { rows: Record<string, string>[] };
  const row = result.rows[0] ?? {};
  return query.windows.map((_, i) => BigInt(row[`c${i}`] ?? '0'));
}

// ---------------------------------------------------------------------------------------------
// Refusals

export interface NewRefusal {
  wallet_id: string;
  user_id: string;
  agent_id: string | null;
  stage: RefusalStage;
  transaction_id: string | null;
  policy_version: number;
  violations: readonly Violation[];
  created_at: Date;
}

export async function insertRefusal(db: DbOrTx, row: NewRefusal): Promise<void> {
  await db('policy_refusals').insert({ ...row, violations: JSON.stringify(row.violations) });
}

/** The wallet's latest refusals, newest first, and how many there were since `since`. */
export async function recentRefusals(db: DbOrTx, walletId: string, since: Date, limit: number): Promise<{ recent: RefusalRow[]; count: number }> {
  const [rows, counted] = await Promise.all([
    db('policy_refusals').where({ wallet_id: walletId }).orderBy('id', 'desc').limit(limit).select('id', 'agent_id', 'stage', 'transaction_id', 'policy_version', 'violations', 'created_at'),
    db('policy_refusals').where({ wallet_id: walletId }).andWhere('created_at', '>', since).count<{ count: string }[]>('* as count'),
  ]);
  return { recent: (rows as unknown[]).map((row) => RefusalRowSchema.parse(row)), count: Number(counted[0]?.count ?? 0) };
}

// ---------------------------------------------------------------------------------------------
// The address book

const BOOK = 'address_book';

export async function listLabels(db: DbOrTx, userId: string, addresses?: readonly string[]): Promise<AddressBookRow[]> {
  const query = db(BOOK).where({ user_id: userId }).orderBy('label').orderBy('address');
  if (addresses) {
    if (addresses.length === 0) return [];
    query.whereIn('address', addresses.map((a) => a.toLowerCase()));
  }
  return ((await query) as unknown[]).map((row) => AddressBookRowSchema.parse(row));
}

export async function findLabel(db: DbOrTx, userId: string, address: string): Promise<AddressBookRow | undefined> {
  const row = (await db(BOOK).where({ user_id: userId, address: address.toLowerCase() }).first()) as unknown;
  return row === undefined ? undefined : AddressBookRowSchema.parse(row);
}

/** Creates or relabels an entry; returns it and the label it had (null if new). */
export async function upsertLabel(trx: DbOrTx, args: { userId: string; address: string; label: string; at: Date }): Promise<{ row: AddressBookRow; previous: string | null }> {
  const previous = await findLabel(trx, args.userId, args.address);
  const [row] = (await trx(BOOK)
    .insert({ user_id: args.userId, address: args.address.toLowerCase(), label: args.label, created_at: args.at, updated_at: args.at })
    .onConflict(['user_id', 'address'])
    .merge({ label: args.label, updated_at: args.at })
    .returning('*')) as unknown[];
  return { row: AddressBookRowSchema.parse(row), previous: previous?.label ?? null };
}

export async function deleteLabel(trx: DbOrTx, userId: string, address: string): Promise<boolean> {
  return (await trx(BOOK).where({ user_id: userId, address: address.toLowerCase() }).delete()) > 0;
}

/*
 * What an agent may see of the book: its owner's labels of the wallets granted
 * to it, and no other (address-book.ts says why): a column for the
 * transaction views' one query, and the same column alone for webhooks.
 */
const AGENT_VISIBLE = `
  FROM address_book ab
  JOIN wallets w ON w.user_id = ab.user_id AND w.address = ab.address
  JOIN agent_wallets aw ON aw.wallet_id = w.id`;

/**
 * A column of a `transactions` query: the labels (json `[{address, label}]`,
 * lowercase addresses) its preparing agent may see among the addresses the
 * request names — wallet, target, recipient.
 */
export const agentLabelsColumn = (db: DbOrTx) =>
  db.raw(`(SELECT coalesce(json_agg(json_build_object('address', ab.address, 'label', ab.label) ORDER BY ab.address), '[]'::json) ${AGENT_VISIBLE}
    WHERE aw.agent_id = transactions.agent_id AND ab.user_id = transactions.user_id
      AND ab.address IN (transactions.from_address, transactions.to_address, transactions.recipient)) AS agent_labels`);

/** The labels the preparing agent of a transaction may see among the addresses it names (lowercase); [] for an unknown one. */
export async function agentLabelsOf(db: DbOrTx, transactionId: string): Promise<{ address: string; label: string }[]> {
  const row = (await db('transactions').where({ id: transactionId }).first(agentLabelsColumn(db))) as { agent_labels: { address: string; label: string }[] } | undefined;
  return row?.agent_labels ?? [];
}
