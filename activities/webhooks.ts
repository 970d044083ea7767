/**
 * Webhook delivery, as a Temporal activity. The workflow calls
 * `notifyWebhooks({ transactionId, version })` after each status change at
 * which the agent has an active webhook (`activeWebhookOf`, the same two
 * checks as below); the activity reads everything else from PostgreSQL (the
 * event, the agent's webhooks, their encrypted secrets) — the message carries
 * ids only, and what it finds here decides who receives what.
 *
 * Delivery is at least once: one `webhook_deliveries` row per (webhook,
 * event) whose id is the `delivery_id` receivers deduplicate on. Each
 * activity attempt tries every pending row once; if any is still pending the
 * activity throws, and Temporal's retry policy brings the back-off. A row
 * fails for good after `maxAttempts` attempts.
 *
 * Security invariants: the secret is decrypted here (worker credential), used
 * as the HMAC key and zeroed; neither it nor the signature is ever logged or
 * stored. The URL is checked again and resolved once before each attempt and
 * the request goes to that checked address (domains/webhooks/deliver.ts).
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../config/env';
import { unixSeconds, type Clock } from '../lib/clock';
import type { Db } from '../lib/db';
import type { Logger } from '../lib/logger';
import { checksumAddress } from '../domains/chain';
import { webhookDeliveryAttempts } from '../lib/metrics';
import { findEvent } from '../domains/events';
import { agentLabelsOf } from '../domains/policies';
import { eventName } from '../domains/events';
import type { EventRow } from '../domains/events';
import type { KeyStore } from '../domains/keystore';
import { isKeyStoreError } from '../domains/keystore';
import {
  abandonDelivery,
  abandonPendingForEvent,
  ensureDeliveries,
  isAgentActive,
  listActiveWebhooks,
  pendingDeliveries,
  recordAttempt,
  requeueFailedDeliveries,
  type PendingDelivery,
} from '../domains/webhooks';
import { postWebhook, type PostOutcome } from '../domains/webhooks';
import { resolveWebhookTarget, systemLookup, type LookupFn } from '../domains/webhooks';
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signatureHeader } from '../domains/webhooks';
import type { DeliveryPayload } from '../domains/webhooks';
import { checkWebhookUrl, webhookUrlPolicy, type StackConfig } from '../domains/webhooks';

export interface WebhookActivityDeps {
  db: Db;
  keystore: Pick<KeyStore, 'decrypt'>;
  logger: Pick<Logger, 'info' | 'warn'>;
  config: Pick<Config, 'production' | 'WEBHOOK_ALLOW_LOOPBACK'> & StackConfig;
  clock: Clock;
  /** DNS (tests inject answers). */
  lookup?: LookupFn;
  /** Per-request deadline: DNS, connect, TLS and response headers (default 5 s). */
  timeoutMs?: number;
  /** Attempts per delivery before it is marked failed (default 10). */
  maxAttempts?: number;
}

export const WEBHOOK_TIMEOUT_MS = 5_000;
export const WEBHOOK_MAX_ATTEMPTS = 10;

/** Failure types the workflow's retry policy should know (both retryable). */
export const WEBHOOK_FAILURE_TYPES = { eventMissing: 'WebhookEventMissing', pending: 'WebhookDeliveryPending', keystore: 'WebhookKeyStoreUnavailable' } as const;

/** `labels`: the owner's labels the agent may see (its own wallets'), EIP-55, as they are at delivery. */
export function deliveryPayload(deliveryId: string, event: EventRow, labels: DeliveryPayload['labels'] = []): DeliveryPayload {
  return {
    delivery_id: deliveryId,
    event: eventName(event.status),
    transaction_id: event.transaction_id,
    status: event.status,
    version: event.version,
    created_at: event.created_at.toISOString(),
    labels,
  };
}

