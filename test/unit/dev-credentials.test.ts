/** The operator's scripts find the dev stack's credentials in .data/ (scripts/infra/dev-credentials.ts). */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { redactedError, useDevCredentials } from '../../scripts/infra/dev-credentials';
import { generateSecrets } from '../../scripts/infra/secrets';

function devDir() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'countersign-devcreds-'));
  const secrets = generateSecrets();
  writeFileSync(path.join(dir, 'secrets.json'), JSON.stringify(secrets));
  mkdirSync(path.join(dir, 'openbao'));
  writeFileSync(path.join(dir, 'openbao', 'credentials.json'), JSON.stringify({ apiToken: 's.api-token', workerToken: 's.worker-token' }));
  return { dir, secrets };
}

test('with no database named, the dev stack fills in what is missing, and only that', () => {
  const { dir, secrets } = devDir();
  try {
    const env: NodeJS.ProcessEnv = { TEMPORAL_ADDRESS: 'temporal.example:7233' };
    assert.equal(useDevCredentials(env, dir), true);
    assert.equal(env.AUDIT_HMAC_KEY, secrets.app.AUDIT_HMAC_KEY);
    assert.match(env.MIGRATION_DATABASE_URL!, /^postgres:\/\/countersign_owner:[0-9a-f]+@127\.0\.0\.1:5433\/countersign$/);
    assert.match(env.DATABASE_URL!, /^postgres:\/\/countersign_api:/);
    assert.equal(env.VAULT_TOKEN, 's.api-token', 'the API credential, never the worker’s');
    assert.equal(env.TEMPORAL_ADDRESS, 'temporal.example:7233', 'what the shell set wins');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a named database (production, or an auditor role) is never replaced; no .data/ means nothing', () => {
  const { dir } = devDir();
  try {
    const env: NodeJS.ProcessEnv = { DATABASE_URL: 'postgres://auditor@db/countersign' };
    assert.equal(useDevCredentials(env, dir), false);
    assert.equal(env.MIGRATION_DATABASE_URL, undefined);
    assert.equal(useDevCredentials({}, path.join(dir, 'absent')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('errors for the terminal carry no connection string', () => {
  const message = redactedError(Object.assign(new Error('connect to postgres://owner:hunter2@db:5432/x failed'), { code: 'ECONNREFUSED' }));
  assert.equal(message.includes('hunter2'), false);
  assert.match(message, /ECONNREFUSED/);
});
