/**
 * VAULT_CACERT: the Vault client verifies an https VAULT_ADDR against the CA named there
 * (compose: OpenBao's own, from scripts/openbao-certs.sh) — and that CA is trusted for Vault
 * requests only, never for the rest of the process. A local HTTPS server stands in for
 * OpenBao, with a certificate the script itself issues.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../config/env';
import { createKeyStore, KeyStoreError } from '../../domains/keystore';
import { fetchTransport } from '../../domains/keystore/vault';

const dir = mkdtempSync(path.join(tmpdir(), 'countersign-vault-tls-'));
const certs = path.join(dir, 'tls');
let server: https.Server;
let address: string;

before(async () => {
  execFileSync('sh', ['scripts/openbao-certs.sh', '--out', certs, '--days', '2'], { stdio: 'ignore' });
  server = https.createServer({ cert: readFileSync(path.join(certs, 'server.pem')), key: readFileSync(path.join(certs, 'server.key')) }, (req, res) => {
    res.setHeader('content-type', 'application/json');
    // Just enough of Vault's API for a ping: sys/health, then the token's own lookup.
    if (req.url?.startsWith('/v1/sys/health')) res.end(JSON.stringify({ initialized: true, sealed: false }));
    else res.end(JSON.stringify({ data: { renewable: false, ttl: 0, policies: ['countersign-api'] } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  address = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

test('with the CA, the transport reaches the server; without it, the certificate is refused', async () => {
  const ca = readFileSync(path.join(certs, 'ca.pem'), 'utf8');
  const trusted = await fetchTransport(2000, ca).defaults()({ method: 'GET', uri: `${address}/v1/sys/health` });
  assert.equal(trusted.statusCode, 200);
  assert.deepEqual(trusted.body, { initialized: true, sealed: false });

  await assert.rejects(fetchTransport(2000).defaults()({ method: 'GET', uri: `${address}/v1/sys/health` }), (error: Error & { code?: string }) => {
    assert.match(error.code ?? '', /CERT|SIGNATURE|VERIFY/);
    return true;
  });
  // The CA is the Vault client's alone: the process's own fetch still does not trust it.
  await assert.rejects(fetch(`${address}/v1/sys/health`));
});

test('VAULT_CACERT in the configuration reaches the key store', async () => {
  const env = {
    NODE_ENV: 'test',
    DATABASE_URL: 'postgres://nobody:nothing@127.0.0.1:1/unused',
    KEYSTORE: 'vault',
    VAULT_ADDR: address,
    VAULT_TOKEN: 's.unit-test-token',
    VAULT_TIMEOUT_MS: '2000',
    JWT_SECRET_KEY: 'unit-test-jwt-secret-0123456789abcdef',
    AUDIT_HMAC_KEY: 'unit-test-audit-key-0123456789abcdef',
    API_KEY_HMAC_KEY: 'unit-test-api-key-key-0123456789abcdef',
  };
  const withCa = await createKeyStore(loadConfig({ ...env, VAULT_CACERT: path.join(certs, 'ca.pem') }));
  const without = await createKeyStore(loadConfig(env));
  try {
    await withCa.ping();
    await assert.rejects(without.ping(), (error: unknown) => error instanceof KeyStoreError && error.code === 'unavailable');
  } finally {
    await withCa.close();
    await without.close();
  }
});
