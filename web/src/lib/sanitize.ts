/**
 * Agent-supplied and chain-supplied text (memo, agent name, token symbol,
 * decoded arguments, revert reasons) is hostile: it may try to impersonate the
 * UI, reorder what the eye reads (bidi overrides), hide characters (zero-width)
 * or flood the page. It is only ever rendered as a React text node (never HTML),
 * after this function: control, format/bidi and zero-width characters removed,
 * whitespace collapsed, length capped in code points.
 */

// Controls (Cc), format characters (Cf: bidi marks, embeddings, overrides and
// isolates, zero-width characters, soft hyphen, BOM, invisible operators),
// line/paragraph separators, lone surrogates, variation selectors, and the
// invisible Hangul fillers and Khmer vowels that render as nothing.
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\u115f\u1160\u3164]|\p{Variation_Selector}|\u17b4|\u17b5/gu;

/** Characters that separate words: replaced by a space rather than removed. */
const BREAKING = /[\p{Cc}\p{Zl}\p{Zp}]/u;

export function cleanText(value: unknown, maxCodePoints = 200): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'bigint' ? String(value) : '';
  // Controls (incl. newlines/tabs) become spaces so words do not run together.
  const cleaned = text
    .replace(INVISIBLE, (ch) => (BREAKING.test(ch) ? ' ' : ''))
    .replace(/\s+/g, ' ')
    .trim();
  const points = Array.from(cleaned);
  if (points.length <= maxCodePoints) return cleaned;
  return `${points.slice(0, maxCodePoints).join('')}…`;
}

/** True when cleaning changed the text (shown as a hint that something was hidden). */
export function wasAltered(value: unknown, maxCodePoints = 200): boolean {
  return typeof value === 'string' && cleanText(value, maxCodePoints) !== value.trim();
}
