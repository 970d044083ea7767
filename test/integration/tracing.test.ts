/**
 * Traces: with OTEL_EXPORTER_OTLP_ENDPOINT set, one flow yields one trace that
 * runs from the API's HTTP span (POST /api/prepare_transaction) through the
 * Temporal client's StartWorkflow span, the workflow's RunWorkflow span, to the
 * activities it schedules (signTransaction among them). The spans arrive at a
 * local OTLP/HTTP receiver (JSON), as a collector would receive them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestApp, type TestApp } from '../support/app';
import { call, expectStatus, newAgent, newUser, newWallet, randomAddress, waitForStatus } from '../support/actors';
import { transactionWorkflowId } from '../../workflows/definitions';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: { key: string; value: { stringValue?: string; intValue?: string | number } }[];
}

const spans: OtlpSpan[] = [];
const receiver = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.url === '/v1/traces' && req.method === 'POST') {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceSpans?: { scopeSpans?: { spans?: OtlpSpan[] }[] }[] };
      for (const resource of body.resourceSpans ?? []) for (const scope of resource.scopeSpans ?? []) spans.push(...(scope.spans ?? []));
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});

let app: TestApp;
before(async () => {
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  app = await startTestApp({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}` } });
});
after(async () => {
  await app?.stop();
  receiver.close();
});

/** Ids are hex in OTLP/JSON (the exporter's default); base64 if another encoder sent them. */
const hex = (id: string | undefined) => (id === undefined || id === '' ? undefined : /^[0-9a-f]+$/.test(id) ? id : Buffer.from(id, 'base64').toString('hex'));

test('one trace id spans the HTTP request, the workflow and its activities', { timeout: 120_000 }, async () => {
  assert.ok(app.tracing, 'tracing is on with an endpoint');
  const owner = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner);
  const agent = await newAgent(app.url, owner, [wallet]);
  const prepared = await call<{ transaction_id: string; digest: string }>(app.url, 'POST', '/api/prepare_transaction', {
    apiKey: agent.apiKey,
    body: { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '42', auto_execute: true },
  });
  expectStatus(prepared, 202, 'prepare');
  const id = prepared.body.transaction_id;
  expectStatus(await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: id, digest: prepared.body.digest, mfa_code: await owner.nextCode() } }), 200, 'approve');
  await waitForStatus(app.url, { apiKey: agent.apiKey }, id, ['confirmed'], 60_000);
  await app.temporal.workflow.getHandle(transactionWorkflowId(id)).result();

  // Workflow spans are exported when the workflow's task completes; then everything is flushed.
  const deadline = Date.now() + 20_000;
  let chain: OtlpSpan[] = [];
  while (Date.now() < deadline) {
    await app.tracing!.flush();
    const byId = new Map(spans.map((s) => [hex(s.spanId)!, s]));
    const activity = spans.find((s) => s.name === 'RunActivity:signTransaction' && spans.some((w) => w.name === 'RunWorkflow:transactionWorkflow' && hex(w.traceId) === hex(s.traceId)));
    chain = [];
    for (let s: OtlpSpan | undefined = activity; s; s = byId.get(hex(s.parentSpanId) ?? '')) chain.push(s);
    if (chain.length > 0 && chain.at(-1)!.name === 'POST /api/prepare_transaction') break;
    await new Promise((r) => setTimeout(r, 300));
  }
  const names = chain.map((s) => s.name);
  assert.equal(names[0], 'RunActivity:signTransaction', `spans received: ${[...new Set(spans.map((s) => s.name))].join(', ')}`);
  assert.equal(names.at(-1), 'POST /api/prepare_transaction', `the activity's ancestry: ${names.join(' ← ')}`);
  assert.ok(names.includes('RunWorkflow:transactionWorkflow'), names.join(' ← '));
  assert.ok(names.includes('StartWorkflow:transactionWorkflow'), names.join(' ← '));
  assert.equal(new Set(chain.map((s) => hex(s.traceId))).size, 1, 'one trace id');

  const root = chain.at(-1)!;
  const attribute = (key: string) => root.attributes?.find((a) => a.key === key)?.value;
  assert.equal(attribute('http.route')?.stringValue, '/api/prepare_transaction');
  assert.equal(Number(attribute('http.response.status_code')?.intValue), 202);
  // The approval's Update is traced too, under its own request.
  assert.ok(spans.some((s) => s.name === 'POST /api/authorize_transaction'));

  // Log lines written inside a traced request carry its trace id.
  const traceId = hex(root.traceId)!;
  assert.ok(app.logs.some((line) => line.includes(traceId)), 'a log line carries the trace id');
});

test('every log line is one JSON object; request lines carry the request, principal and transaction ids; refusals are info', async () => {
  const owner = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner);
  const agent = await newAgent(app.url, owner, [wallet]);
  const prepared = await call<{ transaction_id: string }>(app.url, 'POST', '/api/prepare_transaction', {
    apiKey: agent.apiKey,
    body: { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '1' },
  });
  expectStatus(prepared, 202, 'prepare');
  const id = prepared.body.transaction_id;
  // Expected refusals: execute before approval (409), and a body that fails validation (400).
  const early = await call(app.url, 'POST', '/api/execute_transaction', { apiKey: agent.apiKey, body: { transaction_id: id } });
  expectStatus(early, 409, 'execute before approval');
  expectStatus(await call(app.url, 'POST', '/api/execute_transaction', { apiKey: agent.apiKey, body: { transaction_id: 'nope' } }), 400, 'bad body');

  const lines = app.logs.flatMap((chunk) => chunk.split('\n').filter((l) => l !== ''));
  const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  const requests = records.filter((r) => r.msg === 'request');
  const prepareLine = requests.find((r) => r.route === '/api/prepare_transaction' && r.transactionId === id);
  assert.ok(prepareLine, 'the prepare request line names its new transaction');
  assert.equal(prepareLine.agentId, agent.agentId);
  assert.equal(prepareLine.userId, owner.userId);
  assert.match(String(prepareLine.requestId), /^[0-9a-f-]{36}$/);
  const refused = requests.filter((r) => r.route === '/api/execute_transaction' && (r.status === 409 || r.status === 400));
  assert.equal(refused.length, 2);
  for (const line of refused) assert.equal(line.level, 30, 'a refusal is logged at info');
  assert.equal(refused.find((r) => r.status === 409)!.transactionId, id);
  // No line around these requests is a warning or an error with a stack.
  const around = records.filter((r) => r.transactionId === id);
  assert.deepEqual(around.filter((r) => Number(r.level) >= 40).map((r) => r.msg), []);
  assert.ok(!around.some((r) => JSON.stringify(r).includes('"stack"')));
});
