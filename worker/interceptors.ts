/**
 * What the worker adds around every activity attempt: the log context (workflow,
 * transaction, activity, attempt — lib/log-context.ts) and its duration in the
 * metrics (`countersign_activity_duration_seconds`, and for signTransaction
 * `countersign_signing_duration_seconds`). The outcome is `ok`, `refused` (a
 * non-retryable ApplicationFailure: the database or a policy said no) or `error`.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityInboundCallsInterceptor, ActivityInterceptorsFactory } from '@temporalio/worker';
import { transactionOfWorkflow, withLogContext } from '../lib/log-context';
import { activityDuration, signingDuration } from '../lib/metrics';

export const observeActivities: ActivityInterceptorsFactory = (ctx) => {
  const inbound: ActivityInboundCallsInterceptor = {
    async execute(input, next) {
      const { activityType, attempt, workflowExecution } = ctx.info;
      const workflowId = workflowExecution?.workflowId ?? '';
      const transactionId = transactionOfWorkflow(workflowId);
      const started = performance.now();
      let outcome = 'ok';
      try {
        return await withLogContext({ workflowId, activity: activityType, attempt, ...(transactionId ? { transactionId } : {}) }, () => next(input));
      } catch (error) {
        outcome = error instanceof ApplicationFailure && error.nonRetryable ? 'refused' : 'error';
        throw error;
      } finally {
        const seconds = (performance.now() - started) / 1000;
        activityDuration.observe({ activity: activityType, outcome }, seconds);
        if (activityType === 'signTransaction') signingDuration.observe({ outcome }, seconds);
      }
    },
  };
  return { inbound };
};
