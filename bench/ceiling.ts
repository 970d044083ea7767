/**
 * The orchestration ceiling: the same Temporal operations a real flow causes —
 * start `transactionWorkflow` with the same search attributes, the approve
 * Update (with its update id), the execute Update, then the workflow's own
 * local and regular activities (verifyApproval, projectStatus, sign,
 * broadcast, confirm, projectStatus) — against a worker on its own task
 * queue whose activities do nothing. Driven by a Temporal client directly, in
 * the same closed loop as the end-to-end run.
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Client } from '@temporalio/client';
import { approveUpdate, executeUpdate, SEARCH_ATTRIBUTES, type TransactionWorkflowInput } from '../workflows/definitions';
import { summarize, sleep, type Summary } from './lib/stats';

export interface CeilingOptions {
  client: Client;
  taskQueue: string;
  concurrency: number;
  warmupMs: number;
  windowMs: number;
  drainMs: number;
  note: (message: string) => void;
  onWindow?: (edge: 'start' | 'end') => void;
}

export interface CeilingResult {
  concurrency: number;
  windowSeconds: number;
  flowsStarted: number;
  flowsCompletedInWindow: number;
  flowsPerSecond: number;
  errors: Record<string, number>;
  latencyMs: { startToCompleted: Summary; start: Summary; approveUpdate: Summary; executeUpdate: Summary };
}

export async function runCeiling(options: CeilingOptions): Promise<CeilingResult> {
  const started = Date.now();
  const windowStart = started + options.warmupMs;
  const windowEnd = windowStart + options.windowMs;
  const inWindow = (t: number) => t >= windowStart && t < windowEnd;
  const done: { begun: number; ended: number; start: number; approve: number; execute: number }[] = [];
  const errors: Record<string, number> = {};
  let flowsStarted = 0;
  let windowEdges = 0;

  async function oneFlow() {
    const transactionId = randomUUID();
    const approvalId = randomUUID();
    const begun = Date.now();
    const t0 = performance.now();
    const input: TransactionWorkflowInput = { transactionId, approvalExpiresAtMs: begun + 3_600_000, executionWindowMs: 3_600_000, autoExecute: false, notifyWebhooks: false };
    const handle = await options.client.workflow.start('transactionWorkflow', {
      taskQueue: options.taskQueue,
      workflowId: `tx-${transactionId}`,
      args: [input],
      typedSearchAttributes: [
        { key: SEARCH_ATTRIBUTES.status, value: 'pending_approval' },
        { key: SEARCH_ATTRIBUTES.wallet, value: '0x0000000000000000000000000000000000000001' },
        { key: SEARCH_ATTRIBUTES.owner, value: approvalId },
        { key: SEARCH_ATTRIBUTES.chainId, value: 31337 },
        { key: SEARCH_ATTRIBUTES.agent, value: approvalId },
      ],
    });
    const t1 = performance.now();
    await handle.executeUpdate(approveUpdate, { args: [{ approvalId }], updateId: approvalId });
    const t2 = performance.now();
    await handle.executeUpdate(executeUpdate, { args: [{ commandId: approvalId }], updateId: `execute-${approvalId}` });
    const t3 = performance.now();
    const state = await handle.result();
    if (state.status !== 'confirmed') throw new Error(`ended ${state.status}`);
    done.push({ begun, ended: Date.now(), start: t1 - t0, approve: t2 - t1, execute: t3 - t2 });
  }

  // After the drain, whatever is still waiting is cancelled (no gRPC retry outlives the run).
  const abort = new AbortController();
  setMaxListeners(0, abort.signal); // one listener per flow in flight
  const loops = Array.from({ length: options.concurrency }, async () => {
    while (Date.now() < windowEnd && !abort.signal.aborted) {
      flowsStarted += 1;
      try {
        await options.client.withAbortSignal(abort.signal, oneFlow);
      } catch (err) {
        if (abort.signal.aborted) break;
        const key = (err as Error).message.slice(0, 80);
        errors[key] = (errors[key] ?? 0) + 1;
        await sleep(100);
      }
    }
  });
  const startEdge = setTimeout(() => {
    windowEdges = 1;
    options.onWindow?.('start');
  }, options.warmupMs);
  const report = setInterval(() => options.note(`  ${Math.round((Date.now() - started) / 1000)} s: ${done.length} workflows completed`), 10_000);
  const ended = Promise.all(loops);
  await sleep(Math.max(0, windowEnd - Date.now()));
  clearTimeout(startEdge);
  if (windowEdges === 1) options.onWindow?.('end');
  await Promise.race([ended, sleep(options.drainMs)]);
  abort.abort();
  await ended;
  clearInterval(report);

  const measured = done.filter((d) => inWindow(d.begun));
  const completed = done.filter((d) => inWindow(d.ended)).length;
  return {
    concurrency: options.concurrency,
    windowSeconds: options.windowMs / 1000,
    flowsStarted,
    flowsCompletedInWindow: completed,
    flowsPerSecond: completed / (options.windowMs / 1000),
    errors,
    latencyMs: {
      startToCompleted: summarize(measured.map((d) => d.ended - d.begun)),
      start: summarize(measured.map((d) => d.start)),
      approveUpdate: summarize(measured.map((d) => d.approve)),
      executeUpdate: summarize(measured.map((d) => d.execute)),
    },
  };
}
