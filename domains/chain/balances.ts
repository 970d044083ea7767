/**
 * Balances for wallet views. One hostile or broken token never breaks the
 * list: its entry says null. Network failures throw (retryable).
 */
import { AbiCoder, type JsonRpcProvider } from 'ethers';
import { ChainError, toChainError } from './errors';
import { checksumAddress, normalizeAddress } from './formats';
import { firstWord, parseDecimals, parseSymbol, SELECTORS, tryCall } from './tokens';

export const MAX_TOKENS_PER_QUERY = 50;

export interface TokenBalance {
  /** EIP-55. */
  token: string;
  /** Sanitised; null when the token does not answer. */
  symbol: string | null;
  decimals: number | null;
  balance: bigint | null;
}

export async function nativeBalance(provider: Pick<JsonRpcProvider, 'getBalance'>, address: string): Promise<bigint> {
  try {
    return await provider.getBalance(normalizeAddress(address, 'address'));
  } catch (err) {
    throw toChainError(err, 'reading the balance');
  }
}

export async function erc20Balances(provider: Pick<JsonRpcProvider, 'call'>, owner: string, tokens: readonly string[]): Promise<TokenBalance[]> {
  if (tokens.length > MAX_TOKENS_PER_QUERY) {
    throw new ChainError('invalid_intent', `at most ${MAX_TOKENS_PER_QUERY} tokens per query`);
  }
  const holder = normalizeAddress(owner, 'address');
  const unique = [...new Set(tokens.map((token) => normalizeAddress(token, 'token_address')))];
  const balanceOfData = SELECTORS.balanceOf + AbiCoder.defaultAbiCoder().encode(['address'], [holder]).slice(2);
  return Promise.all(
    unique.map(async (token): Promise<TokenBalance> => {
      const [balance, decimals, symbol] = await Promise.all([
        tryCall(provider, token, balanceOfData),
        tryCall(provider, token, SELECTORS.decimals),
        tryCall(provider, token, SELECTORS.symbol),
      ]);
      const parsedBalance = firstWord(balance);
      return {
        token: checksumAddress(token),
        symbol: symbol === undefined || symbol === '0x' ? null : parseSymbol(symbol),
        decimals: parseDecimals(decimals) ?? null,
        balance: parsedBalance ?? null,
      };
    }),
  );
}
