/**
 * Agent routes: create (JWT + TOTP; the key is shown once), list, revoke.
 * Wallet grants after creation are a separate task (POST/DELETE /api/agents/:id/wallets).
 */
import { z } from 'zod';
import type { AgentService } from '../../domains/agents';
import { wellFormed } from '../../domains/audit';
import { defineRoute, type AnyRoute } from '../http/route';
import { MfaCodeSchema, codePointString } from './accounts';

/** Shown to a human: no control or bidi-override characters. */
// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const DISPLAY_TEXT = /^[^\u0000-\u001f\u007f\u200e\u200f\u202a-\u202e\u2066-\u2069]*$/;
const AgentName = codePointString(1, 100)
  .regex(DISPLAY_TEXT, 'must not contain control or bidi characters')
  .transform(wellFormed)
  .meta({ minLength: 1, maxLength: 100, pattern: DISPLAY_TEXT.source });
const Address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte hex address');
const Uuid = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'must be a UUID')
  .transform((id) => id.toLowerCase());
const IsoTime = z.iso.datetime();

export const CreateAgentBody = z
  .object({
    name: AgentName,
    wallet_addresses: z
      .array(Address)
      .max(100)
      .optional()
      .meta({ description: 'Your own wallets the agent may use; omitted or empty grants none' }),
    // UTC with Z only (docs/http-contract.md, "Times"): an offset could carry year 9999 past what the API can print back.
    expires_at: IsoTime.nullable()
      .optional()
      .meta({ description: 'When the key stops working (ISO-8601 UTC, with Z); omitted or null: never. A time already past creates an expired key.' }),
    mfa_code: MfaCodeSchema,
  })
  .strict();

export const CreateAgentResponse = z
  .object({
    agent_id: z.uuid(),
    name: z.string(),
    api_key: z.string().regex(/^cs_[0-9a-f]{24}_[A-Za-z0-9_-]{43}$/).meta({ description: 'Shown once; send it as X-API-Key' }),
    created_at: IsoTime,
    expires_at: IsoTime.nullable(),
    wallets: z.array(z.string().regex(/^0x[0-9a-fA-F]{40}$/)).meta({ description: 'EIP-55 checksummed' }),
  })
  .strict();

export const AgentViewSchema = z
  .object({
    agent_id: z.uuid(),
    name: z.string(),
    wallets: z.array(z.string().regex(/^0x[0-9a-fA-F]{40}$/)),
    created_at: IsoTime,
    expires_at: IsoTime.nullable(),
    revoked_at: IsoTime.nullable(),
    frozen_at: IsoTime.nullable().meta({ description: 'An operator froze the agent: its key is refused and nothing it prepared is signed until unfrozen' }),
    last_used_at: IsoTime.nullable().meta({ description: 'Updated at most once a minute' }),
  })
  .strict();
export const ListAgentsResponse = z.object({ agents: z.array(AgentViewSchema) }).strict();
export const AgentParams = z.object({ id: Uuid }).strict();

export interface AgentRouteDeps {
  agents: Pick<AgentService, 'create' | 'list' | 'revoke'>;
}

export function agentRoutes(deps: AgentRouteDeps): AnyRoute[] {
  const { agents } = deps;
  return [
    defineRoute({
      method: 'POST',
      path: '/api/agents',
      auth: 'user',
      summary: 'Creates an agent and its API key (shown once)',
      tags: ['agents'],
      body: CreateAgentBody,
      responses: { 201: CreateAgentResponse },
      errors: [403, 404, 429, 503],
      handler: async ({ principal, body, ip, requestId }) => {
        const created = await agents.create(
          principal.userId,
          {
            name: body.name,
            walletAddresses: body.wallet_addresses,
            expiresAt: body.expires_at ? new Date(body.expires_at) : undefined,
            mfaCode: body.mfa_code,
          },
          { ip, requestId },
        );
        return { status: 201, headers: { 'Cache-Control': 'no-store' }, body: created };
      },
    }),

    defineRoute({
      method: 'GET',
      path: '/api/agents',
      auth: 'user',
      summary: "Lists the caller's agents (never their keys)",
      tags: ['agents'],
      responses: { 200: ListAgentsResponse },
      handler: async ({ principal }) => ({ status: 200, body: { agents: await agents.list(principal.userId) } }),
    }),

    defineRoute({
      method: 'DELETE',
      path: '/api/agents/:id',
      auth: 'user',
      summary: "Revokes an agent's API key at once",
      tags: ['agents'],
      params: AgentParams,
      responses: { 204: null },
      errors: [404],
      handler: async ({ principal, params, ip, requestId }) => {
        await agents.revoke(principal.userId, params.id, { ip, requestId });
        return { status: 204 };
      },
    }),
  ];
}
