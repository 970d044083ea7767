/**
 * `GET /api/events` (docs/http-contract.md): a user receives every status change of
 * their transactions, an agent those of the transactions it prepared. With
 * `Accept: text/event-stream` the answer is an SSE stream that resumes after
 * `Last-Event-ID` without loss; otherwise an immediate JSON batch.
 */
import type { Context } from 'koa';
import { AppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { EventsBatchResponse, EventsQuery, sseRetry, wantsEventStream, type EventScope, type EventService } from '../../domains/events';
import { defineRoute, type AnyRoute } from '../http/route';
import type { Principal } from '../http/principal';

export interface EventRouteDeps {
  events: EventService;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** Open streams per principal in this process (default 10: a few browser tabs and agents); one more is a 429. */
  maxStreamsPerPrincipal?: number;
  /** A stream ends after this long (default 30 min); EventSource reconnects with Last-Event-ID, which spreads streams over replicas. */
  maxStreamMs?: number;
  /** What the `retry:` field tells EventSource (default 2 s). */
  reconnectMs?: number;
}

export const scopeOf = (principal: Principal): EventScope =>
  principal.type === 'user' ? { type: 'user', userId: principal.userId } : { type: 'agent', agentId: principal.agentId };

const principalKey = (principal: Principal) => (principal.type === 'user' ? `user:${principal.userId}` : `agent:${principal.agentId}`);

export function eventRoutes(deps: EventRouteDeps): AnyRoute[] {
  const maxStreams = deps.maxStreamsPerPrincipal ?? 10;
  const maxStreamMs = deps.maxStreamMs ?? 30 * 60_000;
  const reconnectMs = deps.reconnectMs ?? 2_000;
  /** Open streams by principal: each one polls PostgreSQL, so one caller cannot open hundreds. */
  const open = new Map<string, number>();

  function openStream(ctx: Context, principal: Principal, after: bigint, requestId: string) {
    const key = principalKey(principal);
    const count = open.get(key) ?? 0;
    if (count >= maxStreams) {
      throw new AppError('rate_limited', 'too many open event streams; close one or use the JSON batch', { headers: { 'Retry-After': '5' } });
    }
    open.set(key, count + 1);

    const { req, res } = ctx;
    ctx.status = 200;
    ctx.respond = false; // we own the response from here on
    res.setHeader('Content-Type', 'text/event-stream');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Accel-Buffering', 'no');
    req.socket.setTimeout(0);
    req.socket.setNoDelay(true);
    req.socket.setKeepAlive(true);
    res.flushHeaders();

    const controller = new AbortController();
    const stop = () => controller.abort();
    res.once('close', stop);
    res.once('error', stop);
    const lifetime = setTimeout(stop, maxStreamMs);
    lifetime.unref();

    const closed = () => res.destroyed || res.writableEnded;
    res.write(sseRetry(reconnectMs));
    const started = Date.now();
    void deps.events
      .stream(
        scopeOf(principal),
        after,
        {
          write: (chunk) => {
            if (closed()) {
              stop();
              return true;
            }
            return res.write(chunk);
          },
          drained: () => new Promise<void>((resolve) => res.once('drain', () => resolve())),
        },
        controller.signal,
      )
      .then((last) => deps.logger.info({ requestId, from: after.toString(), to: last.toString(), ms: Date.now() - started }, 'event stream closed'))
      .finally(() => {
        clearTimeout(lifetime);
        const left = (open.get(key) ?? 1) - 1;
        if (left > 0) open.set(key, left);
        else open.delete(key);
        if (!closed()) res.end();
      });
  }

  return [
    defineRoute({
      method: 'GET',
      path: '/api/events',
      auth: 'principal',
      summary:
        'Status changes of your transactions (users: all of theirs; agents: those they prepared). `Accept: text/event-stream` gives a Server-Sent Events stream (`id`, `event: transaction.<status>`, JSON `data`), resumable with `Last-Event-ID`; otherwise a JSON batch.',
      tags: ['events'],
      query: EventsQuery,
      responses: { 200: EventsBatchResponse },
      alsoProduces: ['text/event-stream'],
      raw: true,
      handler: async ({ principal, query, koa, requestId }) => {
        if (!wantsEventStream(koa.get('accept'))) {
          const body = await deps.events.batch(scopeOf(principal), query);
          koa.status = 200;
          koa.body = body;
          return { status: 200, body };
        }
        const after = await deps.events.streamStart(koa.get('last-event-id') || undefined, query.after);
        openStream(koa, principal, after, requestId);
        return { status: 200 };
      },
    }),
  ];
}
