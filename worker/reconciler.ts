/**
 * The reconciler's Temporal schedule: every RECONCILE_EVERY_SECONDS it starts
 * `reconcileWorkflow` on this worker's task queue, which starts the workflow
 * of any request the API committed but never started (domains/transactions/
 * reconcile.ts). Every worker makes sure it exists at start-up; the schedule is
 * one per task queue, so replicas share it, and a pass still running when the
 * next is due makes that one skip.
 */
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
import type { Logger } from '../lib/logger';
import { RECONCILE_EVERY_SECONDS } from '../domains/transactions';

export const reconcilerScheduleId = (taskQueue: string) => `countersign-reconciler-${taskQueue}`;

export function reconcilerSchedule(taskQueue: string): ScheduleOptions {
  return {
    scheduleId: reconcilerScheduleId(taskQueue),
    spec: { intervals: [{ every: `${RECONCILE_EVERY_SECONDS}s` }] },
    action: {
      type: 'startWorkflow',
      workflowType: 'reconcileWorkflow',
      workflowId: `reconcile-${taskQueue}`,
      taskQueue,
      // With no worker polling, a pass gives up rather than queueing forever.
      workflowExecutionTimeout: '10 minutes',
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 minute' },
  };
}

/** Creates the schedule, or brings an existing one up to this code's definition (an operator's pause stays). */
export async function ensureReconcilerSchedule(client: Client, taskQueue: string, logger: Logger): Promise<void> {
  const { scheduleId, ...definition } = reconcilerSchedule(taskQueue);
  try {
    await client.schedule.create({ scheduleId, ...definition });
    logger.info({ scheduleId, everySeconds: RECONCILE_EVERY_SECONDS }, 'reconciler schedule created');
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    try {
      await client.schedule.getHandle(scheduleId).update((previous) => ({ ...definition, state: previous.state }));
    } catch (updateErr) {
      // Workers starting together update it at once and one may lose the race: the schedule exists, which is what matters.
      logger.warn({ scheduleId, err: updateErr instanceof Error ? updateErr.name : 'error' }, 'reconciler schedule exists but could not be updated; keeping it as it is');
    }
  }
}
