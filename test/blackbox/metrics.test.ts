/**
 * Black box: the real API and worker processes export Prometheus metrics — the
 * API on its operations port (COUNTERSIGN_API_OPS_URL, never the public port),
 * the worker on its health port's /metrics, with the Temporal SDK's own worker
 * metrics. After one real flow (independent TOTP), the series an operator
 * watches exist, with values that flow explains.
 *
 *   COUNTERSIGN_API_URL, COUNTERSIGN_API_OPS_URL, COUNTERSIGN_WORKER_URL, WEB3_PROVIDER_URI
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { currentStep, totpAt, waitForStep } from './totp';

const API = process.env.COUNTERSIGN_API_URL ?? 'http://127.0.0.1:3000';
const OPS = process.env.COUNTERSIGN_API_OPS_URL ?? 'http://127.0.0.1:3002';
const WORKER = process.env.COUNTERSIGN_WORKER_URL ?? 'http://127.0.0.1:3001';
const RPC = process.env.WEB3_PROVIDER_URI ?? 'http://127.0.0.1:8545';

async function http(method: string, path: string, options: { token?: string; apiKey?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.apiKey) headers['x-api-key'] = options.apiKey;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${API}${path}`, { method, headers, ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}) });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const expect = (result: { status: number; body: unknown }, status: number, what: string) => assert.equal(result.status, status, `${what}: ${JSON.stringify(result.body)}`);

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format → samples (enough of the format for our own output). */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `a well-formed sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

async function scrape(url: string): Promise<Sample[]> {
  const response = await fetch(`${url}/metrics`);
  assert.equal(response.status, 200, url);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
  return parseMetrics(await response.text());
}

const sum = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((total, s) => total + s.value, 0);

test('the public API port serves no metrics', async () => {
  const response = await fetch(`${API}/metrics`);
  assert.equal(response.status, 404);
});

test('after one flow, the API and the worker export the series operators watch', { timeout: 180_000 }, async () => {
  const apiBefore = await scrape(OPS);
  const workerBefore = await scrape(WORKER);

  const username = `mx${randomBytes(5).toString('hex')}`;
  const password = `pw-${randomBytes(12).toString('base64url')}`;
  expect(await http('POST', '/api/register', { body: { username, password } }), 201, 'register');
  const token = (await http('POST', '/api/login', { body: { username, password } })).body.access_token as string;
  const secret = (await http('POST', '/api/setup_mfa', { token })).body.secret as string;
  expect(await http('POST', '/api/confirm_mfa', { token, body: { mfa_code: totpAt(secret, currentStep() - 1) } }), 200, 'confirm_mfa');
  const wallet = await http('POST', '/api/create_wallet', { token, body: { password, label: 'metrics' } });
  expect(wallet, 201, 'create_wallet');
  await fetch(RPC, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'anvil_setBalance', params: [wallet.body.address, '0x8ac7230489e80000'] }) });
  const agentStep = currentStep();
  const agent = await http('POST', '/api/agents', { token, body: { name: 'metrics agent', wallet_addresses: [wallet.body.address], mfa_code: totpAt(secret, agentStep) } });
  expect(agent, 201, 'agent');
  const apiKey = agent.body.api_key as string;
  const prepared = await http('POST', '/api/prepare_transaction', { apiKey, body: { wallet_address: wallet.body.address, kind: 'native', to_address: `0x${randomBytes(20).toString('hex')}`, amount: '1000' } });
  expect(prepared, 202, 'prepare');
  const id = prepared.body.transaction_id as string;
  // An expected refusal, to be counted under its status.
  expect(await http('POST', '/api/execute_transaction', { apiKey, body: { transaction_id: id } }), 409, 'execute before approval');
  await waitForStep(agentStep + 1);
  expect(await http('POST', '/api/authorize_transaction', { token, body: { transaction_id: id, digest: prepared.body.digest, mfa_code: totpAt(secret, currentStep()) } }), 200, 'approve');
  expect(await http('POST', '/api/execute_transaction', { apiKey, body: { transaction_id: id } }), 202, 'execute');
  let status = '';
  for (let i = 0; i < 300 && status !== 'confirmed'; i += 1) {
    status = (await http('GET', `/api/transaction_status?transaction_id=${id}`, { apiKey })).body.status as string;
    if (status !== 'confirmed') await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(status, 'confirmed');
  // The worker's SDK metrics are drained from its buffer on scrape; give the last tasks a moment.
  await new Promise((r) => setTimeout(r, 1500));

  const api = await scrape(OPS);
  const worker = await scrape(WORKER);
  const delta = (after: Sample[], before: Sample[], name: string, labels: Record<string, string> = {}) => sum(after, name, labels) - sum(before, name, labels);

  // Requests, by route template and status (the _count of the latency histogram is the rate).
  const requests = 'countersign_http_request_duration_seconds_count';
  assert.equal(delta(api, apiBefore, requests, { route: '/api/prepare_transaction', status: '202', method: 'POST' }), 1);
  assert.equal(delta(api, apiBefore, requests, { route: '/api/execute_transaction', status: '409' }), 1);
  assert.equal(delta(api, apiBefore, requests, { route: '/api/execute_transaction', status: '202' }), 1);
  assert.ok(delta(api, apiBefore, requests, { route: '/api/transaction_status', status: '200' }) >= 1);
  assert.ok(api.every((s) => !/[0-9a-f]{8}-[0-9a-f]{4}-/.test(s.labels.route ?? '')), 'no raw ids in route labels');
  assert.ok(api.every((s) => s.labels.service === 'api'));
  assert.ok(sum(api, 'countersign_http_request_duration_seconds_sum', { route: '/api/prepare_transaction' }) > 0);

  // Transitions: the API writes pending_approval and approved; the worker the rest.
  const transitions = 'countersign_transaction_transitions_total';
  assert.equal(delta(api, apiBefore, transitions, { from: 'none', to: 'pending_approval' }), 1);
  assert.ok(delta(api, apiBefore, transitions, { to: 'approved' }) + delta(worker, workerBefore, transitions, { to: 'approved' }) === 1);
  for (const [from, to] of [['approved', 'signing'], ['signing', 'broadcast'], ['broadcast', 'confirmed']] as const) {
    assert.equal(delta(worker, workerBefore, transitions, { from, to }), 1, `${from} → ${to}`);
  }
  const approvals = delta(api, apiBefore, 'countersign_time_to_approval_seconds_count') + delta(worker, workerBefore, 'countersign_time_to_approval_seconds_count');
  assert.equal(approvals, 1, 'one time-to-approval observation');
  assert.equal(delta(worker, workerBefore, 'countersign_approve_to_broadcast_seconds_count'), 1);
  const approveToBroadcast = delta(worker, workerBefore, 'countersign_approve_to_broadcast_seconds_sum');
  assert.ok(approveToBroadcast > 0 && approveToBroadcast < 120, `approve → broadcast ${approveToBroadcast} s`);

  // Signing and the key store.
  assert.equal(delta(worker, workerBefore, 'countersign_signing_duration_seconds_count', { outcome: 'ok' }), 1);
  const signing = delta(worker, workerBefore, 'countersign_signing_duration_seconds_sum');
  assert.ok(signing > 0 && signing < 30, `signing took ${signing} s`);
  assert.equal(delta(worker, workerBefore, 'countersign_keystore_duration_seconds_count', { operation: 'decrypt', purpose: 'wallet', outcome: 'ok' }), 1);
  assert.ok(delta(api, apiBefore, 'countersign_keystore_duration_seconds_count', { operation: 'encrypt', purpose: 'wallet', outcome: 'ok' }) >= 1);
  assert.ok(delta(worker, workerBefore, 'countersign_activity_duration_seconds_count', { activity: 'broadcastTransaction', outcome: 'ok' }) >= 1);

  // Counters other parts increment exist from the start (unlabelled series appear once used; their HELP is there).
  const apiText = await (await fetch(`${OPS}/metrics`)).text();
  for (const name of ['countersign_policy_refusals_total', 'countersign_backdoor_refusals_total', 'countersign_webhook_delivery_attempts_total']) {
    assert.match(apiText, new RegExp(`# TYPE ${name} counter`), name);
  }

  // The Temporal SDK's worker metrics, on the same endpoint.
  assert.ok(worker.some((s) => s.name.startsWith('temporal_')), 'Temporal SDK metrics are exported');
  assert.ok(sum(worker, 'temporal_workflow_completed') >= 1 || sum(worker, 'temporal_workflow_completed_total') >= 1, `workflow completions: ${[...new Set(worker.filter((s) => s.name.startsWith('temporal_')).map((s) => s.name))].join(', ')}`);
  assert.ok(worker.some((s) => s.name.startsWith('temporal_activity_execution_latency') && s.value > 0));
  assert.ok(worker.every((s) => s.name.startsWith('temporal_') || s.labels.service === 'worker'));
});
