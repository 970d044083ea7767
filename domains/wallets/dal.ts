/** Data access for wallets. Object-level authorization lives in these queries: a wallet is found only for its owner or a granted agent. */
import type { DbOrTx } from '../../lib/db';

export interface WalletRow {
  id: string;
  user_id: string;
  address: string;
  label: string | null;
  key_ciphertext: string;
  frozen_at: Date | null;
  frozen_reason: string | null;
  created_at: Date;
}

/** Columns safe to load outside the signing path (no ciphertext). */
export const PUBLIC_WALLET_COLUMNS = ['id', 'user_id', 'address', 'label', 'frozen_at', 'frozen_reason', 'created_at'] as const;
export type PublicWalletRow = Omit<WalletRow, 'key_ciphertext'>;

export async function findWalletForUser(db: DbOrTx, userId: string, address: string): Promise<PublicWalletRow | undefined> {
  return (await db('wallets')
    .where({ user_id: userId, address: address.toLowerCase() })
    .first(...PUBLIC_WALLET_COLUMNS)) as PublicWalletRow | undefined;
}

export async function findWalletForAgent(db: DbOrTx, agentId: string, address: string): Promise<PublicWalletRow | undefined> {
  return (await db('wallets')
    .join('agent_wallets', 'agent_wallets.wallet_id', 'wallets.id')
    .join('agents', 'agents.id', 'agent_wallets.agent_id')
    .where({ 'agent_wallets.agent_id': agentId, 'wallets.address': address.toLowerCase() })
    // A grant only counts while the agent's owner still owns the wallet.
    .whereRaw('agents.user_id = wallets.user_id')
    .first(...PUBLIC_WALLET_COLUMNS.map((c) => `wallets.${c}`))) as PublicWalletRow | undefined;
}

/** A new wallet row. The ciphertext column never holds a plaintext key (a CHECK in migrations/003_wallets.ts insists on a key-store format). */
export async function insertWallet(
  db: DbOrTx,
  wallet: { id: string; userId: string; address: string; label: string | null; keyCiphertext: string; now: Date },
): Promise<void> {
  await db('wallets').insert({
    id: wallet.id,
    user_id: wallet.userId,
    address: wallet.address.toLowerCase(),
    label: wallet.label,
    key_ciphertext: wallet.keyCiphertext,
    created_at: wallet.now,
  });
}

const byAge = [
  { column: 'wallets.created_at', order: 'asc' as const },
  { column: 'wallets.id', order: 'asc' as const },
];

/** The user's own wallets, oldest first. */
export async function listWalletsForUser(db: DbOrTx, userId: string): Promise<PublicWalletRow[]> {
  return (await db('wallets')
    .where({ user_id: userId })
    .orderBy(byAge)
    .select(...PUBLIC_WALLET_COLUMNS.map((c) => `wallets.${c}`))) as PublicWalletRow[];
}

/** The wallets granted to an agent whose owner still owns them, oldest first. */
export async function listWalletsForAgent(db: DbOrTx, agentId: string): Promise<PublicWalletRow[]> {
  return (await db('wallets')
    .join('agent_wallets', 'agent_wallets.wallet_id', 'wallets.id')
    .join('agents', 'agents.id', 'agent_wallets.agent_id')
    .where({ 'agent_wallets.agent_id': agentId })
    .whereRaw('agents.user_id = wallets.user_id')
    .orderBy(byAge)
    .select(...PUBLIC_WALLET_COLUMNS.map((c) => `wallets.${c}`))) as PublicWalletRow[];
}

/** Is this wallet granted to this agent? */
export async function isGranted(db: DbOrTx, agentId: string, walletId: string): Promise<boolean> {
  return (await db('agent_wallets').where({ agent_id: agentId, wallet_id: walletId }).first('agent_id')) !== undefined;
}
