export * from './types';
export * from './format';
export { createEventService, type EventService, type EventServiceDeps } from './service';
export { runEventStream, DEFAULT_HEARTBEAT_MS, DEFAULT_POLL_MS, type EventStreamSink, type EventStreamOptions } from './stream';
export { findEvent, latestEventId, listEventsAfter } from './dal';
export { createTransactionWaiters, TRANSACTION_CHANNEL, DEFAULT_MAX_WAITERS_PER_PRINCIPAL, type TransactionWaiters, type TransactionWatch } from './waiters';
