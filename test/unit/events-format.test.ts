/** The events domain's pure parts and the SSE loop (domains/events/format.ts, stream.ts), with fake reads and sinks. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSseEvent, parseEventCursor, SSE_HEARTBEAT, sseRetry, toEventView, wantsEventStream } from '../../domains/events/format';
import { runEventStream, type EventStreamSink } from '../../domains/events/stream';
import { EventsQuery, MAX_EVENT_ID, type EventRow } from '../../domains/events/types';

const row = (id: number, status: EventRow['status'] = 'approved', version = 2): EventRow => ({
  id: String(id),
  transaction_id: '6f1c2a4e-1b8e-4c8e-9a51-1f2d3c4b5a69',
  user_id: '0b7c9f0e-4a43-4b43-8a2f-6e8f9d2c1a10',
  agent_id: null,
  status,
  version,
  created_at: new Date('2025-03-04T05:06:07.089Z'),
});

describe('cursors', () => {
  test('decimal ids, clamped to the bigint maximum', () => {
    assert.equal(parseEventCursor('0'), 0n);
    assert.equal(parseEventCursor('000042'), 42n);
    assert.equal(parseEventCursor('9223372036854775807'), MAX_EVENT_ID);
    assert.equal(parseEventCursor('9223372036854775808'), MAX_EVENT_ID);
    assert.equal(parseEventCursor('9999999999999999999'), MAX_EVENT_ID);
  });
  test('anything else is no cursor', () => {
    for (const value of [undefined, '', '-1', '1.5', ' 1', 'abc', '12345678901234567890', '١٢']) assert.equal(parseEventCursor(value), undefined, String(value));
  });
  test('the query schema is strict and bounded', () => {
    assert.equal(EventsQuery.safeParse({}).success, true);
    assert.equal(EventsQuery.safeParse({ after: '9999999999999999999', limit: '100' }).success, true);
    assert.equal(EventsQuery.safeParse({ limit: '0' }).success, false);
    assert.equal(EventsQuery.safeParse({ limit: '101' }).success, false);
    assert.equal(EventsQuery.safeParse({ limit: '01' }).success, false);
    assert.equal(EventsQuery.safeParse({ after: '-1' }).success, false);
    assert.equal(EventsQuery.safeParse({ other: '1' }).success, false);
  });
});

describe('wire formats', () => {
  test('an SSE message: id, event type, one-line JSON data, blank line', () => {
    assert.equal(
      formatSseEvent(row(17)),
      'id: 17\nevent: transaction.approved\ndata: {"transaction_id":"6f1c2a4e-1b8e-4c8e-9a51-1f2d3c4b5a69","status":"approved","version":2,"created_at":"2025-03-04T05:06:07.089Z"}\n\n',
    );
    assert.equal(SSE_HEARTBEAT, ': ping\n\n');
    assert.equal(sseRetry(2000), 'retry: 2000\n\n');
  });
  test('the JSON view', () => {
    assert.deepEqual(toEventView(row(5, 'confirmed', 6)), {
      id: '5',
      event: 'transaction.confirmed',
      transaction_id: '6f1c2a4e-1b8e-4c8e-9a51-1f2d3c4b5a69',
      status: 'confirmed',
      version: 6,
      created_at: '2025-03-04T05:06:07.089Z',
    });
  });
  test('Accept negotiation: only an explicit text/event-stream', () => {
    assert.equal(wantsEventStream('text/event-stream'), true);
    assert.equal(wantsEventStream('application/json, Text/Event-Stream;q=0.5'), true);
    assert.equal(wantsEventStream('*/*'), false);
    assert.equal(wantsEventStream('text/*'), false);
    assert.equal(wantsEventStream(undefined), false);
    assert.equal(wantsEventStream('application/json'), false);
  });
});

function memorySink(options: { fullEvery?: number } = {}) {
  const chunks: string[] = [];
  let writes = 0;
  let drainWaits = 0;
  const sink: EventStreamSink = {
    write: (chunk) => {
      chunks.push(chunk);
      writes += 1;
      return !(options.fullEvery && writes % options.fullEvery === 0);
    },
    drained: () => {
      drainWaits += 1;
      return new Promise((resolve) => setTimeout(resolve, 5));
    },
  };
  return { sink, chunks, drainWaits: () => drainWaits };
}

