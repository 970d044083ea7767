/**
 * The API's side of the transaction workflow: start it, and send Updates with
 * a deadline (an Update waits forever if no worker polls). Validator refusals
 * become 409s; a finished or missing workflow is reported as such so the
 * caller can answer from the state stored in PostgreSQL; a deadline is a 503.
 */
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure, WorkflowIdReusePolicy } from '@temporalio/common';
import type { UpdateDefinition } from '@temporalio/common';
import { AppError, invalidState, unavailable, type InvalidStateReason } from '../../lib/errors';
import {
  SEARCH_ATTRIBUTES,
  transactionWorkflowId,
  type RefusalReason,
  type TransactionResume,
  type TransactionState,
  type TransactionWorkflowInput,
} from '../../workflows/definitions';

const REFUSAL_MESSAGES: Record<RefusalReason, string> = {
  not_approved: 'the transaction has not been approved',
  already_decided: 'the transaction has already been decided',
  expired: 'the transaction has expired',
  signing_started: 'signing has already started',
  execution_window_passed: 'the execution window has passed',
};

/** How long the API waits for an Update before answering 503. */
const UPDATE_DEADLINE_MS = 10_000;
/**
 * A workflow task that no worker completes (the worker died, or evicted the
 * run from its cache while an Update's local activity was in flight — the SDK
 * then drops that task) is retried by the server after this timeout. Below the
 * Update deadline, so one lost task delays an answer instead of failing it.
 * Temporal's default is 10 s, the same as the deadline; local activities
 * heartbeat the task, so a slow one is not cut short.
 */
export const WORKFLOW_TASK_TIMEOUT_MS = 4_000;

export class WorkflowGoneError extends Error {
  override name = 'WorkflowGoneError';
}

/** What an operator sees of a request in the Temporal UI's list, beside the ids (see operatorView). */
export interface OperatorView {
  kind: string;
  /** Base units (wei, or token units for ERC-20). */
  amount: string;
  /** The recipient (for ERC-20, the token's recipient, not the contract). */
  to: string;
}

export interface WorkflowAttributes extends Partial<OperatorView> {
  wallet: string;
  agent: string | null;
  owner: string;
  chainId: number;
}

/** The amount, kind and recipient of a stored request, for the Temporal UI. */
export function operatorView(row: { kind: string; amount: string | null; value: string; recipient: string | null; to_address: string }): OperatorView {
  return { kind: row.kind, amount: row.amount ?? row.value, to: (row.recipient ?? row.to_address).toLowerCase() };
}

/**
 * The start of a stored request's workflow, as the API (at prepare) and the
 * reconciler (for a request whose start was lost) both make it; `resume` for a
 * request already past approval (the reconciler, after a restore).
 */
export function workflowStartOf(
  row: { id: string; approval_expires_at: Date; auto_execute: boolean; from_address: string; agent_id: string | null; user_id: string; chain_id: number } & Parameters<typeof operatorView>[0],
  options: { executionWindowMs: number; notifyWebhooks: boolean; resume?: TransactionResume },
): { input: TransactionWorkflowInput; attributes: WorkflowAttributes } {
  return {
    input: {
      transactionId: row.id,
      approvalExpiresAtMs: row.approval_expires_at.getTime(),
      executionWindowMs: options.executionWindowMs,
      autoExecute: row.auto_execute,
      notifyWebhooks: options.notifyWebhooks,
      ...(options.resume ? { resume: options.resume } : {}),
    },
    attributes: { wallet: row.from_address, agent: row.agent_id, owner: row.user_id, chainId: row.chain_id, ...operatorView(row) },
  };
}

export interface TransactionWorkflows {
  /**
   * Starts the request's workflow: `started`, or `exists` when its id ran
   * before — running or closed. A closed one is never run again (REJECT_DUPLICATE):
   * a request's workflow runs once.
   */
  start(input: TransactionWorkflowInput, attributes: WorkflowAttributes): Promise<'started' | 'exists'>;
  /** Runs an Update; throws AppError (409 / 503) or WorkflowGoneError. */
  update<Arg>(transactionId: string, def: UpdateDefinition<TransactionState, [Arg]>, arg: Arg, updateId?: string): Promise<TransactionState>;
}

export function createTransactionWorkflows(deps: { client: Client; taskQueue: string; updateDeadlineMs?: number }): TransactionWorkflows {
  const deadlineMs = deps.updateDeadlineMs ?? UPDATE_DEADLINE_MS;
  return {
    async start(input, attributes) {
      try {
        await deps.client.workflow.start('transactionWorkflow', {
          taskQueue: deps.taskQueue,
          workflowId: transactionWorkflowId(input.transactionId),
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          args: [input],
          workflowTaskTimeout: WORKFLOW_TASK_TIMEOUT_MS,
          typedSearchAttributes: [
            { key: SEARCH_ATTRIBUTES.status, value: input.resume?.status ?? 'pending_approval' },
            { key: SEARCH_ATTRIBUTES.wallet, value: attributes.wallet.toLowerCase() },
            { key: SEARCH_ATTRIBUTES.owner, value: attributes.owner },
            { key: SEARCH_ATTRIBUTES.chainId, value: attributes.chainId },
            ...(attributes.agent ? [{ key: SEARCH_ATTRIBUTES.agent, value: attributes.agent }] : []),
            ...(attributes.amount ? [{ key: SEARCH_ATTRIBUTES.amount, value: attributes.amount }] : []),
          ],
          // Shown in the Temporal UI (encrypted by the payload codec like every payload; the codec server decodes it).
          ...(attributes.amount && attributes.kind && attributes.to
            ? { staticSummary: `${attributes.kind} ${attributes.amount} → ${attributes.to} on chain ${attributes.chainId}` }
            : {}),
        });
        return 'started';
      } catch (err) {
        // Starting twice (a retried request, the reconciler) is fine: the id is the transaction's.
        if (err instanceof WorkflowExecutionAlreadyStartedError) return 'exists';
        throw err;
      }
    },

    async update(transactionId, def, arg, updateId) {
      const handle = deps.client.workflow.getHandle(transactionWorkflowId(transactionId));
      try {
        return await deps.client.connection.withDeadline(Date.now() + deadlineMs, () =>
          handle.executeUpdate(def, { args: [arg], ...(updateId ? { updateId } : {}) }),
        );
      } catch (err) {
        throw mapUpdateError(err);
      }
    },
  };
}

function mapUpdateError(err: unknown): Error {
  if (err instanceof WorkflowUpdateFailedError) {
    const cause = err.cause;
    if (cause instanceof ApplicationFailure && cause.type === 'Refused') {
      const reason = cause.message as RefusalReason;
      if (reason in REFUSAL_MESSAGES) return invalidState(reason as InvalidStateReason, REFUSAL_MESSAGES[reason]);
      return invalidState('already_decided', 'the workflow refused this request');
    }
    return new AppError('internal', 'the update failed');
  }
  if (err instanceof WorkflowNotFoundError) return new WorkflowGoneError('workflow not found');
  const message = err instanceof Error ? err.message : '';
  if (/workflow execution already completed|already completed/i.test(message)) return new WorkflowGoneError('workflow completed');
  const code = (err as { code?: number }).code;
  // gRPC DEADLINE_EXCEEDED (4) / UNAVAILABLE (14): nobody answered in time.
  if (code === 4 || code === 14 || /deadline|unavailable|timed? ?out/i.test(message)) return unavailable('the orchestrator did not answer in time');
  return unavailable('the orchestrator failed to answer');
}
