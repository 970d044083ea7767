/** Reading requests: one (the hottest read, one query) and lists, newest first, for their owner or preparing agent. */
import { notFound } from '../../lib/errors';
import type { Caller } from '../../workflows/definitions';
import { visibleTo, type TransactionContext } from './context';
import { findTransactionWithAgentName, listTransactions as listRows } from './dal';
import type { TransactionView } from './schemas';

const MAX_SEQ = 9223372036854775807n;

/** GET /api/transaction_status, GET /api/transactions/:id */
export async function getTransaction(ctx: TransactionContext, caller: Caller, transactionId: string): Promise<TransactionView> {
  const row = await findTransactionWithAgentName(ctx.deps.db, transactionId);
  if (!row || !visibleTo(caller, row)) throw notFound('transaction');
  const { agent_name: agentName, ...transaction } = row;
  return ctx.present(transaction, agentName);
}

/** GET /api/transactions — the cursor is the list position of the last row returned. */
export async function listTransactions(ctx: TransactionContext, caller: Caller, query: { status?: TransactionView['status']; wallet?: string; cursor?: string; limit?: string }) {
  const limit = query.limit ? Number(query.limit) : 50;
  const before = query.cursor ? (BigInt(query.cursor) > MAX_SEQ ? MAX_SEQ.toString() : query.cursor) : undefined;
  const rows = await listRows(ctx.deps.db, {
    ...(caller.type === 'user' ? { userId: caller.id } : { agentId: caller.id }),
    ...(query.status ? { status: query.status } : {}),
    ...(query.wallet ? { walletAddress: query.wallet } : {}),
    ...(before ? { before } : {}),
    limit,
    now: ctx.now(),
  });
  const transactions = rows.map(({ agent_name: agentName, ...row }) => ctx.present(row, agentName));
  return { transactions, next_cursor: rows.length === limit ? rows[rows.length - 1]!.seq : null };
}
