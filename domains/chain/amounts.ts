/**
 * How amounts read, in one place: the server's summary titles and the web
 * app's cards both format with these functions (web/src/lib/format.ts imports
 * this file), so a title and an Amount row cannot disagree. No imports and no
 * Node built-ins, so the browser bundle can use it.
 *
 * Amounts are never rounded (a hidden digit is a hidden amount): base units
 * become a decimal with every significant digit, the whole part grouped by
 * thousands with ",", the fraction with "." and no trailing zeros. A token
 * whose decimals cannot be trusted is shown in base units, never guessed.
 */

/**
 * The most decimals an amount is formatted with. Real tokens use 0–18 (a few
 * 24–27); a token claiming more is hiding its amount: 10^18 units at 40
 * decimals would read as dust.
 */
export const MAX_DISPLAY_DECIMALS = 36;

/** An allowance at or above 2^96 - 1 is unlimited: max uint256 and the uint96/uint128 sentinels some tokens use. */
export const UNLIMITED_APPROVAL_THRESHOLD = (1n << 96n) - 1n;

const INTEGER = /^-?(0|[1-9][0-9]*)$/;

/** A bigint, a decimal string (optionally signed) or a safe integer → bigint; undefined otherwise. */
export function toBaseUnits(amount: unknown): bigint | undefined {
  if (typeof amount === 'bigint') return amount;
  if (typeof amount === 'number') return Number.isSafeInteger(amount) ? BigInt(amount) : undefined;
  if (typeof amount === 'string' && INTEGER.test(amount) && amount.length <= 100) return BigInt(amount);
  return undefined;
}

export const isUnlimitedAmount = (amount: unknown): boolean => {
  const units = toBaseUnits(amount);
  return units !== undefined && units >= UNLIMITED_APPROVAL_THRESHOLD;
};

/** "1234567" → "1,234,567". */
export function groupDigits(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** A decimal count we format with, or undefined if it is not one (negative, fractional, above MAX_DISPLAY_DECIMALS). */
export function trustedDecimals(decimals: unknown): number | undefined {
  return typeof decimals === 'number' && Number.isInteger(decimals) && decimals >= 0 && decimals <= MAX_DISPLAY_DECIMALS ? decimals : undefined;
}

/**
 * Base units → decimal text with every significant digit ("-" for negative).
 * null when the amount is not an integer or the decimals are not trusted.
 */
export function formatUnits(amount: unknown, decimals: unknown): string | null {
  const units = toBaseUnits(amount);
  const places = trustedDecimals(decimals);
  if (units === undefined || places === undefined) return null;
  const sign = units < 0n ? '-' : '';
  const digits = (units < 0n ? -units : units).toString();
  if (places === 0) return `${sign}${groupDigits(digits)}`;
  const padded = digits.padStart(places + 1, '0');
  const whole = padded.slice(0, padded.length - places);
  const fraction = padded.slice(padded.length - places).replace(/0+$/, '');
  return `${sign}${groupDigits(whole)}${fraction ? `.${fraction}` : ''}`;
}

/** Base units as grouped digits, without any scaling. */
export function formatBaseUnits(amount: unknown): string | null {
  const units = toBaseUnits(amount);
  if (units === undefined) return null;
  return `${units < 0n ? '-' : ''}${groupDigits((units < 0n ? -units : units).toString())}`;
}

/**
 * What an amount is counted in:
 * * `native`: the chain's currency (18 decimals);
 * * `token`: an ERC-20 whose decimals are trusted (`decimals` set) or not (`decimals` null: base units);
 * * `not_a_token`: the target does not answer like an ERC-20, so only base units mean anything.
 */
export type AmountUnit = 'native' | 'token' | 'not_a_token';

export interface AmountSpec {
  /** Base units, a decimal string (signed for balance changes). */
  raw: string;
  unit: AmountUnit;
  /** Already sanitised by the server; "" or null when the token has none. */
  symbol: string | null;
  /** Decimals used for formatting; null when unknown or not trusted. */
  decimals: number | null;
  /** An allowance large enough to be unlimited (approvals only). */
  unlimited: boolean;
}

const symbolOr = (symbol: string | null | undefined, fallback: string) => (symbol && symbol.length > 0 ? symbol : fallback);

/**
 * The one text for an amount: "250 USDC", "0.3 ETH", "unlimited USDC",
 * "1,000,000,000,000,000,000 base units of XYZ", "1 base units (not a token)".
 */
export function formatAmount(spec: AmountSpec): string {
  if (spec.unlimited) return `unlimited ${symbolOr(spec.symbol, spec.unit === 'not_a_token' ? 'base units (not a token)' : 'tokens')}`;
  const raw = formatBaseUnits(spec.raw) ?? '?';
  if (spec.unit === 'not_a_token') return `${raw} base units (not a token)`;
  const decimals = spec.unit === 'native' ? 18 : spec.decimals;
  const formatted = decimals === null ? null : formatUnits(spec.raw, decimals);
  if (formatted === null) return `${raw} base units of ${symbolOr(spec.symbol, 'an unnamed token')}`;
  return `${formatted} ${symbolOr(spec.symbol, spec.unit === 'native' ? 'ETH' : 'tokens')}`;
}

/** A balance change: "+250 USDC", "-0.3 ETH" (explicit sign; zero has none). */
export function formatAmountChange(spec: AmountSpec): string {
  const text = formatAmount(spec);
  const units = toBaseUnits(spec.raw);
  return units !== undefined && units > 0n ? `+${text}` : text;
}

/** Chains the app knows by name; others show their id. The native currency always has 18 decimals. */
const CHAINS: Readonly<Record<string, { name: string; symbol: string }>> = {
  '1': { name: 'Ethereum', symbol: 'ETH' },
  '10': { name: 'OP Mainnet', symbol: 'ETH' },
  '56': { name: 'BNB Smart Chain', symbol: 'BNB' },
  '100': { name: 'Gnosis', symbol: 'xDAI' },
  '137': { name: 'Polygon', symbol: 'POL' },
  '8453': { name: 'Base', symbol: 'ETH' },
  '42161': { name: 'Arbitrum One', symbol: 'ETH' },
  '43114': { name: 'Avalanche C-Chain', symbol: 'AVAX' },
  '11155111': { name: 'Sepolia', symbol: 'ETH' },
  '17000': { name: 'Holesky', symbol: 'ETH' },
  '31337': { name: 'Local dev chain (anvil)', symbol: 'ETH' },
};

export function chainName(chainId: unknown): string {
  const id = String(chainId ?? '');
  if (!/^[0-9]{1,20}$/.test(id)) return 'Unknown chain';
  const chain = CHAINS[id];
  return chain ? `${chain.name} (${id})` : `Chain ${id}`;
}

export function nativeSymbol(chainId: unknown): string {
  return CHAINS[String(chainId ?? '')]?.symbol ?? 'ETH';
}

/** A native amount in wei as text ("0.3 ETH"); null if `wei` is not an integer. */
export function formatNative(wei: unknown, chainId: unknown): string | null {
  const units = toBaseUnits(wei);
  if (units === undefined) return null;
  return formatAmount({ raw: units.toString(), unit: 'native', symbol: nativeSymbol(chainId), decimals: 18, unlimited: false });
}
