/**
 * The Countersign MCP server: the agent tools of the TypeScript SDK
 * (sdk/typescript/src/tools.ts) over the official MCP SDK, for both
 * transports — Streamable HTTP at POST /mcp on the API (mcp/http.ts) and
 * stdio (`npm run mcp`, mcp/stdio.ts). Each tool calls the public HTTP API
 * through the SDK client with the caller's own API key, so the agent can do
 * exactly what its key can do over HTTP: propose, wait, execute, cancel, read.
 * There is no tool that approves, rejects, grants or changes a policy.
 *
 * A refusal is a tool result with `isError: true` and the API's code, reason
 * and hint as structured content, never a protocol error; read-only tools say
 * so in their annotations; `wait_for_decision` sends progress notifications.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CountersignClient } from '../sdk/typescript/src/client';
import { countersignTools, refusalOf, type CountersignTool } from '../sdk/typescript/src/tools';

export const MCP_SERVER_INFO = { name: 'countersign', version: '0.1.0' } as const;

const INSTRUCTIONS = [
  'Countersign holds wallets for you; their owner must approve every transaction with an authenticator code before anything is signed.',
  'Typical flow: list_wallets → propose_transaction → wait_for_decision → execute_transaction (when approved) → wait_for_decision (until confirmed or failed).',
  'When a tool result has isError, read error.hint: it says what to do next.',
].join(' ');

export function createCountersignMcpServer(client: CountersignClient): McpServer {
  const server = new McpServer(MCP_SERVER_INFO, { instructions: INSTRUCTIONS });
  for (const tool of countersignTools as readonly CountersignTool[]) {
    server.registerTool(
      tool.name,
      {
        title: tool.title,
        description: tool.description,
        inputSchema: tool.inputSchema,
        annotations: {
          title: tool.title,
          readOnlyHint: tool.readOnly,
          destructiveHint: !tool.readOnly && tool.openWorld,
          idempotentHint: tool.idempotent,
          openWorldHint: tool.openWorld,
        },
      },
      async (input: Record<string, unknown>, extra) => {
        const progressToken = extra._meta?.progressToken;
        let sent = 0;
        const progress =
          progressToken === undefined
            ? undefined
            : async (value: number, total: number, message: string) => {
                // Progress must increase from one notification to the next.
                if (value <= sent) return;
                sent = value;
                await extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress: value, total, message } }).catch(() => undefined);
              };
        try {
          const result = await tool.run(client, input as never, { signal: extra.signal, progress });
          return { content: [{ type: 'text' as const, text: JSON.stringify(result) }], structuredContent: result };
        } catch (error) {
          const refusal = refusalOf(error);
          if (!refusal) throw error;
          const { code, message, hint } = refusal.error as { code: string; message: string; hint?: string };
          return { content: [{ type: 'text' as const, text: `${code}: ${message}${hint ? ` — ${hint}` : ''}` }], structuredContent: refusal, isError: true };
        }
      },
    );
  }
  return server;
}
