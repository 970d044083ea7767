/**
 * Prometheus metrics (prom-client). Every metric Countersign exports is named
 * here, in one registry per process: the API serves it on its operations port
 * (OPS_PORT, loopback by default), the worker on its health port
 * (WORKER_HEALTH_PORT/metrics), the worker's with the Temporal SDK's own
 * metrics appended (lib/temporal-runtime.ts). docs/operations.md lists them.
 *
 * Labels are bounded: route templates (never raw paths), statuses, outcomes,
 * purposes — never an id, an address or an amount.
 *
 * Other modules increment the counters they own by importing them from here
 * (e.g. `policyRefusals.inc({ policy: 'daily_limit' })`).
 */
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

export const registry = new Registry();

/** Seconds: from a fast local call to a request that waits for a human. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Seconds a human takes to approve: a minute to a week. */
const HUMAN_BUCKETS = [5, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86_400, 3 * 86_400, 7 * 86_400];

export const httpRequestDuration = new Histogram({
  name: 'countersign_http_request_duration_seconds',
  help: 'API requests by method, route template and status code (the _count series is the request rate)',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const transactionTransitions = new Counter({
  name: 'countersign_transaction_transitions_total',
  help: 'Status changes written to the transaction projection (from "none" for a new request), counted once committed',
  labelNames: ['from', 'to'] as const,
  registers: [registry],
});

export const timeToApproval = new Histogram({
  name: 'countersign_time_to_approval_seconds',
  help: 'From prepare to the owner\'s approval',
  buckets: HUMAN_BUCKETS,
  registers: [registry],
});

export const approveToBroadcast = new Histogram({
  name: 'countersign_approve_to_broadcast_seconds',
  help: 'From the owner\'s approval to the signed transaction accepted by a node (includes the agent\'s wait before execute)',
  buckets: [...LATENCY_BUCKETS, 60, 300, 900, 3600],
  registers: [registry],
});

export const signingDuration = new Histogram({
  name: 'countersign_signing_duration_seconds',
  help: 'signTransaction activity attempts (gate, key store decrypt, nonce, signature, storage) by outcome',
  labelNames: ['outcome'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const activityDuration = new Histogram({
  name: 'countersign_activity_duration_seconds',
  help: 'Temporal activity attempts run by this worker, by activity type and outcome',
  labelNames: ['activity', 'outcome'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const keystoreDuration = new Histogram({
  name: 'countersign_keystore_duration_seconds',
  help: 'Key store (Vault/OpenBao transit, or the local store) calls by operation, purpose and outcome',
  labelNames: ['operation', 'purpose', 'outcome'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});

/** Incremented by the transaction policies (spending limits, allow-lists) when they refuse a request. */
export const policyRefusals = new Counter({
  name: 'countersign_policy_refusals_total',
  help: 'Requests refused by a wallet or agent policy, by policy',
  labelNames: ['policy'] as const,
  registers: [registry],
});

/** Incremented when a workflow Update that did not come through the API's checks is refused (e.g. sent from the Temporal UI or CLI). */
export const backdoorRefusals = new Counter({
  name: 'countersign_backdoor_refusals_total',
  help: 'Workflow Updates refused because PostgreSQL holds no matching record (a message sent around the API)',
  labelNames: ['update'] as const,
  registers: [registry],
});

export const webhookDeliveryAttempts = new Counter({
  name: 'countersign_webhook_delivery_attempts_total',
  help: 'Webhook delivery attempts by resulting state: delivered, pending (failed, will retry) or failed (gave up)',
  labelNames: ['state'] as const,
  registers: [registry],
});

let defaultsCollected = false;

/** Process metrics (CPU, memory, event loop lag) and a `service` label on every series; once per process. */
export function initMetrics(service: 'api' | 'worker'): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'countersign_' });
}

/** Times `fn` into `histogram` with `labels` plus `outcome` = ok | error. */
export async function timed<T, L extends string>(
  histogram: Histogram<L | 'outcome'>,
  labels: Partial<Record<L, string>>,
  fn: () => Promise<T>,
): Promise<T> {
  const end = histogram.startTimer(labels as Partial<Record<L | 'outcome', string>>);
  try {
    const result = await fn();
    end({ outcome: 'ok' } as Partial<Record<L | 'outcome', string>>);
    return result;
  } catch (error) {
    end({ outcome: 'error' } as Partial<Record<L | 'outcome', string>>);
    throw error;
  }
}