export function createWebhookActivities(deps: WebhookActivityDeps) {
  const { db } = deps;
  const policy = webhookUrlPolicy(deps.config);
  const mode = policy.mode;
  const lookup = deps.lookup ?? systemLookup;
  const timeoutMs = deps.timeoutMs ?? WEBHOOK_TIMEOUT_MS;
  const maxAttempts = deps.maxAttempts ?? WEBHOOK_MAX_ATTEMPTS;
  const now = () => deps.clock.now();

  /** One attempt of one delivery. Returns the state it left the row in. */
  async function attempt(event: EventRow, labels: DeliveryPayload['labels'], delivery: PendingDelivery): Promise<'delivered' | 'pending' | 'failed' | 'keystore_unavailable'> {
    if (delivery.webhook_deleted_at) {
      await abandonDelivery(db, delivery.id, 'webhook_deleted', now());
      return 'failed';
    }
    let secret: Buffer;
    try {
      secret = await deps.keystore.decrypt('webhook', delivery.webhook_id, delivery.secret_ciphertext);
    } catch (err) {
      // Vault away: not the receiver's fault, so no attempt is counted; retry later.
      if (isKeyStoreError(err) && err.retryable) return 'keystore_unavailable';
      deps.logger.warn({ deliveryId: delivery.id, webhookId: delivery.webhook_id, code: isKeyStoreError(err) ? err.code : 'error' }, 'webhook secret cannot be decrypted');
      await abandonDelivery(db, delivery.id, 'secret_unreadable', now());
      return 'failed';
    }

    let outcome: PostOutcome;
    try {
      const body = JSON.stringify(deliveryPayload(delivery.id, event, labels));
      const checked = checkWebhookUrl(delivery.url, policy);
      const resolved = checked.ok ? await resolveWebhookTarget(checked.target, mode, lookup, timeoutMs) : undefined;
      if (!checked.ok) outcome = { delivered: false, responseStatus: null, error: 'url_not_allowed' };
      else if (!resolved?.ok) outcome = { delivered: false, responseStatus: null, error: resolved?.reason ?? 'dns_failed' };
      else {
        outcome = await postWebhook({
          target: checked.target,
          address: resolved.address,
          body,
          timeoutMs,
          headers: {
            'Content-Type': 'application/json',
            [SIGNATURE_HEADER]: signatureHeader(secret, unixSeconds(now()), body),
            [DELIVERY_HEADER]: delivery.id,
            [EVENT_HEADER]: eventName(event.status),
          },
        });
      }
    } finally {
      secret.fill(0);
    }

    const state = (await recordAttempt(db, delivery.id, outcome, maxAttempts, now())) ?? 'failed';
    webhookDeliveryAttempts.inc({ state });
    deps.logger.info(
      {
        deliveryId: delivery.id,
        webhookId: delivery.webhook_id,
        transactionId: event.transaction_id,
        version: event.version,
        attempt: delivery.attempts + 1,
        responseStatus: outcome.responseStatus,
        error: outcome.error,
        state,
      },
      'webhook delivery attempt',
    );
    return state;
  }

  return {
    /**
     * Delivers the event of (transactionId, version) to every active webhook
     * of the transaction's agent. Throws a retryable failure while the event
     * is not recorded yet or any delivery is still pending.
     */
    async notifyWebhooks({ transactionId, version }: { transactionId: string; version: number }): Promise<void> {
      const event = await findEvent(db, transactionId, version);
      if (!event) throw ApplicationFailure.retryable(`no event recorded for version ${version} yet`, WEBHOOK_FAILURE_TYPES.eventMissing);
      if (!event.agent_id) return; // a user-initiated transaction has no agent to call back

      if (!(await isAgentActive(db, event.agent_id, now()))) {
        // A revoked or expired agent gets nothing more, including what was still pending.
        await abandonPendingForEvent(db, event.id, 'agent_inactive', now());
        return;
      }
      const webhooks = await listActiveWebhooks(db, event.agent_id);
      await ensureDeliveries(
        db,
        webhooks.map((w) => ({ id: randomUUID(), webhook_id: w.id, event_id: event.id, created_at: now() })),
      );
      const pending = await pendingDeliveries(db, event.id);
      if (pending.length === 0) return;

      const labels = (await agentLabelsOf(db, transactionId)).map((entry) => ({ address: checksumAddress(entry.address), label: entry.label }));
      const states = await Promise.all(pending.map((delivery) => attempt(event, labels, delivery)));
      const waiting = states.filter((s) => s === 'pending' || s === 'keystore_unavailable').length;
      if (states.includes('keystore_unavailable')) {
        throw ApplicationFailure.retryable('the key store is unavailable; webhook deliveries wait', WEBHOOK_FAILURE_TYPES.keystore);
      }
      if (waiting > 0) throw ApplicationFailure.retryable(`${waiting} of ${pending.length} webhook deliveries pending`, WEBHOOK_FAILURE_TYPES.pending);
    },

    /** An operator's re-send (workflows/resend.ts): failed deliveries of the transaction back to pending; the versions to notify again. */
    async requeueWebhookDeliveries({ transactionId }: { transactionId: string }): Promise<number[]> {
      const versions = await requeueFailedDeliveries(db, transactionId);
      deps.logger.info({ transactionId, versions }, 'failed webhook deliveries queued again');
      return versions;
    },
  };
}

export type WebhookActivities = ReturnType<typeof createWebhookActivities>;
