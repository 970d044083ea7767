/** Agent webhooks: rows, request and response shapes. */
import { z } from 'zod';
import { webhookUrlSchema, type WebhookUrlPolicy } from './url-policy';

export interface WebhookRow {
  id: string;
  agent_id: string;
  url: string;
  /** Key-store ciphertext of the secret (purpose `webhook`, subject = webhook id); never the secret. */
  secret_ciphertext: string;
  created_at: Date;
  deleted_at: Date | null;
}

export type DeliveryState = 'pending' | 'delivered' | 'failed';

export interface DeliveryRow {
  id: string;
  webhook_id: string;
  event_id: string;
  state: DeliveryState;
  attempts: number;
  response_status: number | null;
  last_error: string | null;
  last_attempt_at: Date | null;
  delivered_at: Date | null;
  created_at: Date;
}

/** Per agent; one more is a 409 (not a 400: the request itself is valid). */
export const MAX_WEBHOOKS_PER_AGENT = 10;

export function createWebhookBody(policy: WebhookUrlPolicy) {
  return z.object({ url: webhookUrlSchema(policy) }).strict();
}
export type CreateWebhookBody = { url: string };

export const WebhookIdParams = z.object({ id: z.uuid() }).strict();

export const WebhookView = z
  .object({
    webhook_id: z.string(),
    url: z.string(),
    created_at: z.string(),
  })
  .strict();
export type WebhookView = z.output<typeof WebhookView>;

export const CreatedWebhook = z
  .object({
    webhook_id: z.string(),
    url: z.string(),
    secret: z
      .string()
      .describe('Shown once. The HMAC-SHA256 key of X-Countersign-Signature (its UTF-8 bytes, prefix included): v1 = hex(HMAC(secret, t + "." + raw body)).'),
    created_at: z.string(),
  })
  .strict();
export type CreatedWebhook = z.output<typeof CreatedWebhook>;

export const WebhookList = z.object({ webhooks: z.array(WebhookView) }).strict();
export type WebhookList = z.output<typeof WebhookList>;

/** The JSON body of every delivery; `version` orders the status changes of one transaction. */
export interface DeliveryPayload {
  delivery_id: string;
  event: string;
  transaction_id: string;
  status: string;
  version: number;
  created_at: string;
  /** The owner's address-book labels of the agent's own wallets among the addresses the request names; each beside its address. */
  labels: { address: string; label: string }[];
}
