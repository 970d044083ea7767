/**
 * The countersigned transaction, as the API sees it: every use case by name.
 *
 *   prepare    — the agent proposes (prepare.ts)
 *   authorize  — the owner approves with TOTP; reject, execute, cancel (decide.ts)
 *   get, list  — reads (read.ts)
 *   userTransfer — the seed's user-initiated transfers (transfer.ts)
 */
import { createContext, type TransactionServiceDeps } from './context';
import { authorizeTransactions, cancelTransaction, executeTransaction, rejectTransaction } from './decide';
import { prepareTransaction } from './prepare';
import { getTransaction, listTransactions } from './read';
import { userTransfer } from './transfer';

export function createTransactionService(deps: TransactionServiceDeps) {
  const ctx = createContext(deps);
  return {
    prepare: prepareTransaction.bind(null, ctx),
    authorize: authorizeTransactions.bind(null, ctx),
    reject: rejectTransaction.bind(null, ctx),
    execute: executeTransaction.bind(null, ctx),
    cancel: cancelTransaction.bind(null, ctx),
    get: getTransaction.bind(null, ctx),
    list: listTransactions.bind(null, ctx),
    userTransfer: userTransfer.bind(null, ctx),
  };
}

export type TransactionService = ReturnType<typeof createTransactionService>;
