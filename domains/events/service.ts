/**
 * Notifications by pull: the events a principal may see, as a JSON batch or an
 * SSE stream. Object-level authorization is the scope itself — a user's
 * events are those of their transactions (`user_id`), an agent's those it
 * prepared (`agent_id`); there is no way to name another principal's events.
 */
import type { Db } from '../../lib/db';
import type { Logger } from '../../lib/logger';
import { invalidRequest } from '../../lib/errors';
import { latestEventId, listEventsAfter } from './dal';
import { parseEventCursor, toEventView } from './format';
import { DEFAULT_HEARTBEAT_MS, DEFAULT_POLL_MS, runEventStream, type EventStreamSink } from './stream';
import { EVENT_BATCH_MAX, type EventScope, type EventsBatchResponse, type EventsQuery } from './types';

export interface EventServiceDeps {
  db: Db;
  logger: Pick<Logger, 'warn'>;
  /** Poll interval of a stream (default 400 ms). */
  pollMs?: number;
  /** Comment heartbeat interval of a quiet stream (default 15 s). */
  heartbeatMs?: number;
}

export type EventService = ReturnType<typeof createEventService>;

export function createEventService(deps: EventServiceDeps) {
  const pollMs = deps.pollMs ?? DEFAULT_POLL_MS;
  const heartbeatMs = deps.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;

  return {
    pollMs,
    heartbeatMs,

    /** The events after `query.after` (default 0), ascending, at most `query.limit` (default 100). */
    async batch(scope: EventScope, query: EventsQuery): Promise<EventsBatchResponse> {
      const after = parseEventCursor(query.after) ?? 0n;
      const limit = query.limit === undefined ? EVENT_BATCH_MAX : Number(query.limit);
      const rows = await listEventsAfter(deps.db, scope, after, limit);
      const events = rows.map(toEventView);
      return { events, last_event_id: events.at(-1)?.id ?? null };
    },

    /**
     * Where a stream starts: after `Last-Event-ID` (a reconnect — it wins over
     * the URL, which EventSource repeats unchanged), else after `?after=`,
     * else after the newest event (only new events).
     */
    async streamStart(lastEventId: string | undefined, after: string | undefined): Promise<bigint> {
      if (lastEventId !== undefined && lastEventId.trim() !== '') {
        const cursor = parseEventCursor(lastEventId.trim());
        if (cursor === undefined) {
          throw invalidRequest('the Last-Event-ID header is not valid', [{ field: 'Last-Event-ID', message: 'expected an event id (1–19 decimal digits)', in: 'header' }]);
        }
        return cursor;
      }
      const fromQuery = parseEventCursor(after);
      if (fromQuery !== undefined) return fromQuery;
      return latestEventId(deps.db);
    },

    /** Streams until `signal` aborts; resolves with the last id written. */
    stream(scope: EventScope, after: bigint, sink: EventStreamSink, signal: AbortSignal): Promise<bigint> {
      return runEventStream({
        read: (cursor, batchSize) => listEventsAfter(deps.db, scope, cursor, batchSize),
        after,
        sink,
        signal,
        pollMs,
        heartbeatMs,
        batchSize: EVENT_BATCH_MAX,
        onError: (err) => deps.logger.warn({ err: { name: (err as Error)?.name, code: (err as { code?: unknown })?.code } }, 'event stream poll failed'),
      });
    },
  };
}
