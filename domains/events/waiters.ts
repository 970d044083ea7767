/**
 * Wake-ups for long-polls (`GET /api/transaction_status?wait=N`), shared by
 * every held request of one API process: a single dedicated PostgreSQL
 * connection LISTENs on one channel, and the trigger of
 * migrations/009_transaction_notify.ts NOTIFYs the transaction's id after
 * every committed change of its version (or rejection reason) — whichever
 * process wrote it, this API, another replica or a worker. So a held request
 * costs no query while it waits, and it works across replicas without a bus.
 *
 * Waiters are keyed by transaction id; a NOTIFY wakes only that id's. Each
 * principal may hold a bounded number at once in this process (the next one is
 * a 429), and a waiter whose client went away is removed at once. If the
 * LISTEN connection drops, it reconnects with back-off and then wakes every
 * waiter, since notifications sent meanwhile are lost: each re-reads and, if
 * nothing changed, waits again.
 */
import pg from 'pg';
import { AppError, unavailable } from '../../lib/errors';
import type { Logger } from '../../lib/logger';

/** The channel migrations/009 notifies; the payload is the transaction id. */
export const TRANSACTION_CHANNEL = 'countersign_transaction';

export const DEFAULT_MAX_WAITERS_PER_PRINCIPAL = 25;

export interface TransactionWatch {
  /**
   * Resolves true as soon as the transaction changed since the watch began (or since the last
   * call that returned true), false when `untilMs` (epoch ms) passes or the signal aborts.
   */
  changed(untilMs: number): Promise<boolean>;
  close(): void;
}

export interface TransactionWaiters {
  /**
   * Starts watching one transaction for one principal. Resolves once the LISTEN is in place, so
   * a read made afterwards cannot miss a change. 429 past the principal's bound, 503 when the
   * database cannot be reached.
   */
  watch(principalKey: string, transactionId: string, signal: AbortSignal): Promise<TransactionWatch>;
  /** Watches open in this process (for tests and diagnostics). */
  size(): number;
  close(): Promise<void>;
}

export interface TransactionWaitersDeps {
  connectionString: string;
  logger: Pick<Logger, 'warn' | 'info'>;
  maxPerPrincipal?: number;
  /** How long a watch waits for the LISTEN connection before answering 503 (default 5 s). */
  connectTimeoutMs?: number;
}

interface Waiter {
  principalKey: string;
  transactionId: string;
  /** A change arrived while nobody was waiting on `changed()`. */
  pending: boolean;
  wake?: () => void;
}

