import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Client } from '@temporalio/client';
import { defineRoute } from '../http/route';
import { pingWorkflowId } from '../../workflows/definitions';
import { unavailable } from '../../lib/errors';

/**
 * Below the 10 s that HTTP clients (and Schemathesis' response-time check) commonly
 * allow: a busy or absent worker is a prompt 503 with Retry-After, not a hung request.
 */
const PING_DEADLINE_MS = 5_000;

/**
 * A round trip through the whole pipe — API → Temporal → worker → PostgreSQL —
 * for operators and the first end-to-end test. Authenticated, so it cannot be
 * used to flood the task queue anonymously.
 */
export function diagnosticsRoutes(deps: { temporal: Client; taskQueue: string }) {
  return [
    defineRoute({
      method: 'POST',
      path: '/api/diagnostics/ping',
      auth: 'principal',
      summary: 'Runs a trivial workflow that records a row in PostgreSQL',
      tags: ['meta'],
      responses: { 200: z.object({ ping_id: z.uuid(), recorded_by: z.string() }) },
      handler: async () => {
        const pingId = randomUUID();
        const handle = await deps.temporal.workflow.start('pingWorkflow', {
          taskQueue: deps.taskQueue,
          workflowId: pingWorkflowId(pingId),
          args: [pingId],
          workflowExecutionTimeout: '1 minute',
        });
        const result = await resultWithin(deps.temporal, () => handle.result() as Promise<{ recordedBy: string }>, PING_DEADLINE_MS);
        return { status: 200, body: { ping_id: pingId, recorded_by: result.recordedBy } };
      },
    }),
  ];
}

/**
 * The workflow's result, or 503 once `ms` have passed. The deadline is the gRPC call's own,
 * so the long poll for the result ends with it: nothing keeps waiting on the connection after
 * the answer (a dangling poll failed later, when the client closed).
 */
async function resultWithin<T>(client: Client, result: () => Promise<T>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  try {
    return await client.withDeadline(deadline, result);
  } catch (err) {
    if (Date.now() >= deadline) throw unavailable('no worker answered in time');
    throw err;
  }
}
