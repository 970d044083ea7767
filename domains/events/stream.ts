/**
 * The SSE loop, independent of Koa: poll PostgreSQL for events after a cursor
 * (one indexed query per tick, so it works across API replicas without any
 * shared bus), write them in order, and send a comment heartbeat when quiet.
 * It ends when `signal` aborts (the client went away).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { formatSseEvent, SSE_HEARTBEAT } from './format';
import type { EventRow } from './types';

export interface EventStreamSink {
  /** False when the socket's buffer is full: the loop then waits for `drained`. */
  write(chunk: string): boolean;
  /** Resolves once the sink can take more data (or the stream closed). */
  drained(): Promise<void>;
}

export interface EventStreamOptions {
  /** The principal's events with an id above `after`, ascending, at most `batchSize`. */
  read(after: bigint, batchSize: number): Promise<EventRow[]>;
  after: bigint;
  sink: EventStreamSink;
  signal: AbortSignal;
  pollMs: number;
  heartbeatMs: number;
  batchSize: number;
  /** A failed poll (the database is away): logged, then retried with back-off; the stream stays open. */
  onError?(err: unknown): void;
}

export const DEFAULT_POLL_MS = 400;
export const DEFAULT_HEARTBEAT_MS = 15_000;

/** Runs until the signal aborts; returns the last id written. Never throws. */
export async function runEventStream(options: EventStreamOptions): Promise<bigint> {
  const { sink, signal } = options;
  let cursor = options.after;
  let lastWrite = Date.now();
  let failures = 0;
  const stopped = aborted(signal);

  while (!signal.aborted) {
    let rows: EventRow[];
    try {
      rows = await options.read(cursor, options.batchSize);
      failures = 0;
    } catch (err) {
      failures += 1;
      options.onError?.(err);
      await sleep(Math.min(options.pollMs * 2 ** failures, 5_000), signal);
      continue;
    }
    if (signal.aborted) break;

    for (const row of rows) {
      const ok = sink.write(formatSseEvent(row));
      // The cursor moves only past what was handed to the socket, in order.
      cursor = BigInt(row.id);
      lastWrite = Date.now();
      if (!ok) await Promise.race([sink.drained(), stopped]);
      if (signal.aborted) break;
    }
    // A full batch means more may be waiting: read again at once.
    if (rows.length === options.batchSize) continue;

    if (Date.now() - lastWrite >= options.heartbeatMs) {
      if (!sink.write(SSE_HEARTBEAT)) await Promise.race([sink.drained(), stopped]);
      lastWrite = Date.now();
    }
    await sleep(Math.min(options.pollMs, Math.max(1, options.heartbeatMs - (Date.now() - lastWrite))), signal);
  }
  return cursor;
}

async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch {
    // aborted: the loop condition ends the stream
  }
}

function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
