/**
 * One countersigned transaction = one workflow, id `tx-<uuid>`.
 *
 *   pending_approval ─approve─▶ approved ─execute─▶ signing ─▶ broadcast ─▶ confirmed | failed
 *        ├─reject─▶ rejected      └─window─▶ expired
 *        ├─window─▶ expired
 *        └─cancel─▶ cancelled   (never once signing has begun)
 *
 * A run started with `resume` (the reconciler, for a request PostgreSQL holds
 * past approval with no workflow — after a restore into a fresh Temporal)
 * begins at that status once PostgreSQL confirms it: `approved` waits for the
 * execute (or goes on if one is recorded, or the request auto-executes),
 * `signing` signs once (the stored bytes if any), `broadcast` waits for the
 * receipt.
 *
 * The workflow orders the steps; PostgreSQL decides whether a step may happen.
 * An approve message only moves the workflow once a local activity has found
 * the approval row the API wrote after the TOTP gate, and the sign activity
 * checks everything again in one database transaction, so a message sent from
 * the Temporal UI or CLI alone never leads to a signature.
 */
import {
  ApplicationFailure,
  ActivityFailure,
  condition,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  allHandlersFinished,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  approveUpdate,
  cancelUpdate,
  executeUpdate,
  FAILURE_TYPES,
  NO_SUCH_RECORD,
  rejectUpdate,
  SEARCH_ATTRIBUTES,
  SIGNING_STARTED_STATUSES,
  statusQuery,
  type ApproveArgs,
  type CommandArgs,
  type CommandKind,
  type RefusalReason,
  type TransactionState,
  type TransactionStatus,
  type TransactionWorkflowInput,
} from './definitions';

const local = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '10 seconds', backoffCoefficient: 2 },
});

/**
 * Signing: Vault or PostgreSQL may be away for a while; the status shows why
 * it waits. A short attempt timeout means a worker that died mid-attempt is
 * noticed quickly; a retried attempt returns the bytes already stored.
 */
const signing = proxyActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', backoffCoefficient: 2, nonRetryableErrorTypes: [FAILURE_TYPES.signingRefused] },
});

const broadcasting = proxyActivities<Activities>({
  startToCloseTimeout: '20 seconds',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    backoffCoefficient: 2,
    nonRetryableErrorTypes: [FAILURE_TYPES.broadcastRejected, FAILURE_TYPES.nonceConsumed],
  },
});

/**
 * Webhook deliveries, off the transaction's critical path. The database caps
 * attempts per delivery; Temporal's limit only has to be above it.
 */
const notifying = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes', maximumAttempts: 12 },
});

const confirming = proxyActivities<Activities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', backoffCoefficient: 2 },
});

const refuse = (reason: RefusalReason | typeof NO_SUCH_RECORD): never => {
  throw ApplicationFailure.nonRetryable(reason, FAILURE_TYPES.refused);
};

/**
 * Histories recorded before this patch scheduled `notifyWebhooks` after every
 * status change; from it on, only when the agent has an active webhook (most
 * agents have none, and each idle activity cost Temporal and PostgreSQL work).
 * Read once per run: `patched()` asked again after a replay would say yes, and
 * a run must keep one behaviour throughout. (Old histories carry no webhook
 * hints, and an absent hint notifies, so they would replay either way; the
 * patch keeps the rule explicit and marks the runs that follow it.)
 */
const NOTIFY_ONLY_WITH_WEBHOOKS_PATCH = 'notify-only-with-webhooks';

/**
 * From this patch on, execute, reject and cancel name a command the API
 * recorded in PostgreSQL, and the handler verifies it (a local activity)
 * before acting; before it, they were trusted as sent. Asked per message, not
 * once per run: a workflow started by older code that receives a message
 * after the upgrade verifies it too, and replaying an older message (no
 * marker in its history) takes the old path.
 */
const VERIFY_COMMANDS_PATCH = 'verify-commands';

/**
 * From this patch on, a failed request also carries `CountersignFailure` (the reason's category,
 * e.g. `reverted`), so an operator finds on-chain failures with one query. A separate upsert:
 * histories from before it have none, and replay without it.
 */
const FAILURE_ATTRIBUTE_PATCH = 'failure-search-attribute';

