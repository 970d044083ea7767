/**
 * What every transaction use case shares: its dependencies, and the few steps
 * they all take — find a request the caller may see, record a command, talk
 * to the request's workflow and write its answer to the projection.
 */
import { randomUUID } from 'node:crypto';
import type { UpdateDefinition } from '@temporalio/common';
import type { Config } from '../../config/env';
import type { Clock } from '../../lib/clock';
import type { Db, DbOrTx } from '../../lib/db';
import { AppError, invalidState, notFound, unavailable } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import type { AuditLog, RequestMeta } from '../audit';
import { checksumAddress } from '../chain';
import type { MfaService } from '../mfa';
import type { PolicyService, ViewNotes } from '../policies';
import type { UserService } from '../users';
import { agentHasActiveWebhook } from '../webhooks';
import { SIGNING_STARTED_STATUSES, type Caller, type CommandKind, type TransactionState } from '../../workflows/definitions';
import { findTransaction, projectStatus, recordCommand, type ViewRow } from './dal';
import type { TransactionChain } from './ports';
import { projectionFields } from './projection';
import type { TransactionRow } from './rows';
import type { TransactionView } from './schemas';
import { effectiveStatus, toView, type ExplorerUrls } from './view';
import { workflowStartOf, WorkflowGoneError, type TransactionWorkflows } from './workflow-client';

export type AuditSink = Pick<AuditLog, 'append' | 'appendMany'>;

export interface TransactionServiceDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  config: Pick<Config, 'CHAIN_ID' | 'APPROVAL_TTL_DEFAULT' | 'APPROVAL_TTL_MAX' | 'EXECUTION_WINDOW'>;
  workflows: TransactionWorkflows;
  chain: TransactionChain;
  mfa: Pick<MfaService, 'verifyAndConsume'>;
  passwords: Pick<UserService, 'verifyPassword'>;
  audit: AuditSink;
  /** The owner's rules: checked before a prepare stores anything; labels and limits for the owner's views. */
  policies: Pick<PolicyService, 'checkPrepare' | 'recordSpend' | 'recordRefusal' | 'notesFor'>;
  /** How long a user-initiated transfer waits for its broadcast before answering 202. */
  userTransferWaitMs?: number;
  /** Block explorer per chain, for the links in transaction views. */
  explorers?: ExplorerUrls;
}

export interface AgentCaller {
  agentId: string;
  userId: string;
}

export type { RequestMeta };

/** Its owner and its preparing agent see a transaction; nobody else learns it exists. */
export const visibleTo = (caller: Caller, row: Pick<TransactionRow, 'user_id' | 'agent_id'>) => (caller.type === 'user' ? row.user_id === caller.id : row.agent_id === caller.id);

export function createContext(deps: TransactionServiceDeps) {
  const now = () => deps.clock.now();

  async function loadOwned(userId: string, transactionId: string): Promise<TransactionRow> {
    const row = await findTransaction(deps.db, transactionId);
    if (!row || row.user_id !== userId) throw notFound('transaction');
    return row;
  }

  async function loadVisible(caller: Caller, transactionId: string): Promise<TransactionRow> {
    const row = await findTransaction(deps.db, transactionId);
    if (!row || !visibleTo(caller, row)) throw notFound('transaction');
    return row;
  }

  /** `closeOnFailure`: a first start that fails closes the request; a replay's retry leaves it be. */
  async function startWorkflow(row: TransactionRow, closeOnFailure = true) {
    // Is the first event worth a webhook activity? (The workflow decides the later ones as they happen.)
    // Only a hint: if it cannot be read, notify, and the activity decides.
    const notifyWebhooks = row.agent_id !== null && (await agentHasActiveWebhook(deps.db, row.agent_id, now()).catch(() => true));
    try {
      const { input, attributes } = workflowStartOf(row, { executionWindowMs: deps.config.EXECUTION_WINDOW * 1000, notifyWebhooks });
      await deps.workflows.start(input, attributes);
    } catch (err) {
      deps.logger.error({ transactionId: row.id, err: err instanceof Error ? err.name : 'unknown' }, 'could not start the transaction workflow');
      if (!closeOnFailure) throw unavailable('the orchestrator is unavailable; try again shortly');
      // Nothing was started: close the request so it cannot linger as pending.
      await projectStatus(deps.db, { transactionId: row.id, status: 'failed', version: 1_000_000, at: now(), fields: { error: 'orchestrator_unavailable' } });
      throw unavailable('the orchestrator is unavailable; the request was not accepted');
    }
  }

  /** An Update to a finished or vanished workflow: answer from what PostgreSQL knows. */
  function goneToConflict(row: TransactionRow): AppError {
    const status = effectiveStatus(row, now());
    if (status === 'expired') return invalidState('expired', 'the transaction has expired');
    if (status === 'pending_approval') return unavailable('the transaction workflow is not running; try again shortly');
    if (SIGNING_STARTED_STATUSES.includes(status)) return invalidState('signing_started', 'signing has already started');
    return invalidState('already_decided', 'the transaction has already been decided');
  }

  /** Sends an Update and writes the workflow's answer to the projection at once, so reads agree with the 2xx just given. */
  async function sendUpdate<Arg>(row: TransactionRow, def: UpdateDefinition<TransactionState, [Arg]>, arg: Arg, updateId: string): Promise<TransactionState> {
    try {
      const state = await deps.workflows.update(row.id, def, arg, updateId);
      await projectStatus(deps.db, { transactionId: row.id, status: state.status, version: state.version, at: now(), fields: projectionFields(state, now()) });
      return state;
    } catch (err) {
      if (err instanceof WorkflowGoneError) throw goneToConflict((await findTransaction(deps.db, row.id)) ?? row);
      throw err;
    }
  }

  /**
   * Records the caller's command before the Update names it: the workflow and
   * the signing gate trust the record, not the message. `also` writes in the
   * same database transaction when the command is new.
   */
  async function recordCallerCommand(row: TransactionRow, kind: CommandKind, caller: Caller, reason: string | null, also?: (trx: DbOrTx) => Promise<void>): Promise<string> {
    return deps.db.transaction(async (trx) => {
      const recorded = await recordCommand(trx, { id: randomUUID(), transaction_id: row.id, kind, actor_type: caller.type, actor_id: caller.id, reason, created_at: now() });
      if (recorded.created) await also?.(trx);
      return recorded.id;
    });
  }

  /** The public view of a row, with the explorer links of its chain (and, for its owner, labels and limits). */
  const present = (row: TransactionRow & { last_event_id: string | null }, agentName: string | null, notes?: ViewNotes): TransactionView =>
    toView(row, agentName, now(), deps.explorers, notes);

  /**
   * Views as `caller` sees them: the owner with every label of their book and
   * the limits a waiting request counts toward; the preparing agent with the
   * labels of its own wallets only (read in the rows' one query), no limits.
   */
  async function presentFor(caller: Caller, rows: readonly ViewRow[]): Promise<TransactionView[]> {
    const owners = caller.type === 'user' ? await deps.policies.notesFor(caller.id, rows) : undefined;
    return rows.map(({ agent_name: agentName, agent_labels: agentLabels, ...row }) =>
      present(row, agentName, owners ? owners.get(row.id) : { labels: agentLabels.map((entry) => ({ address: checksumAddress(entry.address), label: entry.label })), limits: [] }),
    );
  }

  return { deps, now, present, presentFor, loadOwned, loadVisible, startWorkflow, sendUpdate, recordCallerCommand };
}

export type TransactionContext = ReturnType<typeof createContext>;
