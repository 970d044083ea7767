/**
 * POST /mcp, stateless: every request gets a fresh MCP server and Streamable
 * HTTP transport (no session to keep, so any API replica can answer any
 * request), whose tools call this same API over loopback with the caller's
 * own API key — the principal behind every tool call is exactly the caller.
 * Loaded on the first /mcp request only, so an API nobody reaches over MCP
 * does not carry the MCP SDK in memory.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createCountersign } from '../sdk/typescript/src/client';
import { createCountersignMcpServer } from './server';

export interface McpHttpRequest {
  req: IncomingMessage;
  res: ServerResponse;
  /** The JSON-RPC message (or batch), already read and size-checked by the router. */
  body: unknown;
  /** The caller's API key, as it authenticated. */
  apiKey: string;
  /** This API, as the caller reached it (loopback to the listening socket). */
  apiUrl: string;
}

export async function handleMcpRequest(request: McpHttpRequest): Promise<void> {
  // No retries inside: the caller's MCP client decides what to repeat.
  const client = createCountersign({ apiUrl: request.apiUrl, apiKey: request.apiKey, retries: 0 });
  const server = createCountersignMcpServer(client);
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  request.res.once('close', () => {
    void transport.close();
    void server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(request.req, request.res, request.body);
}
