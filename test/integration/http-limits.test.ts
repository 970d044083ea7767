/**
 * What one client can hold of the API's HTTP server (issue 19 §5: a client
 * dripping headers held a connection for 66 s), against the API as the test
 * stack builds it — the production server of api/http/http-server.ts — with
 * short limits: raw sockets that drip a request head, send nothing, or drip a
 * body are cut off at the limit; an SSE stream outlives every limit; one
 * address gets at most HTTP_MAX_CONNECTIONS_PER_ADDRESS connections (then a
 * 429 JSON answer) while another address is served.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startTestApp, type TestApp } from '../support/app';
import { newUser } from '../support/actors';
import { requestFrom } from '../support/http-from';

const HEADERS_TIMEOUT_S = 2;
const REQUEST_TIMEOUT_S = 3;
const CAP = 6;
/** A limit holds to within the server's check interval (1 s), plus scheduling slack on a busy machine. */
const SLACK_MS = 2_000;

let app: TestApp;
let port: number;
before(async () => {
  app = await startTestApp({
    env: {
      HTTP_HEADERS_TIMEOUT: `${HEADERS_TIMEOUT_S}s`,
      HTTP_REQUEST_TIMEOUT: `${REQUEST_TIMEOUT_S}s`,
      HTTP_KEEP_ALIVE_TIMEOUT: '1s',
      HTTP_MAX_CONNECTIONS_PER_ADDRESS: String(CAP),
    },
  });
  port = Number(new URL(app.url).port);
});
after(async () => app?.stop());

interface RawOutcome {
  closedAfterMs: number;
  received: string;
}

/** A raw TCP client from `localAddress`; `behave` writes (or not) until the server closes the socket. */
function rawClient(localAddress: string, behave: (socket: net.Socket) => void, giveUpMs = 20_000): Promise<RawOutcome> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let received = '';
    const socket = net.connect({ host: '127.0.0.1', port, localAddress }, () => behave(socket));
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
    socket.on('error', () => undefined); // a reset is a close too
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept the connection open for ${giveUpMs} ms (received ${JSON.stringify(received.slice(0, 80))})`));
    }, giveUpMs);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ closedAfterMs: Date.now() - started, received });
    });
  });
}

/** Writes `chunk` every `everyMs` while the socket is open. */
const drip = (socket: net.Socket, chunk: string, everyMs: number) => {
  const timer = setInterval(() => {
    if (!socket.destroyed && socket.writable) socket.write(chunk);
  }, everyMs);
  socket.on('close', () => clearInterval(timer));
};

test('a client dripping its request head is cut off at HTTP_HEADERS_TIMEOUT (408), however steadily it drips', async () => {
  const outcome = await rawClient('127.0.0.21', (socket) => {
    socket.write('GET /healthz HTTP/1.1\r\nHost: countersign\r\n');
    drip(socket, `X-Drip-${Math.random().toString(36).slice(2)}: a\r\n`, 250);
  });
  assert.ok(outcome.closedAfterMs < HEADERS_TIMEOUT_S * 1000 + SLACK_MS, `held ${outcome.closedAfterMs} ms`);
  assert.ok(outcome.closedAfterMs >= HEADERS_TIMEOUT_S * 1000 - 100, `closed too early: ${outcome.closedAfterMs} ms`);
  assert.match(outcome.received, /^HTTP\/1\.1 408 /);
});

test('a connection that sends nothing is closed at HTTP_HEADERS_TIMEOUT too', async () => {
  const outcome = await rawClient('127.0.0.22', () => undefined);
  assert.ok(outcome.closedAfterMs < HEADERS_TIMEOUT_S * 1000 + SLACK_MS, `held ${outcome.closedAfterMs} ms`);
});

test('a body dripped byte by byte is cut off at HTTP_REQUEST_TIMEOUT', async () => {
  const outcome = await rawClient('127.0.0.23', (socket) => {
    socket.write('POST /api/login HTTP/1.1\r\nHost: countersign\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{"username":"');
    drip(socket, 'a', 200);
  });
  assert.ok(outcome.closedAfterMs < REQUEST_TIMEOUT_S * 1000 + SLACK_MS, `held ${outcome.closedAfterMs} ms`);
});

test('an idle keep-alive connection closes after HTTP_KEEP_ALIVE_TIMEOUT', async () => {
  const outcome = await rawClient('127.0.0.24', (socket) => socket.write('GET /healthz HTTP/1.1\r\nHost: countersign\r\n\r\n'));
  assert.match(outcome.received, /^HTTP\/1\.1 200 /);
  assert.ok(outcome.closedAfterMs < 1_000 + SLACK_MS, `idle keep-alive held ${outcome.closedAfterMs} ms`);
});

test('an SSE stream (GET /api/events) outlives every request limit', async () => {
  const user = await newUser(app.url, app.clock);
  const controller = new AbortController();
  const response = await fetch(`${app.url}/api/events`, { headers: { authorization: `Bearer ${user.token}`, accept: 'text/event-stream' }, signal: controller.signal });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
  const reader = response.body!.getReader();
  let ended = false;
  const reading = (async () => {
    try {
      for (;;) {
        const { done } = await reader.read();
        if (done) break;
      }
    } catch {
      /* aborted below */
    }
    ended = true;
  })();
  await new Promise((r) => setTimeout(r, (REQUEST_TIMEOUT_S + 3) * 1000));
  assert.equal(ended, false, `the stream was closed within ${REQUEST_TIMEOUT_S + 3} s`);
  controller.abort();
  await reading;
});

test('one address gets at most HTTP_MAX_CONNECTIONS_PER_ADDRESS connections (then a 429 JSON answer); another address is served meanwhile', async () => {
  const crowd = '127.0.0.25';
  const held: net.Socket[] = [];
  try {
    for (let i = 0; i < CAP; i += 1) {
      held.push(await new Promise<net.Socket>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port, localAddress: crowd }, () => resolve(s));
        s.on('error', () => undefined);
      }));
    }
    const extra = await rawClient(crowd, (socket) => socket.write('GET /healthz HTTP/1.1\r\nHost: countersign\r\n\r\n'), 5_000);
    const [head, body] = extra.received.split('\r\n\r\n');
    assert.match(head!, /^HTTP\/1\.1 429 /);
    assert.match(head!, /\r\nRetry-After: 1\r\n/i);
    assert.match(head!, /\r\nX-Request-Id: [0-9a-f-]{36}\r\n/i);
    assert.deepEqual(JSON.parse(body!), { error: { code: 'rate_limited', message: 'too many open connections from this address; close some and retry', hint: 'Slow down and try again after 1 second (Retry-After).' } });
    assert.ok(extra.closedAfterMs < 2_000, 'and closed');

    const other = await requestFrom('127.0.0.26', `${app.url}/healthz`, { method: 'GET' });
    assert.equal(other.status, 200, 'another address is not affected');

    held.pop()!.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const again = await requestFrom(crowd, `${app.url}/healthz`, { method: 'GET' });
    assert.equal(again.status, 200, 'a freed slot can be used again');
  } finally {
    for (const s of held) s.destroy();
  }
});
