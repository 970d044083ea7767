/**
 * Binds the chain domain to what wallet views need. Errors pass through as
 * the chain domain's ChainErrors (URL-scrubbed); the service turns any of
 * them into a 503.
 */
import { erc20Balances, nativeBalance, pendingNonce, type ChainClients } from '../chain';
import type { WalletChain } from './types';

export function createWalletChain(clients: Pick<ChainClients, 'get' | 'chainIds'>): WalletChain {
  return {
    chainIds: () => clients.chainIds(),
    nativeBalance: (chainId, address) => nativeBalance(clients.get(chainId), address),
    pendingNonce: (chainId, address) => pendingNonce(clients.get(chainId), address),
    async tokenBalances(chainId, owner, tokens) {
      const balances = await erc20Balances(clients.get(chainId), owner, tokens);
      return balances.map((b) => ({
        token: b.token,
        symbol: b.symbol,
        decimals: b.decimals,
        balance: b.balance === null ? null : b.balance.toString(),
      }));
    },
  };
}
