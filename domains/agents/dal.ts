/** Data access for agents, their keys and their wallet grants. Every function takes an optional transaction. */
import type { DbOrTx } from '../../lib/db';
import type { AgentRow } from './types';

export async function insertAgent(db: DbOrTx, agent: Omit<AgentRow, 'revoked_at' | 'frozen_at' | 'frozen_reason' | 'last_used_at'>): Promise<void> {
  await db('agents').insert(agent);
}

export async function findAgentByKeyId(db: DbOrTx, keyId: string): Promise<AgentRow | undefined> {
  return (await db('agents').where({ key_id: keyId }).first()) as AgentRow | undefined;
}

/** Only the owner's agents exist for the owner (object-level authorization in the query itself). */
export async function findOwnAgent(db: DbOrTx, userId: string, agentId: string): Promise<AgentRow | undefined> {
  return (await db('agents').where({ id: agentId, user_id: userId }).first()) as AgentRow | undefined;
}

export async function listOwnAgents(db: DbOrTx, userId: string): Promise<(AgentRow & { wallets: string[] })[]> {
  const rows = (await db('agents as a')
    .select(
      'a.*',
      db.raw(`COALESCE(array_agg(w.address ORDER BY w.address) FILTER (WHERE w.address IS NOT NULL), '{}') AS wallets`),
    )
    .leftJoin('agent_wallets as aw', 'aw.agent_id', 'a.id')
    .leftJoin('wallets as w', 'w.id', 'aw.wallet_id')
    .where('a.user_id', userId)
    .groupBy('a.id')
    .orderBy([{ column: 'a.created_at', order: 'asc' }, { column: 'a.id', order: 'asc' }])) as (AgentRow & { wallets: string[] })[];
  return rows;
}

/** Sets revoked_at once; true when this call revoked it. */
export async function revokeOwnAgent(db: DbOrTx, userId: string, agentId: string, now: Date): Promise<boolean> {
  const updated = await db('agents').where({ id: agentId, user_id: userId }).whereNull('revoked_at').update({ revoked_at: now });
  return updated > 0;
}

/** Conditional write: replicas racing on one key still write at most once per resolution window. */
export async function touchLastUsed(db: DbOrTx, agentId: string, now: Date, resolutionMs: number): Promise<void> {
  const before = new Date(now.getTime() - resolutionMs);
  await db('agents')
    .where({ id: agentId })
    .andWhere((q) => q.whereNull('last_used_at').orWhere('last_used_at', '<=', before))
    .update({ last_used_at: now });
}

/** The caller's wallets among `addresses` (lowercase); foreign and unknown addresses are simply absent. */
export async function findOwnWallets(db: DbOrTx, userId: string, addresses: string[]): Promise<{ id: string; address: string }[]> {
  if (addresses.length === 0) return [];
  return (await db('wallets').select('id', 'address').where({ user_id: userId }).whereIn('address', addresses)) as { id: string; address: string }[];
}

export async function grantWallets(db: DbOrTx, agentId: string, walletIds: string[], now: Date): Promise<void> {
  if (walletIds.length === 0) return;
  await db('agent_wallets')
    .insert(walletIds.map((walletId) => ({ agent_id: agentId, wallet_id: walletId, granted_at: now })))
    .onConflict(['agent_id', 'wallet_id'])
    .ignore();
}

export async function withdrawWallet(db: DbOrTx, agentId: string, walletId: string): Promise<boolean> {
  return (await db('agent_wallets').where({ agent_id: agentId, wallet_id: walletId }).delete()) > 0;
}
