/**
 * The black-box and browser suites run against the production build: `npm test`
 * compiles the API and worker (scripts/build.ts) and starts them as `node dist/…`,
 * exactly as the container image does, with no TypeScript loader. This checks that
 * the processes the other black-box tests talk to are those (flow.test.ts then runs a
 * full countersigned flow through them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

function commandLine(variable: string): string[] {
  const pid = process.env[variable];
  assert.ok(pid, `${variable} is not set: run the black-box suite through \`npm test\`, which starts the compiled processes`);
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}

for (const [role, variable, entry] of [
  ['API', 'COUNTERSIGN_API_PID', 'dist/api/server.js'],
  ['worker', 'COUNTERSIGN_WORKER_PID', 'dist/worker/main.js'],
] as const) {
  test(`the ${role} under test is the compiled build (${entry}), run by node without tsx`, () => {
    const argv = commandLine(variable);
    assert.equal(argv.at(-1), entry, argv.join(' '));
    assert.ok(!argv.some((arg) => /tsx/.test(arg)), `no TypeScript loader: ${argv.join(' ')}`);
  });
}

test('the compiled API answers and is ready', async () => {
  const api = process.env.COUNTERSIGN_API_URL;
  assert.ok(api);
  assert.equal((await fetch(`${api}/readyz`)).status, 200);
});
