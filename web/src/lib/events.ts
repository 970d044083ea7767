import { TX_STATUSES, type TransactionEvent } from './types';

/**
 * The live inbox: Server-Sent Events from `GET /api/events`, authenticated by
 * the session cookie (EventSource cannot send an Authorization header).
 * EventSource reconnects by itself and sends `Last-Event-ID`, so the server can
 * replay what we missed. It gives up only on a fatal answer (e.g. 401, or a
 * wrong content type): then we start a fresh one with back-off, and every
 * (re)open asks listeners to resynchronise from the JSON API.
 */

export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'offline';

export type LiveMessage = { kind: 'event'; event: TransactionEvent } | { kind: 'resync' };

export interface LiveHandlers {
  onMessage(message: LiveMessage): void;
  onState(state: LiveState): void;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function parseEventData(data: unknown): TransactionEvent | null {
  if (typeof data !== 'string' || data.length > 10_000) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return null;
  }
  if (!parsed || typeof parsed !== 'object') return null;
  const { transaction_id, status, version } = parsed as Record<string, unknown>;
  if (typeof transaction_id !== 'string' || !UUID.test(transaction_id)) return null;
  if (typeof status !== 'string') return null;
  return { transaction_id: transaction_id.toLowerCase(), status, version: typeof version === 'number' ? version : undefined };
}

export function connectLiveEvents(handlers: LiveHandlers, url = '/api/events'): { close(): void } {
  let source: EventSource | null = null;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  let failures = 0;

  const listener = (message: MessageEvent) => {
    const event = parseEventData(message.data);
    if (event) handlers.onMessage({ kind: 'event', event });
  };

  const open = () => {
    if (closed) return;
    handlers.onState(failures === 0 ? 'connecting' : 'reconnecting');
    const es = new EventSource(url);
    source = es;
    es.onopen = () => {
      failures = 0;
      handlers.onState('live');
      handlers.onMessage({ kind: 'resync' });
    };
    es.onerror = () => {
      if (closed) return;
      if (es.readyState === EventSource.CLOSED) {
        // The browser will not retry this one; we do, with back-off (5 s … 60 s).
        es.close();
        failures += 1;
        handlers.onState('offline');
        retryTimer = setTimeout(open, Math.min(60_000, 5_000 * 2 ** Math.min(failures - 1, 4)));
      } else {
        handlers.onState('reconnecting');
      }
    };
    for (const status of TX_STATUSES) es.addEventListener(`transaction.${status}`, listener);
    es.addEventListener('message', listener);
  };

  open();
  return {
    close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      source?.close();
    },
  };
}
