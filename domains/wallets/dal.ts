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