/** A fake table: rows appear over time; read returns those above the cursor, ascending. */
function fakeTable(initial: EventRow[]) {
  const rows = [...initial];
  const reads: bigint[] = [];
  return {
    add: (r: EventRow) => rows.push(r),
    reads,
    read: async (after: bigint, batch: number) => {
      reads.push(after);
      return rows.filter((r) => BigInt(r.id) > after).slice(0, batch);
    },
  };
}

const until = async (condition: () => boolean, ms = 3000) => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
};

describe('runEventStream', () => {
  test('writes every event after the cursor in order, in batches, then new ones as they appear', async () => {
    const table = fakeTable([row(1), row(2), row(3), row(4), row(5)]);
    const { sink, chunks } = memorySink();
    const controller = new AbortController();
    const done = runEventStream({ read: table.read, after: 1n, sink, signal: controller.signal, pollMs: 10, heartbeatMs: 60_000, batchSize: 2 });
    await until(() => chunks.length === 4);
    table.add(row(9, 'confirmed', 5));
    await until(() => chunks.length === 5);
    controller.abort();
    assert.equal(await done, 9n);
    assert.deepEqual(
      chunks.map((c) => /^id: (\d+)/.exec(c)?.[1]),
      ['2', '3', '4', '5', '9'],
    );
    // A full batch is followed by an immediate read from the new cursor.
    assert.deepEqual(table.reads.slice(0, 3), [1n, 3n, 5n]);
  });

  test('sends a comment heartbeat when quiet', async () => {
    const table = fakeTable([]);
    const { sink, chunks } = memorySink();
    const controller = new AbortController();
    const done = runEventStream({ read: table.read, after: 0n, sink, signal: controller.signal, pollMs: 10, heartbeatMs: 40, batchSize: 100 });
    await until(() => chunks.filter((c) => c === SSE_HEARTBEAT).length >= 2);
    controller.abort();
    await done;
    assert.ok(chunks.every((c) => c === SSE_HEARTBEAT));
  });

  test('stops polling when the client goes away', async () => {
    const table = fakeTable([]);
    const { sink } = memorySink();
    const controller = new AbortController();
    const done = runEventStream({ read: table.read, after: 0n, sink, signal: controller.signal, pollMs: 10, heartbeatMs: 60_000, batchSize: 100 });
    await until(() => table.reads.length >= 2);
    controller.abort();
    await done;
    const reads = table.reads.length;
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(table.reads.length, reads);
  });

  test('waits for the socket to drain when its buffer is full, without losing or reordering', async () => {
    const table = fakeTable(Array.from({ length: 10 }, (_, i) => row(i + 1)));
    const mem = memorySink({ fullEvery: 3 });
    const controller = new AbortController();
    const done = runEventStream({ read: table.read, after: 0n, sink: mem.sink, signal: controller.signal, pollMs: 10, heartbeatMs: 60_000, batchSize: 4 });
    await until(() => mem.chunks.length === 10);
    controller.abort();
    await done;
    assert.deepEqual(
      mem.chunks.map((c) => Number(/^id: (\d+)/.exec(c)?.[1])),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    assert.ok(mem.drainWaits() >= 3);
  });

  test('a failing read is reported and retried; the stream stays open and loses nothing', async () => {
    const table = fakeTable([row(1), row(2)]);
    let failures = 2;
    const errors: unknown[] = [];
    const { sink, chunks } = memorySink();
    const controller = new AbortController();
    const done = runEventStream({
      read: async (after, batch) => {
        if (failures-- > 0) throw Object.assign(new Error('connection terminated'), { code: '57P01' });
        return table.read(after, batch);
      },
      after: 0n,
      sink,
      signal: controller.signal,
      pollMs: 5,
      heartbeatMs: 60_000,
      batchSize: 100,
      onError: (err) => errors.push(err),
    });
    await until(() => chunks.length === 2);
    controller.abort();
    await done;
    assert.equal(errors.length, 2);
    assert.deepEqual(
      chunks.map((c) => /^id: (\d+)/.exec(c)?.[1]),
      ['1', '2'],
    );
  });
});
