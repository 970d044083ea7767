/**
 * Prints the proof summary table (see summary.ts).
 *
 *   npx tsx test/proof/support/print-summary.ts            print; exit 1 if a must-be-zero column is not 0
 *   npx tsx test/proof/support/print-summary.ts --reset    empty the file (before a proof run)
 *   npx tsx test/proof/support/print-summary.ts --json     print the rows as JSON instead
 *   COUNTERSIGN_PROOF_SUMMARY=path                         another file (default test-results/proof-summary.json)
 *
 * Exit codes: 0 all zero (or no rows yet), 1 a duplicate, loss, unapproved
 * signature or server error was recorded, or a row's own test failed; 2 bad usage.
 */
import path from 'node:path';
import { REPO_ROOT } from '../../../scripts/infra/paths';
import { formatSummaryTable, readSummary, resetSummary, summaryPath, violations } from './summary';

function main(argv: string[]): number {
  const known = new Set(['--reset', '--json']);
  const unknown = argv.filter((a) => !known.has(a));
  if (unknown.length > 0) {
    process.stderr.write(`print-summary: unknown argument(s) ${unknown.join(' ')} (known: --reset, --json)\n`);
    return 2;
  }
  const file = summaryPath();
  const shown = path.relative(REPO_ROOT, file) || file;
  if (argv.includes('--reset')) {
    resetSummary(file);
    process.stdout.write(`proof summary reset (${shown})\n`);
    return 0;
  }
  const { rows } = readSummary(file);
  if (argv.includes('--json')) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  } else if (rows.length === 0) {
    process.stdout.write(`proof summary: no rows recorded in ${shown}\n`);
    return 0;
  } else {
    process.stdout.write(`\nProof summary (${shown})\n${formatSummaryTable(rows)}\n`);
  }
  const bad = violations(rows);
  for (const { row, columns } of bad) {
    process.stdout.write(`  ✗ ${row.suite}: ${columns.map((c) => (c === 'passed' ? 'its test failed' : `${c} = ${String(row[c as keyof typeof row])}`)).join(', ')}\n`);
  }
  if (bad.length === 0 && !argv.includes('--json')) process.stdout.write('duplicates, losses, unapproved signatures and server errors: all zero\n');
  return bad.length > 0 ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
