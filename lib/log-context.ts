/**
 * What a log line is about, carried through async calls (AsyncLocalStorage):
 * the request id, the principal (user or agent) and the transaction(s) of an
 * API request; the workflow, activity and transaction of an activity attempt.
 * The logger (lib/logger.ts) adds these fields to every line written inside
 * the context, so a service that logs needs not pass them along. Ids only —
 * never a secret.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface LogContext {
  requestId?: string;
  userId?: string;
  agentId?: string;
  transactionId?: string;
  /** A batch approval names several. */
  transactionIds?: string[];
  workflowId?: string;
  activity?: string;
  attempt?: number;
}

const storage = new AsyncLocalStorage<LogContext>();

export function withLogContext<T>(fields: LogContext, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...fields }, fn);
}

/** Adds to the current context (e.g. once the principal is known); no-op outside one. */
export function addLogContext(fields: LogContext): void {
  const store = storage.getStore();
  if (store) Object.assign(store, fields);
}

export function currentLogContext(): Readonly<LogContext> | undefined {
  return storage.getStore();
}

const TRANSACTION_WORKFLOW = /^tx-([0-9a-f-]{36})$/;

/** The transaction id of a transaction workflow id (`tx-<uuid>`). */
export function transactionOfWorkflow(workflowId: string): string | undefined {
  return TRANSACTION_WORKFLOW.exec(workflowId)?.[1];
}
