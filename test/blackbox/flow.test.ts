/**
 * Black box: only HTTP against the real API process (as started by `npm run
 * dev`) and JSON-RPC against the chain, with an independent TOTP. This is how
 * users and the outside judge meet Countersign.
 *
 *   COUNTERSIGN_API_URL (default http://127.0.0.1:3000), WEB3_PROVIDER_URI (default http://127.0.0.1:8545)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { currentStep, totpAt, waitForStep } from './totp';

const API = process.env.COUNTERSIGN_API_URL ?? 'http://127.0.0.1:3000';
const RPC = process.env.WEB3_PROVIDER_URI ?? 'http://127.0.0.1:8545';

async function http(method: string, path: string, options: { token?: string; apiKey?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.apiKey) headers['x-api-key'] = options.apiKey;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${API}${path}`, { method, headers, ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function rpc(method: string, params: unknown[]) {
  const response = await fetch(RPC, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
  const body = (await response.json()) as { result?: unknown; error?: { message: string } };
  if (body.error) throw new Error(body.error.message);
  return body.result;
}

function expect(result: { status: number; body: unknown }, status: number, what: string) {
  assert.equal(result.status, status, `${what}: ${JSON.stringify(result.body)}`);
}

test('the service is up and documents itself', async () => {
  expect(await http('GET', '/healthz'), 200, 'healthz');
  const ready = await http('GET', '/readyz');
  expect(ready, 200, 'readyz');
  for (const dep of ['postgres', 'temporal', 'vault', 'chain']) assert.equal(ready.body.checks[dep].status, 'ok', dep);
  const openapi = await http('GET', '/openapi.json');
  expect(openapi, 200, 'openapi');
  assert.equal(openapi.body.openapi, '3.1.0');
  for (const path of ['/api/register', '/api/login', '/api/prepare_transaction', '/api/authorize_transaction', '/api/execute_transaction', '/api/transaction_status']) {
    assert.ok(openapi.body.paths[path], `${path} is documented`);
  }
});

test('register → MFA → wallet → agent → two requests approved with one code → executed → confirmed on chain', { timeout: 180_000 }, async () => {
  const username = `bb${randomBytes(5).toString('hex')}`;
  const password = `pw-${randomBytes(12).toString('base64url')}`;
  expect(await http('POST', '/api/register', { body: { username, password } }), 201, 'register');
  const login = await http('POST', '/api/login', { body: { username, password } });
  expect(login, 200, 'login');
  assert.equal(login.body.token_type, 'Bearer');
  const token = login.body.access_token as string;

  const setup = await http('POST', '/api/setup_mfa', { token });
  expect(setup, 201, 'setup_mfa');
  assert.match(setup.body.mfa_uri, /^otpauth:\/\/totp\//);
  assert.match(setup.body.qr_code, /^data:image\/(png|svg\+xml)/);
  const secret = setup.body.secret as string;
  // The previous step's code confirms; the current step's code is then still fresh for the next action.
  expect(await http('POST', '/api/confirm_mfa', { token, body: { mfa_code: totpAt(secret, currentStep() - 1) } }), 200, 'confirm_mfa');

  const wallet = await http('POST', '/api/create_wallet', { token, body: { password, label: 'black box' } });
  expect(wallet, 201, 'create_wallet');
  const address = wallet.body.address as string;
  assert.match(address, /^0x[0-9a-fA-F]{40}$/);
  await rpc('anvil_setBalance', [address, '0x8ac7230489e80000']); // 10 ETH

  const agentStep = currentStep();
  const agent = await http('POST', '/api/agents', { token, body: { name: 'black-box agent', wallet_addresses: [address], mfa_code: totpAt(secret, agentStep) } });
  expect(agent, 201, 'create agent');
  const apiKey = agent.body.api_key as string;
  const replay = await http('POST', '/api/agents', { token, body: { name: 'again', mfa_code: totpAt(secret, agentStep) } });
  expect(replay, 403, 'a replayed code');
  assert.equal(replay.body.error.code, 'mfa_code_used');

  const recipients = [`0x${randomBytes(20).toString('hex')}`, `0x${randomBytes(20).toString('hex')}`];
  const prepared = [];
  for (const [i, to] of recipients.entries()) {
    const p = await http('POST', '/api/prepare_transaction', { apiKey, body: { wallet_address: address, kind: 'native', to_address: to, amount: String(1000 + i), memo: `black box ${i}` } });
    expect(p, 202, 'prepare');
    assert.equal(p.body.status, 'pending_approval');
    prepared.push(p.body as { transaction_id: string; digest: string });
  }
  const inbox = await http('GET', '/api/transactions?status=pending_approval', { token });
  expect(inbox, 200, 'inbox');
  assert.deepEqual(new Set(inbox.body.transactions.map((t: { transaction_id: string }) => t.transaction_id)), new Set(prepared.map((p) => p.transaction_id)));

  await waitForStep(agentStep + 1);
  const approved = await http('POST', '/api/authorize_transaction', {
    token,
    body: { transaction_ids: prepared.map((p) => p.transaction_id), digests: prepared.map((p) => p.digest), mfa_code: totpAt(secret, currentStep()) },
  });
  expect(approved, 200, 'batch approval');
  for (const r of approved.body.results) assert.equal(r.status, 'approved');

  for (const p of prepared) expect(await http('POST', '/api/execute_transaction', { apiKey, body: { transaction_id: p.transaction_id } }), 202, 'execute');
  for (const [i, p] of prepared.entries()) {
    let status: Record<string, unknown> = {};
    for (let attempt = 0; attempt < 300 && status.status !== 'confirmed' && status.status !== 'failed'; attempt += 1) {
      status = (await http('GET', `/api/transaction_status?transaction_id=${p.transaction_id}`, { apiKey })).body;
      if (status.status !== 'confirmed') await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(status.status, 'confirmed', JSON.stringify(status));
    assert.match(status.tx_hash as string, /^0x[0-9a-f]{64}$/);
    assert.equal(BigInt((await rpc('eth_getBalance', [recipients[i], 'latest'])) as string), BigInt(1000 + i));
  }
  assert.equal(Number(await rpc('eth_getTransactionCount', [address, 'latest'])), 2);

  const events = await http('GET', '/api/events?after=0', { apiKey });
  expect(events, 200, 'events');
  const first = prepared[0]!.transaction_id;
  const statuses = events.body.events.filter((e: { transaction_id: string }) => e.transaction_id === first).map((e: { status: string }) => e.status);
  assert.deepEqual(statuses, ['pending_approval', 'approved', 'signing', 'broadcast', 'confirmed']);
});
