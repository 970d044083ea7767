/**
 * The Countersign tools for the Vercel AI SDK (`ai`): the same tools as the MCP
 * server (./tools.ts), as `tool()` objects for generateText / streamText.
 *
 *   const result = await generateText({ model, tools: countersignAiTools(cs), stopWhen: stepCountIs(8), prompt });
 *
 * A refusal comes back as the tool's result (`{ error: { code, reason, hint } }`),
 * so the model reads the hint instead of a stack trace.
 */
import { tool, type Tool } from 'ai';
import type { CountersignClient } from './client';
import { countersignTools, refusalOf, type CountersignTool } from './tools';

export function countersignAiTools(client: CountersignClient): Record<string, Tool> {
  const tools: Record<string, Tool> = {};
  for (const definition of countersignTools as readonly CountersignTool[]) {
    tools[definition.name] = tool({
      description: definition.description,
      inputSchema: definition.inputSchema,
      execute: async (input: Record<string, unknown>, { abortSignal }) => {
        try {
          return await definition.run(client, input as never, { signal: abortSignal });
        } catch (error) {
          const refusal = refusalOf(error);
          if (refusal) return refusal;
          throw error;
        }
      },
    });
  }
  return tools;
}
