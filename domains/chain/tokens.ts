/**
 * ERC-20 metadata through eth_call. Token contracts are hostile: any of them
 * may revert, return garbage or a huge or deceptive symbol. Only network
 * failures throw (retryable); anything else means "not an ERC-20 we can read".
 */
import { AbiCoder, dataLength, getBytes, toUtf8String, Utf8ErrorFuncs, type JsonRpcProvider } from 'ethers';
import { sanitizeSymbol } from './display';
import { throwIfNetwork } from './errors';
import type { TokenMetadata } from './types';

export const SELECTORS = {
  symbol: '0x95d89b41',
  decimals: '0x313ce567',
  totalSupply: '0x18160ddd',
  balanceOf: '0x70a08231',
} as const;

type TokenReader = Pick<JsonRpcProvider, 'call'>;

/** eth_call returning the raw result, or undefined when the call failed for a non-network reason. */
export async function tryCall(provider: TokenReader, to: string, data: string, from?: string): Promise<string | undefined> {
  try {
    return await provider.call(from === undefined ? { to, data } : { to, data, from });
  } catch (err) {
    throwIfNetwork(err, 'eth_call');
    return undefined;
  }
}

/** A 32-byte word as an unsigned integer, if the result has at least one word. */
export function firstWord(result: string | undefined): bigint | undefined {
  if (result === undefined || dataLength(result) < 32) return undefined;
  return BigInt(result.slice(0, 66));
}

/** `decimals()` must fit a uint8. */
export function parseDecimals(result: string | undefined): number | undefined {
  const word = firstWord(result);
  return word !== undefined && word <= 255n ? Number(word) : undefined;
}

/** `symbol()` as an ABI string, or as bytes32 (older tokens such as MKR); sanitised. */
export function parseSymbol(result: string | undefined): string {
  if (result === undefined || result === '0x') return '';
  try {
    const [text] = AbiCoder.defaultAbiCoder().decode(['string'], result);
    return sanitizeSymbol(String(text));
  } catch {
    // fall through to bytes32
  }
  if (dataLength(result) !== 32) return '';
  const bytes = getBytes(result);
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return sanitizeSymbol(toUtf8String(bytes.slice(0, end), Utf8ErrorFuncs.replace));
}

/**
 * Symbol and decimals, or undefined if the target does not answer
 * totalSupply() and decimals() like an ERC-20.
 *
 * decimals() is read twice — anonymously and, with `from`, as the wallet — so a
 * token that answers differently to different callers or from one call to the
 * next is caught (`inconsistentDecimals`) instead of shown with whichever
 * answer came first: decimals are how a huge amount is made to look like dust.
 */
export async function readErc20Metadata(provider: TokenReader, token: string, options: { from?: string } = {}): Promise<TokenMetadata | undefined> {
  const [supply, decimalsResult, symbolResult] = await Promise.all([
    tryCall(provider, token, SELECTORS.totalSupply),
    tryCall(provider, token, SELECTORS.decimals),
    tryCall(provider, token, SELECTORS.symbol),
  ]);
  const decimals = parseDecimals(decimalsResult);
  if (firstWord(supply) === undefined || decimals === undefined) return undefined;
  const again = parseDecimals(await tryCall(provider, token, SELECTORS.decimals, options.from));
  return { symbol: parseSymbol(symbolResult), decimals, ...(again === decimals ? {} : { inconsistentDecimals: true as const }) };
}

/** `balanceOf(holder)`, or undefined when the token does not answer. */
export async function readTokenBalance(provider: TokenReader, token: string, holder: string): Promise<bigint | undefined> {
  const data = SELECTORS.balanceOf + holder.toLowerCase().replace(/^0x/, '').padStart(64, '0');
  return firstWord(await tryCall(provider, token, data));
}
