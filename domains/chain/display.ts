/**
 * Text that comes from the chain or from an agent (token symbols, revert
 * reasons, ABI names, string arguments) is hostile input shown to a human
 * approver. No imports, so the web app can reuse it.
 *
 * Stripped: control characters (Cc), format characters (Cf: bidi overrides and
 * isolates, zero-width joiners, BOM), line/paragraph separators, private-use,
 * surrogates and unassigned code points, and the characters that render as
 * nothing (variation selectors, Hangul fillers, Khmer inherent vowels) — the
 * same set the web app's cleanText removes, so both show the same text.
 * Length counts code points.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cs}\p{Cn}\u3164]|\u115f|\u1160|\u17b4|\u17b5|\p{Variation_Selector}/gu;
/** Line breaks and tabs separate words: they become a space rather than vanish. */
const BREAKS = /[\t\n\v\f\r\u0085\u2028\u2029]/g;

export function sanitizeDisplayText(text: string, maxCodePoints: number): string {
  const cleaned = text.replace(BREAKS, ' ').replace(UNSAFE, '').replace(/\s+/gu, ' ').trim();
  const codePoints = Array.from(cleaned);
  if (codePoints.length <= maxCodePoints) return cleaned;
  return `${codePoints.slice(0, Math.max(0, maxCodePoints - 1)).join('')}…`;
}

export const MAX_SYMBOL_LENGTH = 16;
export const MAX_REASON_LENGTH = 200;
export const MAX_ARGUMENT_TEXT_LENGTH = 200;

export const sanitizeSymbol = (symbol: string): string => sanitizeDisplayText(symbol, MAX_SYMBOL_LENGTH);
export const sanitizeReason = (reason: string): string => sanitizeDisplayText(reason, MAX_REASON_LENGTH);

/** Printable ASCII: what a token symbol may use without a `confusable_symbol` warning. */
const PLAIN_SYMBOL = /^[\x20-\x7e]*$/;

/**
 * The code points of a (sanitised) symbol that are not printable ASCII, as
 * "U+0421": a Cyrillic С, a Greek Ε, a fullwidth Ｕ or a combining mark can
 * make "USDC" out of something else. Any non-ASCII character counts: telling
 * harmless scripts from look-alikes needs tables that are never complete,
 * and an approver loses one click to a false alarm.
 */
export function confusableCodePoints(symbol: string): string[] {
  if (PLAIN_SYMBOL.test(symbol)) return [];
  const found = new Set<string>();
  for (const ch of symbol) {
    if (!PLAIN_SYMBOL.test(ch)) found.add(`U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`);
  }
  return [...found];
}

/** A token whose symbol reads as the chain's own currency ("ETH", "eth", "ＥＴＨ"). */
export function impersonatesNative(symbol: string, nativeSymbol: string): boolean {
  const plain = (text: string) => text.normalize('NFKC').replace(/\s+/gu, '').toUpperCase();
  return symbol.length > 0 && plain(symbol) === plain(nativeSymbol);
}
