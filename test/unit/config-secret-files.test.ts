/**
 * Secrets from files (config/env.ts, SECRET_FILE_VARIABLES): `NAME_FILE` names a file whose
 * trimmed contents become `NAME` — how docker-compose.yml passes every secret. And
 * VAULT_CACERT, the CA an https VAULT_ADDR is verified with.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig, loadMigrationConfig, SECRET_FILE_VARIABLES } from '../../config/env';
import { MINIMAL_TEST_ENV } from '../support/config';

const dir = mkdtempSync(path.join(tmpdir(), 'countersign-config-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: string) => {
  const target = path.join(dir, name);
  writeFileSync(target, content);
  return target;
};

const base = {
  ...MINIMAL_TEST_ENV,
};

const problems = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.message;
  }
  assert.fail('expected a ConfigError');
};

test('NAME_FILE: the file\'s contents, trimmed (a trailing newline as editors and echo write it), become NAME', () => {
  const { JWT_SECRET_KEY: _jwt, DATABASE_URL: _url, ...rest } = base;
  const config = loadConfig({
    ...rest,
    JWT_SECRET_KEY_FILE: file('jwt', '  file-jwt-secret-0123456789abcdef0123\n'),
    DATABASE_URL_FILE: file('url', 'postgres://api:from-file@db:5432/countersign\n'),
  });
  assert.equal(config.JWT_SECRET_KEY, 'file-jwt-secret-0123456789abcdef0123');
  assert.equal(config.DATABASE_URL, 'postgres://api:from-file@db:5432/countersign');
  // The migration step reads its URL the same way.
  const migration = loadMigrationConfig({ MIGRATION_DATABASE_URL_FILE: file('owner', 'postgres://owner:pw@db/countersign\n') });
  assert.equal(migration.MIGRATION_DATABASE_URL, 'postgres://owner:pw@db/countersign');
});

test('a value read from a file is validated like one from the environment', () => {
  const { JWT_SECRET_KEY: _jwt, ...rest } = base;
  assert.match(problems({ ...rest, JWT_SECRET_KEY_FILE: file('short', 'too-short\n') }), /JWT_SECRET_KEY: Too small/);
});

test('both NAME and NAME_FILE, an unreadable file and an empty one are refused, naming the variable and never the contents', () => {
  const message = problems({ ...base, JWT_SECRET_KEY_FILE: file('both', 'another-secret-0123456789abcdef0123\n') });
  assert.match(message, /JWT_SECRET_KEY_FILE: set either JWT_SECRET_KEY or JWT_SECRET_KEY_FILE, not both/);
  assert.doesNotMatch(message, /another-secret/);
  const { AUDIT_HMAC_KEY: _audit, API_KEY_HMAC_KEY: _apiKey, ...rest } = base;
  const missing = path.join(dir, 'does-not-exist');
  const two = problems({ ...rest, AUDIT_HMAC_KEY_FILE: missing, API_KEY_HMAC_KEY_FILE: file('empty', ' \n') });
  assert.ok(two.includes(`AUDIT_HMAC_KEY_FILE: cannot read ${missing} (ENOENT)`), two);
  assert.match(two, /API_KEY_HMAC_KEY_FILE: .*empty is empty/);
});

test('only the listed secrets come from files; an empty NAME_FILE counts as unset', () => {
  assert.deepEqual([...SECRET_FILE_VARIABLES].sort(), [
    'API_KEY_HMAC_KEY',
    'AUDIT_HMAC_KEY',
    'CODEC_OPERATOR_TOKEN',
    'DATABASE_URL',
    'JWT_SECRET_KEY',
    'KEYSTORE_PASSPHRASE',
    'MIGRATION_DATABASE_URL',
    'VAULT_SECRET_ID',
    'VAULT_TOKEN',
  ]);
  const config = loadConfig({ ...base, JWT_SECRET_KEY_FILE: '', CHAIN_ID_FILE: file('chain', '1\n') });
  assert.equal(config.JWT_SECRET_KEY, base.JWT_SECRET_KEY);
  assert.equal(config.CHAIN_ID, 31337, 'CHAIN_ID_FILE is not a thing');
});

test('VAULT_CACERT goes with an https VAULT_ADDR', () => {
  const vault = { ...base, KEYSTORE: 'vault', VAULT_TOKEN: 's.test', VAULT_CACERT: '/certs/openbao-ca.pem' };
  assert.equal(loadConfig({ ...vault, VAULT_ADDR: 'https://openbao:8200' }).VAULT_CACERT, '/certs/openbao-ca.pem');
  assert.match(problems({ ...vault, VAULT_ADDR: 'http://openbao:8200' }), /VAULT_CACERT: a CA certificate needs an https:\/\/ VAULT_ADDR/);
});
