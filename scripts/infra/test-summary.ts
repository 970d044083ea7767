/**
 * The test harness's totals. CI reads the very last line of `npm test`, which is
 * exactly `N passed, N failed`.
 */

export interface Totals {
  passed: number;
  failed: number;
}

/**
 * Totals from the TAP the Node test runner writes (`# pass N`, `# fail N`,
 * `# cancelled N` at the end). Cancelled tests (timeouts, a file that crashed) count
 * as failed. Undefined when the TAP has no totals (the runner died before the end).
 */
export function parseTapTotals(tap: string): Totals | undefined {
  const read = (label: string): number | undefined => {
    const matches = [...tap.matchAll(new RegExp(`^# ${label} (\\d+)\\s*$`, 'gm'))];
    const last = matches.at(-1);
    return last ? Number(last[1]) : undefined;
  };
  const pass = read('pass');
  const fail = read('fail');
  if (pass === undefined || fail === undefined) return undefined;
  return { passed: pass, failed: fail + (read('cancelled') ?? 0) };
}

export function addTotals(a: Totals, b: Totals): Totals {
  return { passed: a.passed + b.passed, failed: a.failed + b.failed };
}

export function formatSummary(totals: Totals): string {
  return `${totals.passed} passed, ${totals.failed} failed`;
}

export const SUMMARY_PATTERN = /^\d+ passed, \d+ failed$/;