export async function transactionWorkflow(input: TransactionWorkflowInput): Promise<TransactionState> {
  const notifyOnlyWithWebhooks = patched(NOTIFY_ONLY_WITH_WEBHOOKS_PATCH);
  // A resumed run claims its status until verifyResume confirms it (below); validators read it meanwhile.
  const state: TransactionState = input.resume ? { status: input.resume.status, version: input.resume.version } : { status: 'pending_approval', version: 1 };
  /**
   * An approve, reject or cancel Update is verifying its record in PostgreSQL:
   * other decisions are refused meanwhile, and the timers and the move to
   * signing wait for it.
   */
  let deciding = false;
  let executeRequested = input.autoExecute;

  const transition = (status: TransactionStatus) => {
    state.status = status;
    state.version += 1;
    upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.status, value: status }]);
  };
  const snapshot = (): TransactionState => ({ ...state });
  const notifications: Promise<unknown>[] = [];
  /**
   * Tells the agent's webhooks about the status recorded at `version` (never
   * blocks the transaction). `hint` is whether the agent had an active webhook
   * when the status was recorded (the start input, or the activity that wrote
   * the status): with none, no activity is scheduled. So a webhook registered
   * while a transaction is in flight is told from the next status change on.
   * Only `false` skips: an absent hint (older API or worker) notifies, and the
   * activity itself still decides who receives what.
   */
  const notify = (hint: boolean | undefined, version = state.version) => {
    if (notifyOnlyWithWebhooks && hint === false) return;
    notifications.push(notifying.notifyWebhooks({ transactionId: input.transactionId, version }).catch(() => undefined));
  };
  const project = async () => {
    const projected = await local.projectStatus({
      transactionId: input.transactionId,
      status: state.status,
      version: state.version,
      ...(state.executionDeadlineMs !== undefined ? { executionDeadlineMs: state.executionDeadlineMs } : {}),
    });
    notify(projected?.notifyWebhooks);
  };

  // Handlers are registered before the first await.
  setHandler(statusQuery, snapshot);

  /** Verifies, in PostgreSQL, the command a message names; refuses (and the activity raises an alert) if it is not there. */
  const verifyCommand = async (kind: CommandKind, args: CommandArgs | undefined) => {
    // Anyone who reaches Temporal can send anything: read the id defensively (a throw here must be a refusal).
    const commandId = typeof args?.commandId === 'string' ? args.commandId : null;
    const found = await local.verifyCommand({ transactionId: input.transactionId, kind, commandId });
    if (!found) refuse(NO_SUCH_RECORD);
  };
  /** Runs a decision's check with other decisions held off. */
  const decide = async (check: () => Promise<void>) => {
    deciding = true;
    try {
      await check();
    } finally {
      deciding = false;
    }
  };

  setHandler(
    approveUpdate,
    async (args: ApproveArgs) => {
      deciding = true;
      try {
        // The approval must exist in PostgreSQL, for this request, over its digest, by its owner.
        const approvalId = typeof args?.approvalId === 'string' ? args.approvalId : '';
        const found = await local.verifyApproval({ transactionId: input.transactionId, approvalId });
        if (!found) refuse(NO_SUCH_RECORD);
        if (state.status !== 'pending_approval') refuse('already_decided');
        state.approvalId = approvalId;
        state.executionDeadlineMs = Date.now() + input.executionWindowMs;
        transition('approved');
        return snapshot();
      } finally {
        deciding = false;
      }
    },
    {
      validator: (_args: ApproveArgs) => {
        if (deciding) refuse('already_decided');
        if (state.status !== 'pending_approval') refuse('already_decided');
        if (Date.now() >= input.approvalExpiresAtMs) refuse('expired');
      },
    },
  );

  setHandler(
    rejectUpdate,
    async (args: CommandArgs) => {
      if (patched(VERIFY_COMMANDS_PATCH)) {
        await decide(async () => {
          await verifyCommand('reject', args);
          if (state.status !== 'pending_approval') refuse('already_decided');
          transition('rejected');
        });
      } else {
        transition('rejected');
      }
      return snapshot();
    },
    {
      validator: (_args: CommandArgs) => {
        if (deciding || state.status !== 'pending_approval') refuse('already_decided');
        if (Date.now() >= input.approvalExpiresAtMs) refuse('expired');
      },
    },
  );

  setHandler(
    executeUpdate,
    async (args: CommandArgs) => {
      if (patched(VERIFY_COMMANDS_PATCH)) await verifyCommand('execute', args);
      executeRequested = true;
      return snapshot();
    },
    {
      validator: (_args: CommandArgs) => {
        if (state.status === 'pending_approval') refuse('not_approved');
        if (state.status !== 'approved') refuse(state.status === 'expired' ? 'expired' : 'signing_started');
        if (state.executionDeadlineMs !== undefined && Date.now() >= state.executionDeadlineMs) refuse('execution_window_passed');
      },
    },
  );

  setHandler(
    cancelUpdate,
    async (args: CommandArgs) => {
      if (patched(VERIFY_COMMANDS_PATCH)) {
        await decide(async () => {
          await verifyCommand('cancel', args);
          if (state.status !== 'pending_approval' && state.status !== 'approved') refuse(cancelRefusal(state.status));
          transition('cancelled');
        });
      } else {
        transition('cancelled');
      }
      return snapshot();
    },
    {
      validator: (_args: CommandArgs) => {
        if (deciding) refuse('already_decided');
        if (state.status === 'pending_approval' || state.status === 'approved') return;
        refuse(cancelRefusal(state.status));
      },
    },
  );

  if (input.resume) {
    // 0. Resumed: PostgreSQL must hold the request exactly where the start says (a crafted start is refused, nothing projected).
    const point = await local.verifyResume({ transactionId: input.transactionId, resume: input.resume });
    if (!point) return refuse(NO_SUCH_RECORD);
    if (point.executionDeadlineMs !== null) state.executionDeadlineMs = point.executionDeadlineMs;
    // An execute recorded before the workflow went missing; the signing gate checks it again.
    if (point.executeCommandId !== null) executeRequested = true;
    if (point.txHash !== null) upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.txHash, value: point.txHash }]);
  } else {
    notify(input.notifyWebhooks, 1);

    // 1. The approval window.
    await condition(() => state.status !== 'pending_approval' && !deciding, Math.max(0, input.approvalExpiresAtMs - Date.now()));
    // The timer and an Update can land together: a decision that got in wins.
    await condition(() => !deciding);
    if (state.status === 'pending_approval') transition('expired');
    if (state.status !== 'approved') return finish();
    await project();
  }

  if (state.status === 'approved') {
    // 2. The execution window: the agent executes, or the request was prepared to run at once.
    const executionRemaining = Math.max(0, (state.executionDeadlineMs ?? 0) - Date.now());
    await condition(() => (executeRequested || state.status !== 'approved') && !deciding, executionRemaining);
    // A cancel being verified when the window closed or execute arrived: it decides first.
    await condition(() => !deciding);
    if (state.status !== 'approved') return finish();
    if (!executeRequested) {
      transition('expired');
      return finish();
    }
    // 3. Sign. From here on the request is driven to an on-chain outcome.
    transition('signing');
  }
  // Only a resumed run can be elsewhere here: at `broadcast`, or a cancel won while its start was verified.
  if (state.status === 'signing') {
    try {
      const signed = await signing.signTransaction({ transactionId: input.transactionId, version: state.version });
      upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.txHash, value: signed.txHash }]);
      notify(signed.notifyWebhooks);
    } catch (err) {
      // Refused by the database's checks (not approved there, window passed, wallet frozen): nothing was signed.
      const reason = failureReason(err);
      if (reason === 'execution_window_passed') {
        transition('expired');
        return finish();
      }
      return fail(reason);
    }

    // 4. Broadcast the stored bytes.
    transition('broadcast');
    try {
      const broadcast = await broadcasting.broadcastTransaction({ transactionId: input.transactionId, version: state.version });
      notify(broadcast?.notifyWebhooks);
    } catch (err) {
      return fail(failureReason(err));
    }
  }
  if (state.status !== 'broadcast') return finish();

  // 5. Wait for the receipt and confirmations (rebroadcasting the same bytes if dropped).
  const outcome = await confirming.confirmTransaction({ transactionId: input.transactionId });
  if (outcome.status === 'failed') return fail(outcome.reason ?? 'reverted');
  transition('confirmed');
  return finish();

  async function fail(reason: string): Promise<TransactionState> {
    transition('failed');
    if (patched(FAILURE_ATTRIBUTE_PATCH)) upsertSearchAttributes([{ key: SEARCH_ATTRIBUTES.failure, value: failureCategory(reason) }]);
    await local.recordFailure({ transactionId: input.transactionId, version: state.version, reason });
    return finish();
  }

  async function finish(): Promise<TransactionState> {
    await project();
    await Promise.all(notifications);
    await condition(allHandlersFinished);
    return snapshot();
  }
}

/** Why a request in this state can no longer be cancelled. */
function cancelRefusal(status: TransactionStatus): RefusalReason {
  return SIGNING_STARTED_STATUSES.includes(status) ? 'signing_started' : 'already_decided';
}

/** `broadcast_rejected: nonce_too_low` → `broadcast_rejected`: a bounded set of lowercase values to query by. */
function failureCategory(reason: string): string {
  return (reason.split(':')[0] ?? '').trim().toLowerCase().slice(0, 64) || 'failed';
}

/** The machine reason carried by an activity's non-retryable failure. */
function failureReason(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  if (cause instanceof ApplicationFailure) return cause.message || cause.type || 'failed';
  return 'failed';
}
