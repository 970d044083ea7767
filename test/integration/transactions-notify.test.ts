/**
 * Every transition reaches the agent: over SSE, in order, resumable; and as
 * signed webhook deliveries that a receiver can verify.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestApp, type TestApp } from '../support/app';
import { call, expectStatus, newAgent, newUser, newWallet, randomAddress, waitForStatus } from '../support/actors';
import { verifyWebhookSignature } from '../../domains/webhooks';

let app: TestApp;
let receiver: http.Server;
const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];

before(async () => {
  app = await startTestApp();
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
});
after(async () => {
  receiver?.close();
  await app?.stop();
});

const LIFECYCLE = ['pending_approval', 'approved', 'signing', 'broadcast', 'confirmed'];

/** Reads an SSE stream until `count` events arrived. */
async function readSse(apiKey: string, count: number, lastEventId?: string) {
  const controller = new AbortController();
  const response = await fetch(`${app.url}/api/events`, {
    headers: { accept: 'text/event-stream', 'x-api-key': apiKey, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) },
    signal: controller.signal,
  });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
  const events: { id: string; event: string; data: { transaction_id: string; status: string; version: number } }[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = response.body!.getReader();
  const deadline = Date.now() + 30_000;
  while (events.length < count && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let boundary: number;
    while ((boundary = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary + 2);
      const fields = Object.fromEntries(block.split('\n').filter((l) => l && !l.startsWith(':')).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
      if (fields.data) events.push({ id: fields.id!, event: fields.event!, data: JSON.parse(fields.data) });
    }
  }
  controller.abort();
  return events;
}

test('SSE and webhooks carry every transition, in order, signed', async () => {
  const owner = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner);
  const agent = await newAgent(app.url, owner, [wallet]);
  const port = (receiver.address() as AddressInfo).port;
  const hook = await call<{ webhook_id: string; secret: string }>(app.url, 'POST', '/api/webhooks', { apiKey: agent.apiKey, body: { url: `http://127.0.0.1:${port}/hook` } });
  expectStatus(hook, 201, 'webhook');

  const stream = readSse(agent.apiKey, LIFECYCLE.length);
  await new Promise((r) => setTimeout(r, 300)); // the stream starts after the newest event
  const prepared = await call<{ transaction_id: string }>(app.url, 'POST', '/api/prepare_transaction', {
    apiKey: agent.apiKey,
    body: { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '9', auto_execute: true },
  });
  const id = prepared.body.transaction_id;
  expectStatus(await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: id, mfa_code: await owner.nextCode() } }), 200, 'approve');
  await waitForStatus(app.url, { apiKey: agent.apiKey }, id, ['confirmed']);

  const events = await stream;
  assert.deepEqual(events.map((e) => e.data.status), LIFECYCLE);
  assert.deepEqual(events.map((e) => e.event), LIFECYCLE.map((s) => `transaction.${s}`));
  assert.ok(events.every((e) => e.data.transaction_id === id));
  const ids = events.map((e) => BigInt(e.id));
  assert.ok(ids.every((v, i) => i === 0 || v > ids[i - 1]!), 'ids increase');

  // Reconnecting with Last-Event-ID resumes after it, without loss.
  const resumed = await readSse(agent.apiKey, 2, events[2]!.id);
  assert.deepEqual(resumed.map((e) => e.data.status), ['broadcast', 'confirmed']);

  // Webhooks: one signed delivery per transition (at least once; dedupe on the delivery id).
  const deadline = Date.now() + 30_000;
  const statuses = () => [...new Map(received.map((r) => [r.headers['x-countersign-delivery'], JSON.parse(r.body) as { status: string; transaction_id: string }])).values()].filter((b) => b.transaction_id === id).map((b) => b.status);
  while (statuses().length < LIFECYCLE.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(new Set(statuses()), new Set(LIFECYCLE));
  for (const delivery of received) {
    assert.ok(verifyWebhookSignature(hook.body.secret, delivery.headers['x-countersign-signature'] as string, delivery.body), 'every delivery verifies');
    assert.ok(!verifyWebhookSignature('whsec_wrong', delivery.headers['x-countersign-signature'] as string, delivery.body), 'a wrong secret does not');
    assert.match(delivery.headers['x-countersign-event'] as string, /^transaction\./);
  }
  // The receiver answers before the activity records the delivery: wait for the record.
  let recorded = 0;
  for (let i = 0; i < 100 && recorded < LIFECYCLE.length; i += 1) {
    recorded = (await app.database.db('webhook_deliveries').where({ webhook_id: hook.body.webhook_id, state: 'delivered' })).length;
    if (recorded < LIFECYCLE.length) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(recorded, LIFECYCLE.length, 'one delivered record per transition');
});
