/**
 * The stack `npm test` starts answers where its environment says, with the security
 * properties the design promises (Vault policy split, non-exportable derived keys,
 * registered search attributes).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Connection } from '@temporalio/client';
import pg from 'pg';
import { rpcChainId } from '../../scripts/infra/anvil';
import { BaoRequestError, createBaoApi, TRANSIT_KEYS } from '../../scripts/infra/openbao';
import { diffSearchAttributes } from '../../scripts/infra/temporal';

function env(name: string): string {
  const value = process.env[name];
  assert.ok(value, `${name} is not set — run this through the harness (npm test -- ${'test/integration/stack.test.ts'})`);
  return value;
}

describe('postgres', () => {
  async function whoAmI(url: string) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ db: string; role: string; superuser: boolean; createrole: boolean; createdb: boolean; bypassrls: boolean; owner: string }>(
        `SELECT current_database() AS db, current_user AS role, r.rolsuper AS superuser, r.rolcreaterole AS createrole, r.rolcreatedb AS createdb,
                r.rolbypassrls AS bypassrls, pg_get_userbyid(d.datdba) AS owner
           FROM pg_roles r, pg_database d WHERE r.rolname = current_user AND d.datname = current_database()`,
      );
      return rows[0]!;
    } finally {
      await client.end();
    }
  }

  test('the owner, the API and the worker each log in as a role of their own, none privileged, in the countersign database the owner owns', async () => {
    const plain = { superuser: false, createrole: false, createdb: false, bypassrls: false, db: 'countersign', owner: 'countersign_owner' };
    assert.deepEqual(await whoAmI(env('MIGRATION_DATABASE_URL')), { ...plain, role: 'countersign_owner' });
    assert.deepEqual(await whoAmI(env('API_DATABASE_URL')), { ...plain, role: 'countersign_api' });
    assert.deepEqual(await whoAmI(env('WORKER_DATABASE_URL')), { ...plain, role: 'countersign_worker' });
    assert.equal((await whoAmI(env('POSTGRES_ADMIN_URL'))).superuser, true, 'the superuser is there for provisioning (tests create databases with it)');
    assert.equal(new Set(['MIGRATION_DATABASE_URL', 'API_DATABASE_URL', 'WORKER_DATABASE_URL', 'POSTGRES_ADMIN_URL'].map((k) => new URL(env(k)).password)).size, 4, 'four generated passwords');
  });
});

describe('temporal', () => {
  test('is serving at TEMPORAL_ADDRESS with every Countersign search attribute registered', async () => {
    const connection = await Connection.connect({ address: env('TEMPORAL_ADDRESS') });
    try {
      const health = await connection.healthService.check({});
      assert.equal(health.status, 1, 'gRPC health SERVING');
      const listed = await connection.operatorService.listSearchAttributes({ namespace: env('TEMPORAL_NAMESPACE') });
      const registered = Object.fromEntries(Object.entries(listed.customAttributes ?? {}).map(([k, v]) => [k, Number(v)]));
      assert.deepEqual(diffSearchAttributes(registered), { missing: [], wrongType: [] });
    } finally {
      await connection.close();
    }
  });
});

describe('openbao', () => {
  const addr = () => env('VAULT_ADDR');
  const context = Buffer.from('wallet-under-test').toString('base64');
  const plaintext = Buffer.from('not really a private key').toString('base64');

  async function status(promise: Promise<unknown>): Promise<number> {
    try {
      await promise;
      return 200;
    } catch (error) {
      if (error instanceof BaoRequestError) return error.status;
      throw error;
    }
  }

  test('the API token encrypts wallet keys but cannot decrypt them; the worker token the reverse', async () => {
    const api = createBaoApi(addr(), env('VAULT_API_TOKEN'));
    const worker = createBaoApi(addr(), env('VAULT_WORKER_TOKEN'));
    const sealed = (await api.request('POST', 'transit/encrypt/countersign-wallets', { plaintext, context })) as { data: { ciphertext: string } };
    assert.match(sealed.data.ciphertext, /^vault:v1:/);

    assert.equal(await status(api.request('POST', 'transit/decrypt/countersign-wallets', { ciphertext: sealed.data.ciphertext, context })), 403);
    assert.equal(await status(worker.request('POST', 'transit/encrypt/countersign-wallets', { plaintext, context })), 403);

    const opened = (await worker.request('POST', 'transit/decrypt/countersign-wallets', { ciphertext: sealed.data.ciphertext, context })) as { data: { plaintext: string } };
    assert.equal(opened.data.plaintext, plaintext);
  });

  test('the AppRole credentials log in to the same split', async () => {
    const anonymous = createBaoApi(addr());
    const login = (await anonymous.request('POST', 'auth/approle/login', {
      role_id: env('VAULT_API_ROLE_ID'),
      secret_id: env('VAULT_API_SECRET_ID'),
    })) as { auth: { client_token: string; policies: string[] } };
    assert.ok(login.auth.policies.includes('countersign-api'));
    const api = createBaoApi(addr(), login.auth.client_token);
    assert.equal(await status(api.request('POST', 'transit/encrypt/countersign-wallets', { plaintext, context })), 200);
    assert.equal(await status(api.request('POST', 'transit/decrypt/countersign-wallets', { ciphertext: 'vault:v1:AAAA', context })), 403);
  });

  test('each token may decrypt exactly what its process needs: the API MFA secrets only, the worker wallet keys and webhook secrets, the operator nothing', async () => {
    const transit = (op: string, key: string) => `transit/${op}/countersign-${key}`;
    const paths = ['wallets', 'mfa', 'webhooks'].flatMap((key) => ['encrypt', 'decrypt', 'rewrap', 'datakey/plaintext', 'export/encryption-key', 'keys'].map((op) => transit(op, key)));
    const allowed = async (token: string) => {
      const answer = (await createBaoApi(addr(), token).request('POST', 'sys/capabilities-self', { paths })) as Record<string, string[] | undefined>;
      return paths.filter((p) => (answer[p] ?? []).some((c) => c !== 'deny')).sort();
    };
    assert.deepEqual(await allowed(env('VAULT_API_TOKEN')), [transit('decrypt', 'mfa'), transit('encrypt', 'mfa'), transit('encrypt', 'wallets'), transit('encrypt', 'webhooks')]);
    assert.deepEqual(await allowed(env('VAULT_WORKER_TOKEN')), [transit('decrypt', 'wallets'), transit('decrypt', 'webhooks')]);
    assert.deepEqual(await allowed(env('VAULT_OPERATOR_TOKEN')), ['wallets', 'mfa', 'webhooks'].flatMap((key) => [transit('keys', key), transit('rewrap', key)]).sort());
  });

  test('the operator token can read and rotate keys but decrypts nothing', async () => {
    const operator = createBaoApi(addr(), env('VAULT_OPERATOR_TOKEN'));
    assert.equal(await status(operator.request('GET', 'transit/keys/countersign-mfa')), 200);
    assert.equal(await status(operator.request('POST', 'transit/decrypt/countersign-wallets', { ciphertext: 'vault:v1:AAAA', context })), 403);
    assert.equal(await status(operator.request('POST', 'transit/export/encryption-key/countersign-wallets')), 403);
  });

  test('every transit key is derived aes256-gcm96, not exportable, no plaintext backup, not deletable', async () => {
    const root = createBaoApi(addr(), env('VAULT_ROOT_TOKEN'));
    for (const key of TRANSIT_KEYS) {
      const { data } = (await root.request('GET', `transit/keys/${key}`)) as {
        data: { type: string; derived: boolean; exportable: boolean; allow_plaintext_backup: boolean; deletion_allowed: boolean };
      };
      assert.deepEqual(
        { type: data.type, derived: data.derived, exportable: data.exportable, backup: data.allow_plaintext_backup, deletable: data.deletion_allowed },
        { type: 'aes256-gcm96', derived: true, exportable: false, backup: false, deletable: false },
        key,
      );
    }
  });
});

describe('anvil', () => {
  test('answers eth_chainId 31337 at WEB3_PROVIDER_URI', async () => {
    assert.equal(await rpcChainId(env('WEB3_PROVIDER_URI')), 31337);
    assert.equal(env('CHAIN_ID'), '31337');
  });
});
