/**
 * `npm run mcp`: the Countersign MCP server over stdio, for MCP hosts that
 * start a local process (Claude Desktop, Cursor, …). It calls the HTTP API at
 * COUNTERSIGN_API_URL with the agent key in COUNTERSIGN_API_KEY; stdout carries
 * the protocol only, so anything else goes to stderr.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createCountersign } from '../sdk/typescript/src/client';
import { createCountersignMcpServer } from './server';

async function main() {
  const apiUrl = process.env.COUNTERSIGN_API_URL;
  const apiKey = process.env.COUNTERSIGN_API_KEY;
  const missing = [!apiUrl && 'COUNTERSIGN_API_URL', !apiKey && 'COUNTERSIGN_API_KEY'].filter(Boolean);
  if (missing.length > 0) {
    process.stderr.write(`countersign mcp: set ${missing.join(' and ')} (the API's URL, e.g. http://127.0.0.1:3000, and the agent's API key cs_…)\n`);
    process.exit(2);
  }
  const server = createCountersignMcpServer(createCountersign({ apiUrl: apiUrl!, apiKey: apiKey! }));
  await server.connect(new StdioServerTransport());
  const stop = () => void server.close().finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`countersign mcp failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
