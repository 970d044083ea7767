/**
 * A JSON-RPC proxy on loopback in front of the real node that answers chosen
 * methods with "method not found" (-32601), as a node without them would.
 * Everything else is forwarded unchanged, so the stack still talks to anvil.
 * `refuse` can be changed while the proxy runs.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RpcProxy {
  url: string;
  /** Methods answered with -32601; add or delete while it runs (do not replace the set). */
  refuse: Set<string>;
  /** Every method seen, in order. */
  seen: string[];
  stop(): Promise<void>;
}

interface RpcRequest {
  id?: unknown;
  method?: unknown;
}

export async function startRpcProxy(target: string, refuse: Iterable<string> = []): Promise<RpcProxy> {
  const proxy: Omit<RpcProxy, 'url' | 'stop'> = { refuse: new Set(refuse), seen: [] };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const parsed = JSON.parse(body) as RpcRequest | RpcRequest[];
        const requests = Array.isArray(parsed) ? parsed : [parsed];
        for (const request of requests) proxy.seen.push(String(request.method));
        const refused = requests.find((request) => proxy.refuse.has(String(request.method)));
        let answer: string;
        if (refused) {
          answer = JSON.stringify({ jsonrpc: '2.0', id: refused.id ?? null, error: { code: -32601, message: `the method ${String(refused.method)} does not exist/is not available` } });
        } else {
          const forwarded = await fetch(target, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
          answer = await forwarded.text();
        }
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(answer);
      })().catch(() => res.writeHead(502).end());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    ...proxy,
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
