/**
 * Text that comes from the chain or from an agent (token symbols, revert
 * reasons, ABI names, string arguments) is hostile input shown to a human
 * approver. No imports, so the web app can reuse it.
 *
 * Stripped: control characters (Cc), format characters (Cf: bidi overrides and
 * isolates, zero-width joiners, BOM), line/paragraph separators, private-use,
 * surrogates and unassigned code points. Length counts code points.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cs}\p{Cn}]/gu;
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
