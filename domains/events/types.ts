/**
 * Transaction events as the API publishes them: one per applied status change
 * (rows of `transaction_events`, written by the transaction projection), read
 * by `GET /api/events` as an SSE stream or a JSON batch.
 */
import { z } from 'zod';
import { TRANSACTION_STATUSES } from '../../workflows/definitions';

export type EventStatus = (typeof TRANSACTION_STATUSES)[number];

export interface EventRow {
  /** bigserial, as a string (lib/db parses INT8 as text). */
  id: string;
  transaction_id: string;
  user_id: string;
  agent_id: string | null;
  status: EventStatus;
  version: number;
  created_at: Date;
}

/** Whose events: a user sees every event of their transactions, an agent those it prepared. */
export type EventScope = { type: 'user'; userId: string } | { type: 'agent'; agentId: string };

/** PostgreSQL's bigint maximum: cursors above it are clamped (every value of the pattern is meaningful). */
export const MAX_EVENT_ID = 9223372036854775807n;
export const EVENT_BATCH_MAX = 100;

export const EventCursor = z
  .string()
  .regex(/^[0-9]{1,19}$/, 'expected an event id (decimal digits)')
  .describe('Return events with an id greater than this one (the last id you received). Values above 9223372036854775807 are treated as that maximum.');

export const EventsQuery = z
  .object({
    after: EventCursor.optional(),
    limit: z
      .string()
      .regex(/^([1-9]|[1-9][0-9]|100)$/, 'expected 1–100')
      .describe('JSON batch only: at most this many events (1–100, default 100).')
      .optional(),
  })
  .strict()
  .describe(
    'Without `Accept: text/event-stream`: an immediate JSON batch of the events after `after` (default 0). With it: a Server-Sent Events stream that resumes after the `Last-Event-ID` header, else after `after`, else starts with new events only.',
  );
export type EventsQuery = z.output<typeof EventsQuery>;

export const EventView = z
  .object({
    id: z.string().describe('Per-principal increasing sequence; pass the last one back as `after` or `Last-Event-ID`.'),
    event: z.string().describe('`transaction.<status>`'),
    transaction_id: z.string(),
    status: z.enum(TRANSACTION_STATUSES),
    version: z.number().int(),
    created_at: z.string(),
  })
  .strict();
export type EventView = z.output<typeof EventView>;

export const EventsBatchResponse = z
  .object({
    events: z.array(EventView),
    last_event_id: z.string().nullable().describe('The id of the last event returned, or null when there was none.'),
  })
  .strict();
export type EventsBatchResponse = z.output<typeof EventsBatchResponse>;
