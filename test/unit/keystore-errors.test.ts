import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { classifyVaultError, keyContext, KeyStoreError, parseCiphertextVersion } from '../../domains/keystore';

const TOKEN = 's.hvs-very-secret-token-0123456789';
const PLAINTEXT = '0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318';
const PLAINTEXT_B64 = Buffer.from(PLAINTEXT).toString('base64');

/** What axios rejects with on a network failure: the whole request, token and body included. */
function axiosLikeError(code: string) {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:8200 token=${TOKEN}`), {
    code,
    isAxiosError: true,
    config: { headers: { 'X-Vault-Token': TOKEN }, data: JSON.stringify({ plaintext: PLAINTEXT_B64, context: 'd2FsbGV0OjE=' }) },
    request: { _header: `POST /v1/transit/encrypt/countersign-wallets HTTP/1.1\r\nX-Vault-Token: ${TOKEN}\r\n` },
  });
}

/** What node-vault rejects with on a non-2xx answer. */
function vaultResponseError(statusCode: number, errors: string[]) {
  return Object.assign(new Error(errors[0] ?? `Status ${statusCode}`), { response: { statusCode, body: { errors } } });
}

function assertSafe(error: KeyStoreError) {
  const everything = [error.message, error.stack ?? '', JSON.stringify(error), inspect(error, { depth: 10, showHidden: true })].join('\n');
  for (const secret of [TOKEN, PLAINTEXT, PLAINTEXT_B64]) assert.ok(!everything.includes(secret), `leaked ${secret.slice(0, 8)}…`);
  assert.equal(error.cause, undefined);
}

describe('keyContext', () => {
  test('binds purpose and subject', () => {
    assert.equal(keyContext('wallet', '7d0b0e6e-3c38-4a53-a7a4-0d0b1f7f1e11'), 'wallet:7d0b0e6e-3c38-4a53-a7a4-0d0b1f7f1e11');
    assert.equal(keyContext('mfa', 'u1'), 'mfa:u1');
    assert.equal(keyContext('webhook', 'h1'), 'webhook:h1');
  });

  test('refuses an empty or unprintable subject and an unknown purpose', () => {
    assert.throws(() => keyContext('wallet', ''), TypeError);
    assert.throws(() => keyContext('wallet', 'a b'), TypeError);
    assert.throws(() => keyContext('wallet', 'x'.repeat(257)), TypeError);
    assert.throws(() => keyContext('root' as never, 'x'), TypeError);
  });
});

describe('parseCiphertextVersion', () => {
  test('reads the kind and version', () => {
    assert.deepEqual(parseCiphertextVersion('vault:v12:abc='), { kind: 'vault', version: 12 });
    assert.deepEqual(parseCiphertextVersion('local:v1:abc='), { kind: 'local', version: 1 });
    assert.equal(parseCiphertextVersion('vault:v0:abc'), undefined);
    assert.equal(parseCiphertextVersion('plain'), undefined);
  });
});

describe('classifyVaultError', () => {
  test('network failures are unavailable and carry nothing of the request', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND']) {
      const error = classifyVaultError(axiosLikeError(code), 'encrypt', 'wallet', 5000);
      assert.equal(error.code, 'unavailable');
      assert.equal(error.message, 'key store is unreachable (encrypt)');
      assert.equal(error.retryable, true);
      assertSafe(error);
    }
  });

  test('timeouts say so', () => {
    const error = classifyVaultError(axiosLikeError('ECONNABORTED'), 'decrypt', 'wallet', 1234);
    assert.equal(error.code, 'unavailable');
    assert.equal(error.message, 'key store did not answer within 1234 ms (decrypt)');
    assertSafe(error);
  });

  test('403 is forbidden, naming the operation, not the credential', () => {
    const error = classifyVaultError(vaultResponseError(403, ['1 error occurred:\n\t* permission denied\n\n']), 'decrypt', 'wallet', 5000);
    assert.equal(error.code, 'forbidden');
    assert.equal(error.status, 403);
    assert.equal(error.message, 'key store credential may not decrypt wallet keys');
    assert.equal(error.retryable, false);
    assertSafe(error);
  });

  test('sealed, decrypt failures, old versions, missing keys, server errors', () => {
    assert.equal(classifyVaultError(vaultResponseError(503, ['Vault is sealed']), 'encrypt', 'mfa', 5000).code, 'sealed');
    assert.equal(classifyVaultError(vaultResponseError(503, ['standby']), 'encrypt', 'mfa', 5000).code, 'unavailable');
    const failed = classifyVaultError(vaultResponseError(400, ['cipher: message authentication failed']), 'decrypt', 'webhook', 5000);
    assert.equal(failed.code, 'decrypt_failed');
    assert.equal(failed.message, 'ciphertext does not decrypt for this subject (decrypt webhook keys)');
    const old = classifyVaultError(vaultResponseError(400, ['ciphertext or signature version is disallowed by policy (too old)']), 'decrypt', 'wallet', 5000);
    assert.equal(old.code, 'decrypt_failed');
    assert.match(old.message, /below the minimum decryption version/);
    assert.equal(classifyVaultError(vaultResponseError(400, ['bad context']), 'encrypt', 'wallet', 5000).code, 'unavailable');
    assert.equal(classifyVaultError(vaultResponseError(404, []), 'encrypt', 'wallet', 5000).code, 'unavailable');
    assert.equal(classifyVaultError(vaultResponseError(500, ['internal']), 'rewrap', 'wallet', 5000).code, 'unavailable');
    assert.equal(classifyVaultError(vaultResponseError(400, ['invalid role ID']), 'login', undefined, 5000).code, 'forbidden');
  });

  test('a Vault error text is never copied into the message', () => {
    const error = classifyVaultError(vaultResponseError(400, [`invalid ciphertext ${PLAINTEXT_B64} for ${TOKEN}`]), 'decrypt', 'wallet', 5000);
    assertSafe(error);
  });

  test('anything else is a generic unavailable', () => {
    const error = classifyVaultError({ config: { headers: { 'X-Vault-Token': TOKEN } } }, 'read', 'wallet', 5000);
    assert.equal(error.code, 'unavailable');
    assertSafe(error);
  });
});

describe('KeyStoreError', () => {
  test('serialises to code, message, status and retryability only', () => {
    const error = new KeyStoreError('forbidden', 'no', 403);
    assert.deepEqual(JSON.parse(JSON.stringify(error)), { name: 'KeyStoreError', code: 'forbidden', message: 'no', status: 403, retryable: false });
    assert.deepEqual(JSON.parse(JSON.stringify(new KeyStoreError('sealed', 'sealed'))), { name: 'KeyStoreError', code: 'sealed', message: 'sealed', retryable: true });
  });
});
