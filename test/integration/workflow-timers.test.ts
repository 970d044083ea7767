/**
 * The workflow's long timers (24 h approval window, 1 h execution window) on
 * Temporal's time-skipping test server. Only timer logic is tested here, so
 * the activities are recording fakes; the real-server tests cover the rest.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { temporalTestServerBinary } from '../../scripts/infra/paths';
import { registerSearchAttributes } from '../../lib/temporal';
import { approveUpdate, transactionWorkflowId, type TransactionWorkflowInput } from '../../workflows/definitions';
import { workflowBundle } from '../support/app';
import { NO_TRACING_SINKS } from '../../lib/tracing';

let env: TestWorkflowEnvironment;
before(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: temporalTestServerBinary() } } });
  await registerSearchAttributes(env.connection, env.namespace ?? 'default');
});
after(async () => {
  await env?.teardown();
});

function fakeActivities(projected: { status: string; version: number }[]) {
  return {
    projectStatus: async (args: { status: string; version: number }) => {
      projected.push({ status: args.status, version: args.version });
    },
    verifyApproval: async () => true,
    verifyCommand: async () => true,
    recordFailure: async () => undefined,
    signTransaction: async () => {
      throw new Error('must not sign in a timer test');
    },
    broadcastTransaction: async () => undefined,
    confirmTransaction: async () => ({ status: 'confirmed' as const }),
    recordPing: async () => 'fake',
    notifyWebhooks: async () => undefined,
  };
}

async function run(input: Omit<TransactionWorkflowInput, 'transactionId'>, during?: (id: string) => Promise<void>) {
  const projected: { status: string; version: number }[] = [];
  const taskQueue = `timers-${randomUUID()}`;
  const bundle = await workflowBundle();
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: 'codePath' in bundle ? bundle : { code: bundle.code },
    activities: fakeActivities(projected),
    sinks: NO_TRACING_SINKS,
  });
  const transactionId = randomUUID();
  const result = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start('transactionWorkflow', {
      taskQueue,
      workflowId: transactionWorkflowId(transactionId),
      args: [{ ...input, transactionId }],
    });
    if (during) await during(transactionId);
    return handle.result();
  });
  return { result: result as { status: string; version: number }, projected };
}

test('nobody approves for 24 hours: expired, never signed', async () => {
  const start = await env.currentTimeMs();
  const { result, projected } = await run({ approvalExpiresAtMs: start + 24 * 3600_000, executionWindowMs: 3600_000, autoExecute: false });
  assert.equal(result.status, 'expired');
  assert.deepEqual(projected.at(-1), { status: 'expired', version: 2 });
  assert.ok((await env.currentTimeMs()) - start >= 24 * 3600_000, 'a day passed on the server clock');
});

test('approved but never executed within the hour: expired', async () => {
  const start = await env.currentTimeMs();
  const { result, projected } = await run({ approvalExpiresAtMs: start + 24 * 3600_000, executionWindowMs: 3600_000, autoExecute: false }, async (id) => {
    const handle = env.client.workflow.getHandle(transactionWorkflowId(id));
    await handle.executeUpdate(approveUpdate, { args: [{ approvalId: randomUUID()}] });
  });
  assert.equal(result.status, 'expired');
  assert.deepEqual(
    projected.map((p) => p.status),
    ['approved', 'expired'],
  );
});
