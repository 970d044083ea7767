/**
 * The API's HTTP server: Node's, with limits on what a client can hold.
 *
 * * The request head must arrive within HTTP_HEADERS_TIMEOUT and the whole
 *   request within HTTP_REQUEST_TIMEOUT, from the first byte (a socket that
 *   sends nothing counts too); Node then answers 408 and closes. A client
 *   dripping header bytes used to hold a connection for over a minute
 *   (issue 19 §5). The check runs every `CHECK_INTERVAL_MS`, so a limit holds
 *   to within that.
 * * An idle keep-alive connection closes after HTTP_KEEP_ALIVE_TIMEOUT.
 * * Responses are not limited: an SSE stream (`GET /api/events`) lives as
 *   long as the route wants — its request was complete when it began.
 * * At most HTTP_MAX_CONNECTIONS_PER_ADDRESS open connections per client
 *   address (0: no cap). One more gets a 429 `rate_limited` JSON answer with
 *   Retry-After and is closed before any request is read. The cap counts
 *   socket peers: behind a proxy every connection comes from the proxy, so
 *   there it belongs to the proxy (set 0 here).
 */
import { randomUUID } from 'node:crypto';
import http, { type RequestListener, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Config } from '../../config/env';
import { errorHint } from '../../lib/errors';
import { errorBody } from './errors';

export interface HttpLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** 0: no cap. */
  maxConnectionsPerAddress: number;
}

export const CHECK_INTERVAL_MS = 1_000;

export function httpLimits(config: Pick<Config, 'HTTP_HEADERS_TIMEOUT' | 'HTTP_REQUEST_TIMEOUT' | 'HTTP_KEEP_ALIVE_TIMEOUT' | 'HTTP_MAX_CONNECTIONS_PER_ADDRESS'>): HttpLimits {
  return {
    headersTimeoutMs: Math.round(config.HTTP_HEADERS_TIMEOUT * 1000),
    requestTimeoutMs: Math.round(config.HTTP_REQUEST_TIMEOUT * 1000),
    keepAliveTimeoutMs: Math.round(config.HTTP_KEEP_ALIVE_TIMEOUT * 1000),
    maxConnectionsPerAddress: config.HTTP_MAX_CONNECTIONS_PER_ADDRESS,
  };
}

/** The peer as counted: IPv4-mapped IPv6 is the IPv4 address it maps. */
const peerOf = (socket: Socket) => (socket.remoteAddress ?? 'unknown').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');

function tooManyConnections(): string {
  const body = JSON.stringify(errorBody('rate_limited', 'too many open connections from this address; close some and retry', undefined, errorHint('rate_limited', { retryAfter: '1' })));
  return [
    'HTTP/1.1 429 Too Many Requests',
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Retry-After: 1',
    `X-Request-Id: ${randomUUID()}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

export function createHttpServer(handler: RequestListener, limits: HttpLimits): Server {
  const refused = new WeakSet<Socket>();
  const server = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(CHECK_INTERVAL_MS, Math.max(100, Math.floor(limits.headersTimeoutMs / 2))),
    },
    (req, res) => {
      // A request that slipped in on a refused connection is not served.
      if (refused.has(req.socket)) {
        res.destroy();
        return;
      }
      handler(req, res);
    },
  );
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;

  if (limits.maxConnectionsPerAddress > 0) {
    const open = new Map<string, number>();
    // Before Node's own listener: a refused socket never reaches the HTTP parser's handler.
    server.prependListener('connection', (socket: Socket) => {
      const peer = peerOf(socket);
      const count = open.get(peer) ?? 0;
      if (count >= limits.maxConnectionsPerAddress) {
        refused.add(socket);
        socket.end(tooManyConnections());
        setTimeout(() => socket.destroy(), 1_000).unref();
        return;
      }
      open.set(peer, count + 1);
      socket.once('close', () => {
        const left = (open.get(peer) ?? 1) - 1;
        if (left > 0) open.set(peer, left);
        else open.delete(peer);
      });
    });
  }
  return server;
}
