/**
 * Agent-supplied and chain-supplied text (memo, agent name, token symbol,
 * decoded arguments, revert reasons) is hostile: it may try to impersonate the
 * UI, reorder what the eye reads (bidi overrides), hide characters (zero-width)
 * or flood the page. It is only ever rendered as a React text node (never HTML),
 * after this function: control, format/bidi and zero-width characters removed,
 * whitespace collapsed, length capped in code points.
 */

// C0/C1 controls, DEL; bidi marks/embeddings/overrides/isolates; zero-width and
// other invisible formatting characters; line/paragraph separators; BOM.
const INVISIBLE =
  // eslint-disable-next-line no-control-regex -- matching controls is the point
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\ufff9-\ufffb]/g;

// eslint-disable-next-line no-control-regex -- matching controls is the point
const BREAKING = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

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
