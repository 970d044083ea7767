/**
 * Protect the history: after a real flow, what Temporal stores is encrypted by
 * the payload codec — a client without the codec reads no JSON and no
 * transaction id in any payload — while the codec (the API's, and the codec
 * server an operator calls) decodes it. Workflows started without the codec
 * still run; a new data key encrypts from its creation on, and histories
 * written under the old one stay readable. The codec server opens only for the
 * operator token, from the Temporal UI's origin.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { startTestApp, type TestApp } from '../support/app';
import { call, expectStatus, newAgent, newUser, newWallet, randomAddress, waitForStatus } from '../support/actors';
import { applicationPayloads, decodeHistory, metadataText } from '../support/history';
import { createHistoryCodec, createHistoryKey, createHistoryKeyring, isEncrypted, KEY_ID_METADATA } from '../../domains/history';
import { createKeyStore } from '../../domains/keystore';
import { createLogger } from '../../lib/logger';
import { createOpsApp, listenOps } from '../../api/ops';
import { pingWorkflowId, transactionWorkflowId } from '../../workflows/definitions';
import { requireEnv } from '../support/db';

const UI_ORIGIN = 'http://127.0.0.1:8233';
const OPERATOR_TOKEN = randomBytes(24).toString('hex');

let app: TestApp;
let plain: Client;
let ops: Server;
let opsUrl: string;
let owner: Awaited<ReturnType<typeof newUser>>;
let agent: { agentId: string; apiKey: string };
let transactionId: string;

before(async () => {
  app = await startTestApp();
  // A client as an operator without the codec would have: the raw store.
  plain = new Client({ connection: await Connection.connect({ address: app.config.TEMPORAL_ADDRESS }), namespace: app.config.TEMPORAL_NAMESPACE });
  ops = await listenOps(createOpsApp({ logger: createLogger({ level: 'silent' }), codec: app.codec, operatorToken: OPERATOR_TOKEN, corsOrigins: [UI_ORIGIN] }), 0, '127.0.0.1');
  opsUrl = `http://127.0.0.1:${(ops.address() as AddressInfo).port}`;

  owner = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner);
  agent = await newAgent(app.url, owner, [wallet]);
  const prepared = await call<{ transaction_id: string; digest: string }>(app.url, 'POST', '/api/prepare_transaction', {
    apiKey: agent.apiKey,
    body: { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '777', auto_execute: true },
  });
  expectStatus(prepared, 202, 'prepare');
  transactionId = prepared.body.transaction_id;
  expectStatus(await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: transactionId, digest: prepared.body.digest, mfa_code: await owner.nextCode() } }), 200, 'approve');
  await waitForStatus(app.url, { apiKey: agent.apiKey }, transactionId, ['confirmed'], 60_000);
  await app.temporal.workflow.getHandle(transactionWorkflowId(transactionId)).result();
});

after(async () => {
  ops?.closeAllConnections();
  ops?.close();
  await plain?.connection.close();
  await app?.stop();
});

const rawHistory = () => plain.workflow.getHandle(transactionWorkflowId(transactionId)).fetchHistory();

function readableJson(payload: Payload): boolean {
  try {
    JSON.parse(Buffer.from(payload.data ?? new Uint8Array()).toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

describe('what Temporal stores', () => {
  test('holds no readable payload and not the transaction id, without the codec', async () => {
    const history = await rawHistory();
    const payloads = applicationPayloads(history);
    // Input, Update arguments and results, activity inputs and results, local activity results, the summary…
    assert.ok(payloads.length >= 10, `a confirmed flow has many payloads (${payloads.length})`);
    for (const { path, payload } of payloads) {
      assert.ok(isEncrypted(payload), `${path} is encrypted`);
      assert.equal(readableJson(payload), false, `${path} is not readable JSON`);
      const bytes = Buffer.from(payload.data ?? new Uint8Array());
      for (const form of [bytes.toString('utf8'), bytes.toString('hex'), bytes.toString('base64')]) assert.ok(!form.includes(transactionId), `${path} shows the transaction id`);
    }
    // And a client without the codec cannot read the result either.
    await assert.rejects(plain.workflow.getHandle(transactionWorkflowId(transactionId)).result());
  });

  test('decodes with the codec: the workflow input names the transaction, the result its status', async () => {
    const decoded = (await decodeHistory(await rawHistory(), app.codec)) as { events: Array<Record<string, { input?: { payloads: Payload[] }; result?: { payloads: Payload[] } }>> };
    const json = (p: Payload) => JSON.parse(Buffer.from(p.data!).toString('utf8')) as Record<string, unknown>;
    const started = decoded.events[0]!.workflowExecutionStartedEventAttributes!;
    assert.equal(json(started.input!.payloads[0]!).transactionId, transactionId);
    const completed = decoded.events.find((e) => e.workflowExecutionCompletedEventAttributes)!.workflowExecutionCompletedEventAttributes!;
    assert.equal(json(completed.result!.payloads[0]!).status, 'confirmed');
    assert.equal(applicationPayloads(decoded).filter(({ payload }) => isEncrypted(payload)).length, 0, 'every payload decoded');
  });

  test('the Temporal UI list shows status, amount and wallet in clear (search attributes), and one query finds failures', async () => {
    const description = await app.temporal.workflow.getHandle(transactionWorkflowId(transactionId)).describe();
    const attributes = description.typedSearchAttributes;
    const get = (name: string) => attributes.getAll().find((pair) => pair.key.name === name)?.value;
    assert.equal(get('CountersignStatus'), 'confirmed');
    assert.equal(get('CountersignAmount'), '777');
    assert.match(String(get('CountersignWallet')), /^0x[0-9a-f]{40}$/);
    assert.equal(get('CountersignAgent'), agent.agentId);
    // The static summary is a payload like any other: encrypted in the store, decoded through the codec.
    assert.match((await description.staticSummary()) ?? '', /^native 777 → 0x[0-9a-f]{40} on chain 31337$/);
    // The query docs/operations.md documents for on-chain failures parses and runs (this flow is not one).
    const failed = [];
    for await (const info of app.temporal.workflow.list({ query: `CountersignStatus = 'failed' AND CountersignFailure = 'reverted' AND TaskQueue = '${app.taskQueue}'` })) failed.push(info.workflowId);
    assert.deepEqual(failed, []);
  });
});

describe('before the codec', () => {
  test('a workflow started by a client without the codec still runs on the codec worker', async () => {
    const pingId = randomUUID();
    const handle = await plain.workflow.start('pingWorkflow', { taskQueue: app.taskQueue, workflowId: pingWorkflowId(pingId), args: [pingId] });
    // Its input was stored in clear; the worker's codec passed it through; its result is encrypted.
    const result = (await app.temporal.workflow.getHandle(handle.workflowId).result()) as { pingId: string };
    assert.equal(result.pingId, pingId);
    const history = await handle.fetchHistory();
    const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    assert.equal(isEncrypted(input), false);
  });
});

describe('key rotation', () => {
  test('a new data key encrypts from then on, and payloads under the old key still decode', async () => {
    const keystore = await createKeyStore(app.config);
    try {
      // Another process's view, re-reading the newest key on every call.
      const keyring = createHistoryKeyring({ db: app.database.db, keystore, refreshMs: 0 });
      const codec = createHistoryCodec(keyring);
      const payload: Payload = { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{"transactionId":"x"}') };
      const [before] = await codec.encode([payload]);
      const oldKey = metadataText(before!, KEY_ID_METADATA)!;
      const newKey = await createHistoryKey(app.database.db, keystore);
      const [afterRotation] = await codec.encode([payload]);
      assert.equal(metadataText(afterRotation!, KEY_ID_METADATA), newKey);
      assert.notEqual(newKey, oldKey);
      // The app's own codec (its keyring cached the old newest key) reads both, and the flow's history too.
      for (const encoded of [before!, afterRotation!]) assert.equal(Buffer.from((await app.codec.decode([encoded]))[0]!.data!).toString(), '{"transactionId":"x"}');
      const decoded = await decodeHistory(await rawHistory(), codec);
      assert.equal(applicationPayloads(decoded).filter(({ payload: p }) => isEncrypted(p)).length, 0);
      keyring.close();
    } finally {
      await keystore.close();
    }
  });

  test('a tampered payload or an unknown key id does not decode', async () => {
    const [encoded] = await app.codec.encode([{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{}') }]);
    const flipped = Buffer.from(encoded!.data!);
    flipped[20] = flipped[20]! ^ 1;
    await assert.rejects(app.codec.decode([{ ...encoded!, data: flipped }]), /does not decrypt/);
    await assert.rejects(app.codec.decode([{ ...encoded!, metadata: { ...encoded!.metadata, [KEY_ID_METADATA]: Buffer.from(randomUUID()) } }]), /no history key/);
  });
});

describe('the codec server', () => {
  const codecCall = (path: string, init: { token?: string; origin?: string; body?: unknown; method?: string; contentType?: string } = {}) =>
    fetch(`${opsUrl}${path}`, {
      method: init.method ?? 'POST',
      headers: {
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
        ...(init.origin ? { origin: init.origin } : {}),
        ...(init.body !== undefined ? { 'content-type': init.contentType ?? 'application/json' } : {}),
      },
      ...(init.body !== undefined ? { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) } : {}),
    });

  async function encodedInput() {
    const history = await rawHistory();
    const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    return {
      metadata: Object.fromEntries(Object.entries(input.metadata!).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
      data: Buffer.from(input.data!).toString('base64'),
    };
  }

  test('decodes for the operator token (Temporal\'s remote codec protocol), and encodes', async () => {
    const response = await codecCall('/codec/decode', { token: OPERATOR_TOKEN, body: { payloads: [await encodedInput()] } });
    assert.equal(response.status, 200);
    const body = (await response.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    assert.equal(Buffer.from(body.payloads[0]!.metadata.encoding!, 'base64').toString(), 'json/plain');
    assert.equal((JSON.parse(Buffer.from(body.payloads[0]!.data, 'base64').toString()) as { transactionId: string }).transactionId, transactionId);

    const encoded = await codecCall('/codec/encode', { token: OPERATOR_TOKEN, body: { payloads: body.payloads } });
    assert.equal(encoded.status, 200);
    const again = (await encoded.json()) as { payloads: { metadata: Record<string, string> }[] };
    assert.equal(Buffer.from(again.payloads[0]!.metadata.encoding!, 'base64').toString(), 'binary/encrypted');
  });

  test('refuses without the operator token: nothing, a wrong one, a user\'s JWT, an agent\'s API key', async () => {
    const body = { payloads: [await encodedInput()] };
    for (const token of [undefined, `${OPERATOR_TOKEN}x`, owner.token, agent.apiKey]) {
      const response = await codecCall('/codec/decode', { ...(token ? { token } : {}), body });
      assert.equal(response.status, 401, String(token).slice(0, 8));
      const answer = (await response.json()) as { error: { code: string }; payloads?: unknown };
      assert.equal(answer.error.code, 'unauthenticated');
      assert.equal(answer.payloads, undefined);
    }
    const agentHeader = await fetch(`${opsUrl}/codec/decode`, { method: 'POST', headers: { 'x-api-key': agent.apiKey, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(agentHeader.status, 401);
  });

  test('answers the Temporal UI\'s origin (CORS preflight and response), and no other', async () => {
    const preflight = await codecCall('/codec/decode', { method: 'OPTIONS', origin: UI_ORIGIN });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), UI_ORIGIN);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /Authorization/);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /X-Namespace/);
    const foreign = await codecCall('/codec/decode', { method: 'OPTIONS', origin: 'http://evil.example' });
    assert.equal(foreign.status, 403);
    assert.equal(foreign.headers.get('access-control-allow-origin'), null);
    const response = await codecCall('/codec/decode', { token: OPERATOR_TOKEN, origin: UI_ORIGIN, body: { payloads: [] } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('access-control-allow-origin'), UI_ORIGIN);
  });

  test('bad input gets a 4xx JSON error', async () => {
    const cases: Array<[Parameters<typeof codecCall>[1] & { path?: string }, number, string]> = [
      [{ token: OPERATOR_TOKEN, body: { payloads: 'no' } }, 400, 'invalid_request'],
      [{ token: OPERATOR_TOKEN, body: { payloads: [{ data: '***' }] } }, 400, 'invalid_request'],
      [{ token: OPERATOR_TOKEN, body: '{"payloads":' }, 400, 'invalid_json'],
      [{ token: OPERATOR_TOKEN, body: 'x', contentType: 'text/plain' }, 415, 'unsupported_media_type'],
      [{ token: OPERATOR_TOKEN, method: 'GET' }, 405, 'method_not_allowed'],
      [{ token: OPERATOR_TOKEN, path: '/codec/other', body: {} }, 404, 'not_found'],
      // Well-formed but not ours: an encrypted payload naming an unknown key.
      [{ token: OPERATOR_TOKEN, body: { payloads: [{ metadata: { encoding: Buffer.from('binary/encrypted').toString('base64'), [KEY_ID_METADATA]: Buffer.from(randomUUID()).toString('base64') }, data: 'AAAA' }] } }, 400, 'invalid_request'],
    ];
    for (const [init, status, code] of cases) {
      const response = await codecCall(init.path ?? '/codec/decode', init);
      assert.equal(response.status, status, JSON.stringify(init).slice(0, 120));
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, code);
    }
  });

  test('the worker and the API hold no wallet-decrypt right through it: the API credential still cannot decrypt a wallet key', async () => {
    const row = await app.database.db('wallets').first('id', 'key_ciphertext');
    const apiKeystore = await createKeyStore({ ...app.config, VAULT_TOKEN: requireEnv('VAULT_API_TOKEN') });
    try {
      await assert.rejects(apiKeystore.decrypt('wallet', row.id, row.key_ciphertext), (err: { code?: string }) => err.code === 'forbidden');
      // …while it can unwrap the history keys (the codec's own purpose).
      const keyRow = await app.database.db('history_keys').first('id', 'key_ciphertext');
      (await apiKeystore.decrypt('history', keyRow.id, keyRow.key_ciphertext)).fill(0);
    } finally {
      await apiKeystore.close();
    }
  });
});
