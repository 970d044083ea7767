/**
 * A JSON-RPC proxy between the application and anvil, for faults a stopped
 * process cannot place precisely: hold every `eth_sendRawTransaction` until the
 * test has stopped the node (so the worker is mid-broadcast when the node
 * dies), or forward it and then cut the connection before the answer (the node
 * accepted the bytes, the worker never heard so).
 *
 * Loopback only; one JSON-RPC call per HTTP request is what the app sends
 * (batchMaxCount 1), but batches are forwarded too.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * pass — forward.
 * hold — keep the request open until `release()`; then behave as `refuse`.
 * refuse — cut the connection without an answer (a node that died).
 * drop_answer — forward to the node, then cut the connection instead of answering.
 */
export type ProxyRule = 'pass' | 'hold' | 'refuse' | 'drop_answer';

export interface ChainProxy {
  url: string;
  /** The rule for one method (others pass). */
  setRule(method: string, rule: ProxyRule): void;
  clearRules(): void;
  /** Requests currently held by a `hold` rule. */
  held(): number;
  /** Resolves once at least `count` requests are held. */
  waitForHeld(count: number, timeoutMs?: number): Promise<void>;
  /** Ends every held request by cutting its connection. */
  release(): void;
  /** How many calls of a method arrived (whatever happened to them). */
  calls(method: string): number;
  close(): Promise<void>;
}

export async function startChainProxy(target: string): Promise<ChainProxy> {
  const rules = new Map<string, ProxyRule>();
  const counts = new Map<string, number>();
  const holding = new Set<Socket>();
  const sockets = new Set<Socket>();

  const cut = (socket: Socket) => socket.destroy();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let methods: string[] = [];
      try {
        const parsed = JSON.parse(body.toString('utf8')) as { method?: string } | Array<{ method?: string }>;
        methods = (Array.isArray(parsed) ? parsed : [parsed]).map((m) => String(m.method ?? ''));
      } catch {
        /* forwarded as is; the node answers the parse error */
      }
      for (const m of methods) counts.set(m, (counts.get(m) ?? 0) + 1);
      const rule = methods.map((m) => rules.get(m) ?? 'pass').find((r) => r !== 'pass') ?? 'pass';
      if (rule === 'refuse') return cut(req.socket);
      if (rule === 'hold') {
        holding.add(req.socket);
        req.socket.once('close', () => holding.delete(req.socket));
        return;
      }
      void forward(body).then(
        ({ status, text }) => {
          if (rule === 'drop_answer') return cut(req.socket);
          res.writeHead(status, { 'content-type': 'application/json' }).end(text);
        },
        () => cut(req.socket),
      );
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  async function forward(body: Buffer): Promise<{ status: number; text: string }> {
    const response = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(15_000) });
    return { status: response.status, text: await response.text() };
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    setRule: (method, rule) => void rules.set(method, rule),
    clearRules: () => rules.clear(),
    held: () => holding.size,
    async waitForHeld(count, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (holding.size < count) {
        if (Date.now() > deadline) throw new Error(`chain proxy: ${holding.size} request(s) held, expected ${count}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    release() {
      for (const socket of [...holding]) cut(socket);
      holding.clear();
    },
    calls: (method) => counts.get(method) ?? 0,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
