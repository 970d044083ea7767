/**
 * `POST /mcp`: the Countersign MCP server over Streamable HTTP, on the API's
 * own port (mcp/http.ts). For agents only: no or an invalid key is 401, a
 * user's token 403 wrong_principal — the router's checks, in docs/http-contract.md's
 * order, before any MCP message is read. It speaks JSON-RPC, not REST, so it
 * is not in /openapi.json; GET and DELETE /mcp are 405 (stateless: no
 * server-initiated stream, no session to end).
 */
import type { Context } from 'koa';
import { z } from 'zod';
import { defineRoute, type AnyRoute } from '../http/route';
import { API_KEY_PREFIX } from '../http/principal';

/** The key the caller authenticated with (X-API-Key or Authorization: Bearer cs_…). */
function callerKey(ctx: Context): string {
  const header = ctx.get('x-api-key');
  if (header) return header;
  const bearer = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'))?.[1] ?? '';
  return bearer.startsWith(API_KEY_PREFIX) ? bearer : '';
}

/** This API as the request reached it: the tools call it back on the same listening socket. */
function loopbackUrl(ctx: Context): string {
  const socket = ctx.req.socket;
  const address = (socket.localAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  return `http://${address.includes(':') ? `[${address}]` : address}:${socket.localPort}`;
}

export function mcpRoutes(): AnyRoute[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/mcp',
      auth: 'agent',
      summary: 'The Countersign MCP server (Streamable HTTP, stateless)',
      tags: ['mcp'],
      body: z.unknown(),
      responses: { 200: z.unknown() },
      undocumented: true,
      raw: true,
      handler: async ({ body, koa }) => {
        const { handleMcpRequest } = await import('../../mcp/http');
        koa.status = 200; // for the request log; the transport writes the answer itself (JSON or an SSE stream)
        koa.respond = false;
        await handleMcpRequest({ req: koa.req, res: koa.res, body, apiKey: callerKey(koa), apiUrl: loopbackUrl(koa) });
        return { status: 200 };
      },
    }),
  ];
}
