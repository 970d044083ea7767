/**
 * Agents and their API keys.
 *
 * Invariants:
 * * A key is shown once (in the 201 answer) and stored only as an HMAC digest.
 * * Object-level authorization: every query is scoped to the caller's user id,
 *   so someone else's agent or wallet is indistinguishable from an unknown one
 *   (404) — checked before the TOTP step is consumed.
 * * A revoked or expired key stops working on the next request, on every
 *   replica (the check reads PostgreSQL each time).
 */
import { randomUUID } from 'node:crypto';
import { getAddress } from 'ethers';
import { notFound } from '../../lib/errors';
import type { Db } from '../../lib/db';
import type { Clock } from '../../lib/clock';
import type { Config } from '../../config/env';
import type { AgentPrincipal } from '../../lib/principal';
import { digestMatches, digestSecret, generateApiKey, parseApiKey } from './keys';
import { findAgentByKeyId, findOwnAgent, findOwnWallets, grantWallets, insertAgent, listOwnAgents, revokeOwnAgent, touchLastUsed } from './dal';
import { AGENT_AUDIT, LAST_USED_RESOLUTION_MS, type AgentRow, type AgentServiceDeps, type AgentView, type CreatedAgent, type RequestMeta } from './types';

const iso = (date: Date | null) => (date ? date.toISOString() : null);

function toView(row: AgentRow & { wallets: string[] }): AgentView {
  return {
    agent_id: row.id,
    name: row.name,
    wallets: row.wallets.map((address) => getAddress(address)),
    created_at: row.created_at.toISOString(),
    expires_at: iso(row.expires_at),
    revoked_at: iso(row.revoked_at),
    frozen_at: iso(row.frozen_at),
    last_used_at: iso(row.last_used_at),
  };
}

export type AgentService = ReturnType<typeof createAgentService>;

export function createAgentService(deps: AgentServiceDeps) {
  const { db, clock, config, mfa, audit } = deps;
  if (!config.API_KEY_HMAC_KEY) throw new Error('API_KEY_HMAC_KEY is required');
  const hmacKey = config.API_KEY_HMAC_KEY;

  return {
    /**
     * `POST /api/agents`: the granted wallets must be the caller's own (404
     * otherwise, before the code is consumed); then the TOTP gate, the agent,
     * its grants and the audit event commit together.
     */
    async create(
      userId: string,
      input: { name: string; walletAddresses?: string[] | undefined; expiresAt?: Date | undefined; mfaCode: string },
      meta: RequestMeta = {},
    ): Promise<CreatedAgent> {
      const addresses = [...new Set((input.walletAddresses ?? []).map((a) => a.toLowerCase()))];
      const key = generateApiKey();
      const agentId = randomUUID();
      return db.transaction(async (trx) => {
        const wallets = await findOwnWallets(trx, userId, addresses);
        if (wallets.length !== addresses.length) throw notFound('wallet');
        await mfa.verifyAndConsume({ userId, code: input.mfaCode, purpose: 'create_agent', trx, meta });
        const now = clock.now();
        await insertAgent(trx, {
          id: agentId,
          user_id: userId,
          name: input.name,
          key_id: key.keyId,
          key_digest: digestSecret(hmacKey, key.secret),
          expires_at: input.expiresAt ?? null,
          created_at: now,
        });
        await grantWallets(trx, agentId, wallets.map((w) => w.id), now);
        const granted = wallets.map((w) => w.address).sort();
        await audit.append(
          { action: AGENT_AUDIT.created, actorType: 'user', actorId: userId, subjectType: 'agent', subjectId: agentId, ip: meta.ip, requestId: meta.requestId, data: { name: input.name, key_id: key.keyId, wallets: granted, expires_at: input.expiresAt ?? null } },
          trx,
        );
        return {
          agent_id: agentId,
          name: input.name,
          api_key: key.apiKey,
          created_at: now.toISOString(),
          expires_at: iso(input.expiresAt ?? null),
          wallets: granted.map((address) => getAddress(address)),
        };
      });
    },

    /** `GET /api/agents`: the caller's agents, revoked ones included; never a key. */
    async list(userId: string): Promise<AgentView[]> {
      return (await listOwnAgents(db, userId)).map(toView);
    },

    /** `DELETE /api/agents/:id`: 404 for unknown and foreign ids alike; revoking twice is a no-op. */
    async revoke(userId: string, agentId: string, meta: RequestMeta = {}): Promise<void> {
      await db.transaction(async (trx) => {
        const agent = await findOwnAgent(trx, userId, agentId);
        if (!agent) throw notFound('agent');
        if (!(await revokeOwnAgent(trx, userId, agentId, clock.now()))) return;
        await audit.append(
          { action: AGENT_AUDIT.revoked, actorType: 'user', actorId: userId, subjectType: 'agent', subjectId: agentId, ip: meta.ip, requestId: meta.requestId, data: { key_id: agent.key_id } },
          trx,
        );
      });
    },
  };
}

export interface ApiKeyVerifier {
  verifyApiKey(apiKey: string): Promise<AgentPrincipal | undefined>;
}

/**
 * The agent half of the Authenticator: the key id finds the row, the HMAC of
 * the secret must match in constant time, and the agent must be neither
 * revoked, frozen nor expired. An unknown id still computes the HMAC, so the answer
 * takes as long either way.
 */
export function createApiKeyVerifier(deps: { db: Db; clock: Clock; config: Pick<Config, 'API_KEY_HMAC_KEY'> }): ApiKeyVerifier {
  if (!deps.config.API_KEY_HMAC_KEY) throw new Error('API_KEY_HMAC_KEY is required');
  const hmacKey = deps.config.API_KEY_HMAC_KEY;
  return {
    async verifyApiKey(apiKey) {
      const parsed = parseApiKey(apiKey);
      if (!parsed) return undefined;
      const presented = digestSecret(hmacKey, parsed.secret);
      const agent = await findAgentByKeyId(deps.db, parsed.keyId);
      if (!agent || !digestMatches(agent.key_digest, presented)) return undefined;
      const now = deps.clock.now();
      if (agent.revoked_at || agent.frozen_at) return undefined;
      if (agent.expires_at && agent.expires_at.getTime() <= now.getTime()) return undefined;
      if (!agent.last_used_at || now.getTime() - agent.last_used_at.getTime() >= LAST_USED_RESOLUTION_MS) {
        await touchLastUsed(deps.db, agent.id, now, LAST_USED_RESOLUTION_MS);
      }
      return { type: 'agent', agentId: agent.id, userId: agent.user_id };
    },
  };
}

