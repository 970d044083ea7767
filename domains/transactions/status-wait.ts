/**
 * `GET /api/transaction_status?wait=N`: one call that answers when the
 * owner's decision (or any later status change) is in. It answers at once if
 * the status already differs from `if_status`, or the version is newer than
 * `if_version` (without either: from the status and version it finds first);
 * otherwise it holds the request until that changes or N seconds pass, and
 * answers 200 with the current status either way.
 *
 * Holding costs no query per second: the request sleeps on a shared LISTEN
 * connection (domains/events/waiters.ts) and re-reads only when PostgreSQL
 * says this transaction changed, or when a deadline turns it expired. The
 * object lookup (404 for unknown and foreign alike) comes before any waiting.
 */
import type { Clock } from '../../lib/clock';
import type { TransactionWaiters } from '../events';
import type { Caller } from '../../workflows/definitions';
import type { TransactionView } from './schemas';

export interface WaitOptions {
  /** 1–60 seconds. */
  waitSeconds: number;
  ifStatus?: TransactionView['status'] | undefined;
  ifVersion?: number | undefined;
  /** Aborts when the client goes away. */
  signal: AbortSignal;
}

export interface StatusWaitDeps {
  /** The status read (404 for unknown and foreign ids). */
  read(caller: Caller, transactionId: string): Promise<TransactionView>;
  waiters: Pick<TransactionWaiters, 'watch'>;
  clock: Clock;
}

const principalKey = (caller: Caller) => `${caller.type}:${caller.id}`;

/** Pure: has `view` moved past what the caller already knows? */
export function isNews(view: Pick<TransactionView, 'status' | 'version' | 'rejection_reason'>, known: { status?: string | undefined; version?: number | undefined }): boolean {
  const moved = (known.status !== undefined && view.status !== known.status) || (known.version !== undefined && view.version > known.version);
  // The owner's reason is written just after the rejection itself: an agent waiting for the
  // decision should get both in one answer (the wait still ends at its deadline without it).
  return moved && !(view.status === 'rejected' && view.rejection_reason === null);
}

/** Pure: when the status turns `expired` with no write (effectiveStatus), as epoch ms; undefined if it cannot. */
export function nextDeadline(view: Pick<TransactionView, 'status' | 'expires_at'>): number | undefined {
  return view.status === 'pending_approval' || view.status === 'approved' ? Date.parse(view.expires_at) : undefined;
}

export function createStatusWait(deps: StatusWaitDeps) {
  return {
    async wait(caller: Caller, transactionId: string, options: WaitOptions): Promise<TransactionView> {
      const first = await deps.read(caller, transactionId);
      const explicit = options.ifStatus !== undefined || options.ifVersion !== undefined;
      const known = explicit ? { status: options.ifStatus, version: options.ifVersion } : { status: first.status, version: first.version };
      if (isNews(first, known)) return first;

      const until = deps.clock.now().getTime() + options.waitSeconds * 1000;
      const watch = await deps.waiters.watch(principalKey(caller), transactionId, options.signal);
      try {
        // Read again now that the LISTEN is in place: a change between the first read and the watch is not missed.
        let view = await deps.read(caller, transactionId);
        for (;;) {
          if (isNews(view, known) || options.signal.aborted) return view;
          const now = deps.clock.now().getTime();
          if (now >= until) return view;
          const deadline = nextDeadline(view);
          // Wall-clock ms for the timer; the injected clock only decides when the wait is over.
          const sleepMs = Math.min(until, deadline !== undefined && deadline > now ? deadline + 50 : until) - now;
          await watch.changed(Date.now() + sleepMs);
          view = await deps.read(caller, transactionId);
        }
      } finally {
        watch.close();
      }
    },
  };
}

export type StatusWait = ReturnType<typeof createStatusWait>;
