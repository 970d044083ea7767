/**
 * The reconciler's schedule names a workflow the worker runs, on the worker's
 * own queue, and never runs two passes at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import { readFileSync } from 'node:fs';
import { RECONCILE_EVERY_SECONDS, RECONCILE_GRACE_MS } from '../../domains/transactions';
import { ensureReconcilerSchedule, reconcilerSchedule, reconcilerScheduleId } from '../../worker/reconciler';

test('the reconciler schedule starts reconcileWorkflow on the task queue every RECONCILE_EVERY_SECONDS, skipping overlaps', () => {
  const schedule = reconcilerSchedule('queue-a');
  assert.equal(schedule.scheduleId, reconcilerScheduleId('queue-a'));
  assert.notEqual(reconcilerScheduleId('queue-a'), reconcilerScheduleId('queue-b'), 'one schedule per task queue');
  assert.equal(schedule.action.workflowType, 'reconcileWorkflow');
  // The workflows entry point (bundled for the worker; not importable outside its sandbox) exports it.
  assert.match(readFileSync(new URL('../../workflows/index.ts', import.meta.url), 'utf8'), /export \{ reconcileWorkflow \}/);
  assert.equal(schedule.action.taskQueue, 'queue-a');
  assert.deepEqual(schedule.spec.intervals, [{ every: `${RECONCILE_EVERY_SECONDS}s` }]);
  assert.equal(schedule.policies?.overlap, ScheduleOverlapPolicy.SKIP);
  // A request counts as unstarted only after the grace, and is then found by the next pass: within a minute.
  assert.ok(RECONCILE_GRACE_MS / 1000 + RECONCILE_EVERY_SECONDS <= 60);
});

test('a worker that loses the race to update an existing schedule starts anyway, and says so', async () => {
  const warnings: string[] = [];
  const logger = { info: () => {}, warn: (_: object, message: string) => warnings.push(message) } as unknown as Parameters<typeof ensureReconcilerSchedule>[2];
  const client = {
    schedule: {
      create: async () => {
        throw new ScheduleAlreadyRunning('exists', reconcilerScheduleId('queue-a'));
      },
      getHandle: () => ({
        update: async () => {
          throw new Error('conflicting update');
        },
      }),
    },
  } as unknown as Parameters<typeof ensureReconcilerSchedule>[0];
  await ensureReconcilerSchedule(client, 'queue-a', logger);
  assert.deepEqual(warnings, ['reconciler schedule exists but could not be updated; keeping it as it is']);
});
