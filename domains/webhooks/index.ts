export * from './types';
export * from './url-policy';
export * from './signature';
export { createWebhookService, toWebhookView, type WebhookService, type WebhookServiceDeps } from './service';
export { resolveWebhookTarget, systemLookup, type LookupFn, type ResolvedAddress, type Resolution } from './resolve';
export { postWebhook, networkError, USER_AGENT, type PostOutcome, type PostRequest } from './deliver';
export {
  abandonDelivery,
  abandonPendingForEvent,
  activeWebhookOf,
  agentHasActiveWebhook,
  ensureDeliveries,
  isAgentActive,
  listActiveWebhooks,
  pendingDeliveries,
  recordAttempt,
  requeueFailedDeliveries,
  type PendingDelivery,
} from './dal';
