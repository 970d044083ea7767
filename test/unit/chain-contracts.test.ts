import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ARTIFACTS_PATH, generateArtifacts } from '../support/contracts/compile';

test('the checked-in test contract artifacts match their Solidity sources', () => {
  assert.equal(readFileSync(ARTIFACTS_PATH, 'utf8'), generateArtifacts(), 'run: npx tsx test/support/contracts/compile.ts');
});
