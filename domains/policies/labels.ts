/**
 * Address-book labels: what a label may be. No imports, so the web app checks
 * the same pattern before sending.
 *
 * A label is shown beside an address, never instead of it, so it must not be
 * mistakable for one: printable ASCII only (no look-alike letters from other
 * scripts, no invisible or bidi characters), 1–64 characters, starting and
 * ending with a letter or digit, and nothing address-like: no `0x` followed
 * by a hex digit, no `Ox`/`ox` followed by four, no run of 8 hex digits.
 */
export const MAX_LABEL_LENGTH = 64;

export const LABEL_PATTERN = /^(?![\s\S]*0[xX][0-9a-fA-F])(?![\s\S]*[oO][xX][0-9a-fA-F]{4})(?![\s\S]*[0-9a-fA-F]{8})[A-Za-z0-9](?:[A-Za-z0-9 _.,'&()#@/+:-]{0,62}[A-Za-z0-9)])?$/;

export const isValidLabel = (label: string) => LABEL_PATTERN.test(label);
