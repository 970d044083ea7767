/**
 * Rolling windows (`1h` … `720h`, `1d` … `30d`). No imports, so the web app
 * reads windows with the same code.
 */

/** The published pattern: whole hours up to 720, or whole days up to 30. */
export const WINDOW_PATTERN = /^(?:(?:[1-9]|[1-9][0-9]|[1-6][0-9]{2}|7[01][0-9]|720)h|(?:[1-9]|[12][0-9]|30)d)$/;

export function windowSeconds(window: string): number {
  const match = /^([0-9]+)([hd])$/.exec(window);
  if (!match || !WINDOW_PATTERN.test(window)) throw new Error(`not a policy window: ${window}`);
  return Number(match[1]) * (match[2] === 'd' ? 86_400 : 3_600);
}

/** "hour", "24 hours", "day", "7 days" (in the unit the owner wrote): what follows "per" or "in the last". */
export function windowText(window: string): string {
  windowSeconds(window);
  const n = Number(window.slice(0, -1));
  const unit = window.endsWith('d') ? 'day' : 'hour';
  return n === 1 ? unit : `${n} ${unit}s`;
}
