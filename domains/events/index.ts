export * from './types';
export * from './format';
export { createEventService, type EventService, type EventServiceDeps } from './service';
export { runEventStream, DEFAULT_HEARTBEAT_MS, DEFAULT_POLL_MS, type EventStreamSink, type EventStreamOptions } from './stream';
export { findEvent, latestEventId, listEventsAfter } from './dal';
