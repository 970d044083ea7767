/**
 * Chain reset detection. PostgreSQL is authoritative for nonces once a
 * (wallet, chain) is used; if the node behind a chain id is replaced by a
 * fresh chain (a reset dev node, a misconfigured RPC URL), those nonces and
 * every recorded hash are meaningless. The worker checks the genesis hash at
 * start-up and refuses to sign on a chain that is not the one it knew.
 */
import type { Db } from '../../lib/db';
import { genesisHash } from './confirm';
import type { ChainClients } from './providers';

export class ChainResetError extends Error {
  override name = 'ChainResetError';
}

export async function assertKnownChains(db: Db, clients: Pick<ChainClients, 'get' | 'chainIds'>): Promise<void> {
  for (const chainId of clients.chainIds()) {
    const hash = await genesisHash(clients.get(chainId));
    await db('chains').insert({ chain_id: chainId, genesis_hash: hash }).onConflict('chain_id').ignore();
    const known = (await db('chains').where({ chain_id: chainId }).first('genesis_hash')) as { genesis_hash: string };
    if (known.genesis_hash !== hash) {
      throw new ChainResetError(
        `chain ${chainId} was reset: its genesis block is ${hash}, but this database knows ${known.genesis_hash}. ` +
          'Stored nonces and transaction hashes belong to the old chain; point WEB3_PROVIDER_URI at the right node, or for a dev chain run `npm run dev:reset`.',
      );
    }
  }
}