export function createTransactionWaiters(deps: TransactionWaitersDeps): TransactionWaiters {
  const maxPerPrincipal = deps.maxPerPrincipal ?? DEFAULT_MAX_WAITERS_PER_PRINCIPAL;
  const connectTimeoutMs = deps.connectTimeoutMs ?? 5_000;
  const byTransaction = new Map<string, Set<Waiter>>();
  const perPrincipal = new Map<string, number>();
  let count = 0;

  let client: pg.Client | undefined;
  let connecting: Promise<void> | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let failures = 0;
  let closed = false;

  function notify(waiter: Waiter) {
    if (waiter.wake) waiter.wake();
    else waiter.pending = true;
  }

  function wakeTransaction(transactionId: string) {
    for (const waiter of byTransaction.get(transactionId) ?? []) notify(waiter);
  }

  function wakeAll() {
    for (const set of byTransaction.values()) for (const waiter of set) notify(waiter);
  }

  /** Connects and LISTENs; after a reconnect every waiter re-reads (notifications sent meanwhile are gone). */
  function connect(): Promise<void> {
    connecting ??= (async () => {
      const next = new pg.Client({ connectionString: deps.connectionString, application_name: 'countersign-waiters', keepAlive: true });
      next.on('notification', (message) => {
        if (message.channel === TRANSACTION_CHANNEL && message.payload) wakeTransaction(message.payload);
      });
      next.on('error', () => lost(next));
      next.on('end', () => lost(next));
      try {
        await next.connect();
        await next.query(`LISTEN ${TRANSACTION_CHANNEL}`);
      } catch (err) {
        next.removeAllListeners('end');
        void next.end().catch(() => undefined);
        throw err;
      }
      if (closed) {
        await next.end().catch(() => undefined);
        return;
      }
      const reconnected = failures > 0;
      client = next;
      failures = 0;
      if (reconnected) {
        deps.logger.info({ waiters: count }, 'long-poll listener reconnected');
        wakeAll();
      }
    })().finally(() => {
      connecting = undefined;
    });
    return connecting;
  }

  function lost(which: pg.Client) {
    if (client !== which) return;
    client = undefined;
    failures = Math.max(failures, 1);
    deps.logger.warn({ waiters: count }, 'long-poll listener lost its connection');
    scheduleReconnect();
  }

  /** Reconnects in the background while anyone waits (with no waiter, the next watch connects). */
  function scheduleReconnect() {
    if (closed || retryTimer || count === 0) return;
    const delay = Math.min(500 * 2 ** Math.min(failures, 4), 5_000);
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      connect().catch(() => {
        failures += 1;
        scheduleReconnect();
      });
    }, delay);
    retryTimer.unref();
  }

  async function listening(): Promise<void> {
    if (client) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('listener connect timeout')), connectTimeoutMs);
    });
    try {
      await Promise.race([connect(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  function remove(waiter: Waiter) {
    const set = byTransaction.get(waiter.transactionId);
    if (!set?.delete(waiter)) return;
    if (set.size === 0) byTransaction.delete(waiter.transactionId);
    const left = (perPrincipal.get(waiter.principalKey) ?? 1) - 1;
    if (left > 0) perPrincipal.set(waiter.principalKey, left);
    else perPrincipal.delete(waiter.principalKey);
    count -= 1;
    waiter.wake?.();
  }

  return {
    async watch(principalKey, transactionId, signal) {
      if (closed) throw unavailable('the API is shutting down; try again shortly');
      const held = perPrincipal.get(principalKey) ?? 0;
      if (held >= maxPerPrincipal) {
        throw new AppError('rate_limited', `too many requests waiting at once for this caller (at most ${maxPerPrincipal} per API process)`, { headers: { 'Retry-After': '5' } });
      }
      // Counted before the (possibly slow) connect, so concurrent watches cannot overshoot the bound.
      const waiter: Waiter = { principalKey, transactionId, pending: false };
      perPrincipal.set(principalKey, held + 1);
      count += 1;
      let set = byTransaction.get(transactionId);
      if (!set) byTransaction.set(transactionId, (set = new Set()));
      set.add(waiter);
      const onAbort = () => remove(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        await listening();
      } catch (err) {
        signal.removeEventListener('abort', onAbort);
        remove(waiter);
        deps.logger.warn({ err: { name: (err as Error)?.name, code: (err as { code?: unknown })?.code } }, 'long-poll listener cannot connect');
        throw unavailable('cannot wait for changes right now; try again shortly');
      }
      if (signal.aborted) remove(waiter);

      return {
        changed(untilMs) {
          if (waiter.pending) {
            waiter.pending = false;
            return Promise.resolve(true);
          }
          if (signal.aborted || !byTransaction.get(transactionId)?.has(waiter)) return Promise.resolve(false);
          return new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => finish(false), Math.max(0, untilMs - Date.now()));
            function finish(value: boolean) {
              clearTimeout(timer);
              waiter.wake = undefined;
              resolve(value);
            }
            // Woken by a NOTIFY (or removed: then `changed` is false, and the caller's signal says why).
            waiter.wake = () => finish(byTransaction.get(transactionId)?.has(waiter) === true);
          });
        },
        close() {
          signal.removeEventListener('abort', onAbort);
          remove(waiter);
        },
      };
    },

    size: () => count,

    async close() {
      closed = true;
      clearTimeout(retryTimer);
      for (const set of [...byTransaction.values()]) for (const waiter of [...set]) remove(waiter);
      const current = client;
      client = undefined;
      await connecting?.catch(() => undefined);
      await current?.end().catch(() => undefined);
    },
  };
}
