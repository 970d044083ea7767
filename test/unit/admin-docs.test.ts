/**
 * docs/operations.md lists every command of `npm run admin` (scripts/admin.ts)
 * and names no command the tool does not have.
 */
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';

const source = readFileSync('scripts/admin.ts', 'utf8');
const docs = readFileSync('docs/operations.md', 'utf8');

const commands = [...source.matchAll(/^ {4}case '([a-z-]+)':/gm)].map((m) => m[1]!);
const documented = [...docs.matchAll(/`npm run admin -- ([a-z-]+)/g)].map((m) => m[1]!);

test('the tool has the commands the issue names', () => {
  for (const command of ['stuck', 'show', 'cancel', 'redrive', 'resend', 'freeze', 'unfreeze', 'audit']) assert.ok(commands.includes(command), command);
});

test('every admin command is documented, and every documented one exists', () => {
  for (const command of commands) assert.ok(documented.includes(command), `docs/operations.md does not document \`npm run admin -- ${command}\``);
  for (const command of documented) assert.ok(commands.includes(command), `docs/operations.md documents \`npm run admin -- ${command}\`, which scripts/admin.ts does not have`);
});

test('the usage text lists every command', () => {
  const usage = /const USAGE = `([^`]*)`/.exec(source)?.[1] ?? '';
  for (const command of commands) assert.match(usage, new RegExp(`^  ${command}\\b`, 'm'), command);
});
