/**
 * Every transition reaches the agent: over SSE, in order, resumable; and as
 * signed webhook deliveries that a receiver can verify. The workflow schedules
 * a `notifyWebhooks` activity only for an agent with an active webhook, and a
 * webhook registered mid-flight is told from the next status change on.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { transactionWorkflowId } from '../../workflows/definitions';
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
  const prepared = await call<{ transaction_id: string; digest: string }>(app.url, 'POST', '/api/prepare_transaction', {
    apiKey: agent.apiKey,
    body: { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '9', auto_execute: true },
  });
  const id = prepared.body.transaction_id;
  expectStatus(await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: id, digest: prepared.body.digest, mfa_code: await owner.nextCode() } }), 200, 'approve');
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

/** The activity types the transaction's workflow scheduled, in order (read from its Temporal history). */
async function scheduledActivities(transactionId: string): Promise<string[]> {
  const handle = app.temporal.workflow.getHandle(transactionWorkflowId(transactionId));
  await handle.result();
  const history = await handle.fetchHistory();
  return (history.events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes?.activityType?.name ? [e.activityTaskScheduledEventAttributes.activityType.name] : []));
}

/** Prepares an auto-executed transfer, approves it, waits for `confirmed`; `beforeApproval` runs in between. */
async function confirmedTransfer(owner: Awaited<ReturnType<typeof newUser>>, wallet: string, apiKey: string, beforeApproval?: () => Promise<void>) {
  const prepared = await call<{ transaction_id: string; digest: string }>(app.url, 'POST', '/api/prepare_transaction', {
    apiKey,
    body: { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '3', auto_execute: true },
  });
  expectStatus(prepared, 202, 'prepare');
  const id = prepared.body.transaction_id;
  await beforeApproval?.();
  expectStatus(await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: id, digest: prepared.body.digest, mfa_code: await owner.nextCode() } }), 200, 'approve');
  await waitForStatus(app.url, { apiKey }, id, ['confirmed']);
  return id;
}

/** Webhook deliveries received for one transaction (deduplicated on the delivery id), by status. */
async function deliveredStatuses(transactionId: string, expected: number): Promise<string[]> {
  const statuses = () =>
    [...new Map(received.map((r) => [r.headers['x-countersign-delivery'], JSON.parse(r.body) as { status: string; transaction_id: string }])).values()]
      .filter((b) => b.transaction_id === transactionId)
      .map((b) => b.status);
  const deadline = Date.now() + 10_000;
  while (statuses().length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return statuses();
}

test('no webhook, no notifyWebhooks activity; with one, one activity per transition', async () => {
  const owner = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner);
  const bare = await newAgent(app.url, owner, [wallet]);
  const hooked = await newAgent(app.url, owner, [wallet]);
  const port = (receiver.address() as AddressInfo).port;
  expectStatus(await call(app.url, 'POST', '/api/webhooks', { apiKey: hooked.apiKey, body: { url: `http://127.0.0.1:${port}/hooked` } }), 201, 'webhook');

  const quiet = await scheduledActivities(await confirmedTransfer(owner, wallet, bare.apiKey));
  assert.deepEqual(quiet, ['signTransaction', 'broadcastTransaction', 'confirmTransaction'], 'the lifecycle ran, with no webhook activity');

  const told = await confirmedTransfer(owner, wallet, hooked.apiKey);
  const scheduled = await scheduledActivities(told);
  assert.equal(scheduled.filter((name) => name === 'notifyWebhooks').length, LIFECYCLE.length, 'one notifyWebhooks per transition');
  assert.deepEqual(new Set(await deliveredStatuses(told, LIFECYCLE.length)), new Set(LIFECYCLE));
});

test('a webhook registered while a transaction is in flight is told from the next status change on', async () => {
  const owner = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner);
  const agent = await newAgent(app.url, owner, [wallet]);
  const port = (receiver.address() as AddressInfo).port;
  const id = await confirmedTransfer(owner, wallet, agent.apiKey, async () => {
    expectStatus(await call(app.url, 'POST', '/api/webhooks', { apiKey: agent.apiKey, body: { url: `http://127.0.0.1:${port}/late` } }), 201, 'webhook');
  });
  const later = LIFECYCLE.slice(1);
  assert.equal((await scheduledActivities(id)).filter((name) => name === 'notifyWebhooks').length, later.length);
  assert.deepEqual(new Set(await deliveredStatuses(id, later.length)), new Set(later), 'every status after the registration, not the one before');
});
