/**
 * The reconciler's schedule names a workflow the worker runs, on the worker's
 * own queue, and never runs two passes at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { readFileSync } from 'node:fs';
import { RECONCILE_EVERY_SECONDS, RECONCILE_GRACE_MS } from '../../domains/transactions';
import { reconcilerSchedule, reconcilerScheduleId } from '../../worker/reconciler';

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
