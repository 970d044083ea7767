/**
 * The proof suite's summary table. Every proof test (faults, abuse, fuzzing)
 * records one row per scenario into one JSON file; `print-summary.ts` prints it
 * at the end of `npm run test:proof`.
 *
 * The file is written by several test processes at once (the runner runs files
 * in parallel), so every change is a read-modify-write under an exclusive lock
 * file, and the new content is renamed into place: a reader never sees half a
 * document and no row is lost.
 *
 * Where: COUNTERSIGN_PROOF_SUMMARY, default test-results/proof-summary.json
 * (relative to the repository root).
 *
 * The last four columns (duplicates, losses, unapproved signatures, server
 * errors) must be zero; fuzz cases counts cases run, it is not an error count.
 */
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../../scripts/infra/paths';

export interface ProofCounts {
  /** Faults injected (restarts, kills, outages, seals). */
  faults: number;
  /** Transaction requests prepared. */
  requests: number;
  /** Requests the owner approved (with TOTP). */
  approved: number;
  /** Approved requests found mined on chain (matched by tx hash). */
  onChain: number;
  /** Extra on-chain transactions or signatures for a request beyond the first. Must be 0. */
  duplicates: number;
  /** Approved requests that did not end on chain (or did not reach a final status). Must be 0. */
  losses: number;
  /** Signatures or on-chain transactions for requests without a valid approval, or unknown ones. Must be 0. */
  unapprovedSignatures: number;
  /** Fuzz / property cases run. */
  fuzzCases: number;
  /** HTTP 5xx answers other than a documented 503 `unavailable`. Must be 0. */
  serverErrors: number;
  /** Messages sent to Temporal directly (approve, execute, reject, cancel without a record) that were refused. */
  backdoorRefused: number;
}

export interface ProofRow extends ProofCounts {
  /** e.g. "faults: Temporal restart". */
  suite: string;
  /** Free text: seed, counts per state, timings. */
  notes?: string;
  /** false when the test recording it failed its own assertions. */
  passed?: boolean;
  durationMs?: number;
  recordedAt: string;
  pid: number;
}

export interface ProofSummary {
  version: 1;
  rows: ProofRow[];
}

/** The columns that must be zero for the proof to hold. */
export const MUST_BE_ZERO = ['duplicates', 'losses', 'unapprovedSignatures', 'serverErrors'] as const satisfies ReadonlyArray<keyof ProofCounts>;

export const ZERO_COUNTS: ProofCounts = {
  faults: 0,
  requests: 0,
  approved: 0,
  onChain: 0,
  duplicates: 0,
  losses: 0,
  unapprovedSignatures: 0,
  fuzzCases: 0,
  serverErrors: 0,
  backdoorRefused: 0,
};

export function summaryPath(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.COUNTERSIGN_PROOF_SUMMARY;
  return path.resolve(REPO_ROOT, configured && configured.trim() !== '' ? configured : path.join('test-results', 'proof-summary.json'));
}

const LOCK_STALE_MS = 30_000;
const LOCK_WAIT_MS = 20_000;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Runs fn while holding `<file>.lock` (created exclusively); a lock older than 30 s is taken over. */
function withLock<T>(file: string, fn: () => T): T {
  const lock = `${file}.lock`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fd = fs.openSync(lock, 'wx');
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      try {
        // A writer killed while holding the lock must not block every later run.
        if (Date.now() - fs.statSync(lock).mtimeMs > LOCK_STALE_MS) fs.rmSync(lock, { force: true });
      } catch {
        /* released meanwhile */
      }
      if (Date.now() > deadline) throw new Error(`could not lock ${lock} within ${LOCK_WAIT_MS / 1000} s`, { cause: error });
      sleepSync(10 + Math.floor(Math.random() * 20));
    }
  }
  try {
    return fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

export function readSummary(file = summaryPath()): ProofSummary {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, rows: [] };
    throw error;
  }
  const parsed = JSON.parse(text) as Partial<ProofSummary>;
  if (!Array.isArray(parsed.rows)) throw new Error(`${file} is not a proof summary (no "rows" array)`);
  return { version: 1, rows: parsed.rows };
}

function writeAtomically(file: string, summary: ProofSummary): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(summary, null, 2)}\n`);
  fs.renameSync(tmp, file);
}

/** Appends one row. Safe to call from many processes at once. */
export function recordProofRow(row: { suite: string } & Partial<ProofCounts> & Pick<Partial<ProofRow>, 'notes' | 'passed' | 'durationMs'>, file = summaryPath()): ProofRow {
  const full: ProofRow = { ...ZERO_COUNTS, ...row, recordedAt: new Date().toISOString(), pid: process.pid };
  withLock(file, () => {
    const summary = readSummary(file);
    summary.rows.push(full);
    writeAtomically(file, summary);
  });
  return full;
}

/** Empties the summary (the harness does this before a proof run). */
export function resetSummary(file = summaryPath()): void {
  withLock(file, () => writeAtomically(file, { version: 1, rows: [] }));
}

/** The rows whose must-be-zero columns are not all zero, or whose test failed. */
export function violations(rows: ProofRow[]): Array<{ row: ProofRow; columns: string[] }> {
  return rows.flatMap((row) => {
    const columns: string[] = MUST_BE_ZERO.filter((key) => row[key] !== 0);
    if (row.passed === false) columns.push('passed');
    return columns.length > 0 ? [{ row, columns }] : [];
  });
}

const HEADERS: Array<[keyof ProofCounts | 'suite', string]> = [
  ['suite', 'suite'],
  ['faults', 'faults injected'],
  ['requests', 'requests'],
  ['approved', 'approved'],
  ['onChain', 'on chain'],
  ['duplicates', 'duplicates'],
  ['losses', 'losses'],
  ['unapprovedSignatures', 'unapproved signatures'],
  ['fuzzCases', 'fuzz cases'],
  ['serverErrors', 'server errors'],
  ['backdoorRefused', 'back-door attempts refused'],
];

/** A fixed-width table with a totals line; failed rows are marked with `✗`. */
export function formatSummaryTable(rows: ProofRow[]): string {
  const sorted = [...rows].sort((a, b) => a.suite.localeCompare(b.suite) || a.recordedAt.localeCompare(b.recordedAt));
  const totals: Record<string, number> = {};
  const body = sorted.map((row) =>
    HEADERS.map(([key]) => {
      if (key === 'suite') return `${row.passed === false ? '✗ ' : ''}${row.suite}`;
      totals[key] = (totals[key] ?? 0) + row[key];
      return String(row[key]);
    }),
  );
  const total = HEADERS.map(([key]) => (key === 'suite' ? `total (${rows.length} rows)` : String(totals[key] ?? 0)));
  const table = [HEADERS.map(([, label]) => label), ...body, total];
  const widths = HEADERS.map((_, i) => Math.max(...table.map((cells) => cells[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(table[0]!), rule, ...body.map(line), rule, line(total)].join('\n');
}
