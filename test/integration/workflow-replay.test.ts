/**
 * Determinism guard: the committed histories of every lifecycle (recorded by
 * test/support/record-histories.ts on the real stack) must replay against the
 * current workflow code without a non-determinism error.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../support/app';

const DIR = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'fixtures', 'histories');
const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

test('there are committed histories for every lifecycle', () => {
  assert.deepEqual(
    files.map((f) => f.replace('.json', '')),
    ['approval_expired', 'auto_executed', 'cancelled', 'confirmed', 'execution_expired', 'rejected'],
  );
});

for (const file of files) {
  test(`replays ${file}`, async () => {
    // The CLI's JSON export; the replayer decodes it itself.
    const history: unknown = JSON.parse(readFileSync(path.join(DIR, file), 'utf8'));
    const bundle = await workflowBundle();
    await Worker.runReplayHistory({ workflowBundle: 'codePath' in bundle ? bundle : { code: bundle.code } }, history, `replay-${file}`);
  });
}
