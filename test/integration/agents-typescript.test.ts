/**
 * Agents in TypeScript against the real stack (API in-process, real worker,
 * anvil): the SDK (@countersign/sdk), the MCP server over both transports
 * driven by the official MCP TypeScript client (Streamable HTTP at POST /mcp,
 * and stdio through `npm --silent run mcp` as the README's host config starts
 * it), and the Vercel AI SDK tools driven by the AI SDK's own mock model.
 *
 * A scripted owner (test/support/owner-bot.ts) decides each request over HTTP
 * by its memo: "approve" is approved with TOTP after a pause, "reject: …" is
 * rejected. Each path: propose → wait → execute → confirmed on anvil; a
 * rejection returns the owner's reason; a doomed request is refused with
 * simulation_failed; another agent's transaction is a 404; no tool approves.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { generateText, stepCountIs } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { Interface, type JsonRpcProvider } from 'ethers';
import { createCountersign, isCountersignError, type CountersignClient } from '@countersign/sdk';
import { countersignAiTools } from '@countersign/sdk/ai';
import { startTestApp, type TestApp } from '../support/app';
import { call, chainProvider, expectStatus, newAgent, newUser, newWallet, randomAddress, type TestUser } from '../support/actors';
import { startOwnerBot, type OwnerBot } from '../support/owner-bot';
import { deployReverter, fundedWallet, Reverter } from '../support/contracts';
import { REPO_ROOT } from '../../scripts/infra/paths';

let app: TestApp;
let owner: TestUser;
let wallet: string;
let agent: { agentId: string; apiKey: string };
/** A transaction of another agent of the same owner: invisible to `agent`. */
let foreignTx: string;
let reverter: string;
let bot: OwnerBot;
let provider: JsonRpcProvider;
let cs: CountersignClient;

before(async () => {
  app = await startTestApp({ env: { JWT_ACCESS_TOKEN_EXPIRES: '1d' } });
  provider = chainProvider();
  owner = await newUser(app.url, app.clock);
  wallet = await newWallet(app.url, owner);
  agent = await newAgent(app.url, owner, [wallet]);
  const other = await newAgent(app.url, owner, [wallet]);
  foreignTx = (await createCountersign({ apiUrl: app.url, apiKey: other.apiKey }).propose({ wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '1', memo: 'leave pending' })).transaction_id;
  reverter = (await deployReverter(await fundedWallet(provider))).address;
  cs = createCountersign({ apiUrl: app.url, apiKey: agent.apiKey });
  bot = startOwnerBot(app.url, owner, { approveAfterMs: 2_500 });
});

after(async () => {
  try {
    await bot?.stop();
  } finally {
    provider?.destroy();
    await app?.stop();
  }
});

const doomedCall = () => ({ wallet_address: wallet, kind: 'contract_call' as const, contract_address: reverter, data: new Interface(Reverter.abi).encodeFunctionData('fail', []) });
const transactionCount = async () => Number((await app.database.db('transactions').count<Array<{ count: string }>>('id as count'))[0]!.count);

describe('TypeScript SDK', () => {
  test('proposeAndWait: the owner approves with TOTP meanwhile, the agent executes, confirmed on anvil', { timeout: 90_000 }, async () => {
    const recipient = randomAddress();
    const waits: string[] = [];
    const done = await cs.proposeAndWait({ wallet_address: wallet, kind: 'native', to_address: recipient, amount: '424242', memo: 'approve' }, { timeoutMs: 60_000, onStillWaiting: (v) => waits.push(v.status) });
    assert.equal(done.status, 'confirmed', JSON.stringify(done));
    assert.equal(bot.decided.get(done.transaction_id), 'approved');
    assert.match(done.tx_hash!, /^0x[0-9a-f]{64}$/);
    assert.equal(await provider.getBalance(recipient), 424242n);
    // Execute is idempotent for its agent: done already, so 200 with the status.
    const again = await call(app.url, 'POST', '/api/execute_transaction', { apiKey: agent.apiKey, body: { transaction_id: done.transaction_id } });
    expectStatus(again, 200, 'execute on a confirmed request');
    assert.equal(again.body.status, 'confirmed');
    assert.equal((await cs.execute(done.transaction_id)).status, 'confirmed');
  });

  test("waitForDecision returns a rejection with the owner's reason", { timeout: 60_000 }, async () => {
    const proposal = await cs.propose({ wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '5', memo: 'reject: not from this wallet' });
    assert.equal(proposal.status, 'pending_approval');
    const decided = await cs.waitForDecision(proposal.transaction_id, { timeoutMs: 30_000 });
    assert.equal(decided.status, 'rejected');
    assert.equal(decided.rejection_reason, 'not from this wallet');
    await assert.rejects(cs.execute(proposal.transaction_id), (error: unknown) => isCountersignError(error, 'invalid_state') && error.status === 409 && error.reason === 'already_decided' && /decided/.test(error.hint!));
  });

  test('a doomed request is refused (422 simulation_failed, would_revert with the reason and a hint); nothing is stored', async () => {
    const before = await transactionCount();
    await assert.rejects(cs.propose(doomedCall()), (error: unknown) => {
      assert.ok(isCountersignError(error, 'simulation_failed'), String(error));
      assert.equal(error.status, 422);
      assert.equal(error.reason, 'would_revert');
      assert.match(error.revertReason!, /always fails/);
      assert.match(error.hint!, /allow_simulation_failure/);
      return true;
    });
    const broke = await cs.propose({ wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: (10n ** 30n).toString() }).catch((e: unknown) => e);
    assert.ok(isCountersignError(broke, 'simulation_failed') && broke.reason === 'insufficient_funds', String(broke));
    assert.equal(await transactionCount(), before, 'nothing stored, nothing in front of the owner');
    // Asked for explicitly, it is queued with the warning, as before.
    const queued = await cs.propose({ ...doomedCall(), allow_simulation_failure: true, memo: 'leave pending' });
    assert.deepEqual(queued.summary.warnings.includes('would_revert'), true);
  });

  test('another agent’s transaction is not_found; errors carry code and hint', async () => {
    await assert.rejects(cs.get(foreignTx), (error: unknown) => isCountersignError(error, 'not_found') && error.status === 404 && /transaction id/.test(error.hint!));
  });

  test('idempotency keys are automatic and reused by retries; a 503 is retried after its Retry-After', async () => {
    const keys: string[] = [];
    let refused = 0;
    const flaky = createCountersign({
      apiUrl: app.url,
      apiKey: agent.apiKey,
      fetch: async (request) => {
        if (request.url.endsWith('/api/prepare_transaction')) {
          keys.push(request.headers.get('idempotency-key') ?? '');
          if (refused++ === 0) return new Response(JSON.stringify({ error: { code: 'unavailable', message: 'try again', hint: 'x' } }), { status: 503, headers: { 'retry-after': '1', 'content-type': 'application/json' } });
        }
        return fetch(request);
      },
    });
    const started = Date.now();
    const proposal = await flaky.propose({ wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '7', memo: 'leave pending' });
    assert.ok(Date.now() - started >= 1_000, 'waited for Retry-After');
    assert.equal(keys.length, 2);
    assert.match(keys[0]!, /^[0-9a-f-]{36}$/);
    assert.equal(keys[0], keys[1], 'the retry is the same request');
    const replay = await cs.propose({ wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '7', memo: 'leave pending' }, { idempotencyKey: keys[0]! }).catch((e: unknown) => e);
    assert.ok(isCountersignError(replay, 'idempotency_key_reused'), 'the key names the first request');
    assert.equal((await flaky.get(proposal.transaction_id)).status, 'pending_approval');
  });
});

// ---------------------------------------------------------------------------------------------
// MCP

const TOOLS = ['cancel_transaction', 'execute_transaction', 'get_balance', 'get_transaction', 'list_transactions', 'list_wallets', 'propose_transaction', 'wait_for_decision'];
const READ_ONLY = ['get_balance', 'get_transaction', 'list_transactions', 'list_wallets', 'wait_for_decision'];

type ToolResult = { isError?: boolean; structuredContent?: Record<string, unknown>; content: Array<{ type: string; text?: string }> };

async function tool(client: Client, name: string, args: Record<string, unknown>, onprogress?: (p: { progress: number; total?: number }) => void): Promise<ToolResult> {
  return (await client.callTool({ name, arguments: args }, undefined, { ...(onprogress ? { onprogress, resetTimeoutOnProgress: true } : {}), timeout: 120_000 })) as ToolResult;
}

/** The same flows over whichever transport `client` uses. */
async function mcpFlows(client: Client, label: string) {
  const listed = await client.listTools();
  assert.deepEqual(listed.tools.map((t) => t.name).sort(), TOOLS, `${label}: exactly these tools`);
  assert.ok(!listed.tools.some((t) => /approve|authori[sz]e|reject|grant|polic/i.test(t.name)), `${label}: no tool does a human's part`);
  for (const t of listed.tools) {
    assert.equal(t.annotations?.readOnlyHint, READ_ONLY.includes(t.name), `${label}: ${t.name} readOnlyHint`);
    assert.equal(t.inputSchema.type, 'object');
    assert.ok((t.description ?? '').length > 60, `${label}: ${t.name} is described for a model`);
  }

  const wallets = await tool(client, 'list_wallets', {});
  assert.equal((wallets.structuredContent!.wallets as Array<{ address: string }>)[0]!.address.toLowerCase(), wallet.toLowerCase());

  // propose → wait (progress while the owner takes a moment) → execute → wait → confirmed
  const recipient = randomAddress();
  const proposed = await tool(client, 'propose_transaction', { wallet_address: wallet, kind: 'native', to_address: recipient, amount: '31337', memo: 'approve' });
  assert.ok(!proposed.isError, JSON.stringify(proposed));
  const id = proposed.structuredContent!.transaction_id as string;
  assert.equal(proposed.structuredContent!.status, 'pending_approval');
  assert.match(proposed.structuredContent!.digest as string, /^0x[0-9a-f]{64}$/);
  assert.ok((proposed.structuredContent!.summary as { title: string }).title.includes('Send'));
  const progress: number[] = [];
  const decision = await tool(client, 'wait_for_decision', { transaction_id: id, timeout_seconds: 60 }, (p) => progress.push(p.progress));
  assert.equal(decision.structuredContent!.decided, true, JSON.stringify(decision.structuredContent));
  assert.equal(decision.structuredContent!.status, 'approved');
  assert.match(decision.structuredContent!.next_step as string, /execute_transaction/);
  assert.ok(progress.length >= 1, `${label}: progress notifications while waiting`);
  assert.ok(progress.every((p, i) => i === 0 || p > progress[i - 1]!), 'progress increases');
  const executed = await tool(client, 'execute_transaction', { transaction_id: id });
  assert.ok(!executed.isError, JSON.stringify(executed));
  const outcome = await tool(client, 'wait_for_decision', { transaction_id: id, timeout_seconds: 60 });
  assert.equal(outcome.structuredContent!.status, 'confirmed', JSON.stringify(outcome.structuredContent));
  assert.equal(await provider.getBalance(recipient), 31337n, `${label}: on chain`);
  const twice = await tool(client, 'execute_transaction', { transaction_id: id });
  assert.equal(twice.structuredContent!.status, 'confirmed', 'execute again: the status, not an error');

  // a rejection carries the owner's reason
  const toReject = await tool(client, 'propose_transaction', { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '1', memo: 'reject: too much today' });
  const rejected = await tool(client, 'wait_for_decision', { transaction_id: toReject.structuredContent!.transaction_id, timeout_seconds: 60 });
  assert.equal(rejected.structuredContent!.status, 'rejected');
  assert.equal(rejected.structuredContent!.rejection_reason, 'too much today');

  // a doomed one: a tool result with isError and the code, reason and hint (not a protocol error)
  const doomed = await tool(client, 'propose_transaction', doomedCall());
  assert.equal(doomed.isError, true);
  const refusal = doomed.structuredContent!.error as { code: string; reason: string; hint: string; revert_reason: string };
  assert.equal(refusal.code, 'simulation_failed');
  assert.equal(refusal.reason, 'would_revert');
  assert.match(refusal.revert_reason, /always fails/);
  assert.match(refusal.hint, /allow_simulation_failure/);
  assert.match(doomed.content[0]!.text!, /simulation_failed/);

  // another agent's transaction: 404, whatever the tool
  for (const name of ['get_transaction', 'wait_for_decision', 'execute_transaction', 'cancel_transaction']) {
    const foreign = await tool(client, name, { transaction_id: foreignTx });
    assert.equal(foreign.isError, true, `${label}: ${name} on a foreign transaction`);
    assert.deepEqual([(foreign.structuredContent!.error as { status: number }).status, (foreign.structuredContent!.error as { code: string }).code], [404, 'not_found']);
  }
  const stillPending = await call(app.url, 'GET', `/api/transactions/${foreignTx}`, { token: owner.token });
  assert.equal(stillPending.body.status, 'pending_approval', 'the foreign transaction is untouched');

  // invalid input is a tool error too
  const invalid = await tool(client, 'get_transaction', { transaction_id: 'nope' });
  assert.equal(invalid.isError, true);
}

describe('MCP server, official TypeScript client', () => {
  test('Streamable HTTP at POST /mcp with X-API-Key: the whole flow', { timeout: 180_000 }, async () => {
    const client = new Client({ name: 'countersign-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${app.url}/mcp`), { requestInit: { headers: { 'X-API-Key': agent.apiKey } } }));
    try {
      await mcpFlows(client, 'http');
    } finally {
      await client.close();
    }
  });

  test('POST /mcp: Authorization: Bearer cs_… works; no key or a bad one is 401 JSON, a user token 403 wrong_principal', async () => {
    const bearer = new Client({ name: 'countersign-test', version: '1.0.0' });
    await bearer.connect(new StreamableHTTPClientTransport(new URL(`${app.url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${agent.apiKey}` } } }));
    assert.equal((await bearer.listTools()).tools.length, TOOLS.length);
    await bearer.close();

    const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
    const post = (headers: Record<string, string>) =>
      fetch(`${app.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(initialize) });
    for (const [headers, status, code] of [
      [{}, 401, 'unauthenticated'],
      [{ 'x-api-key': `${agent.apiKey}x` }, 401, 'unauthenticated'],
      [{ authorization: `Bearer ${owner.token}` }, 403, 'wrong_principal'],
    ] as const) {
      const response = await post(headers);
      assert.equal(response.status, status);
      assert.match(response.headers.get('content-type') ?? '', /application\/json/);
      const body = (await response.json()) as { error: { code: string; hint: string } };
      assert.equal(body.error.code, code);
      assert.ok(body.error.hint.length > 0);
    }
  });

  test('stdio through `npm --silent run mcp` (COUNTERSIGN_API_URL, COUNTERSIGN_API_KEY): the whole flow', { timeout: 180_000 }, async () => {
    const client = new Client({ name: 'countersign-test', version: '1.0.0' });
    const transport = new StdioClientTransport({
      command: 'npm',
      args: ['--silent', '--prefix', REPO_ROOT, 'run', 'mcp'],
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', COUNTERSIGN_API_URL: app.url, COUNTERSIGN_API_KEY: agent.apiKey },
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await client.connect(transport);
    try {
      await mcpFlows(client, 'stdio');
    } catch (error) {
      process.stdout.write(`# mcp stdio stderr:\n${stderr}\n`);
      throw error;
    } finally {
      await client.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Vercel AI SDK

type LanguageModelV3CallOptions = Parameters<MockLanguageModelV3['doGenerate']>[0];

/** The last tool result the model was given, if any. */
function lastToolResult(options: LanguageModelV3CallOptions): Record<string, unknown> | undefined {
  for (let i = options.prompt.length - 1; i >= 0; i--) {
    const message = options.prompt[i]!;
    if (message.role !== 'tool') continue;
    const part = message.content.findLast((p) => p.type === 'tool-result');
    if (part && part.type === 'tool-result' && part.output.type === 'json') return part.output.value as Record<string, unknown>;
  }
  return undefined;
}

describe('Vercel AI SDK tools', () => {
  test('a scripted model (MockLanguageModelV3) proposes, waits, executes and waits: confirmed on anvil', { timeout: 120_000 }, async () => {
    const recipient = randomAddress();
    let transactionId = '';
    let step = 0;
    const usage = { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } };
    const callTool = (toolName: string, input: Record<string, unknown>) => ({
      content: [{ type: 'tool-call' as const, toolCallId: `call-${step}`, toolName, input: JSON.stringify(input) }],
      finishReason: { unified: 'tool-calls' as const, raw: 'tool_calls' },
      usage,
      warnings: [],
    });
    const model = new MockLanguageModelV3({
      doGenerate: async (options) => {
        step += 1;
        const last = lastToolResult(options);
        if (step === 1) return callTool('propose_transaction', { wallet_address: wallet, kind: 'native', to_address: recipient, amount: '777', memo: 'approve' });
        if (step === 2) {
          transactionId = last!.transaction_id as string;
          return callTool('wait_for_decision', { transaction_id: transactionId, timeout_seconds: 60 });
        }
        if (step === 3) return callTool(last!.status === 'approved' ? 'execute_transaction' : 'get_transaction', { transaction_id: transactionId });
        if (step === 4) return callTool('wait_for_decision', { transaction_id: transactionId, timeout_seconds: 60 });
        return { content: [{ type: 'text' as const, text: `done: ${String(last?.status)}` }], finishReason: { unified: 'stop' as const, raw: 'stop' }, usage, warnings: [] };
      },
    });
    const result = await generateText({ model, tools: countersignAiTools(cs), stopWhen: stepCountIs(8), prompt: 'Pay 777 wei to the recipient.' });
    assert.equal(result.text, 'done: confirmed');
    const calls = result.steps.flatMap((s) => s.toolCalls.map((c) => c.toolName));
    assert.deepEqual(calls, ['propose_transaction', 'wait_for_decision', 'execute_transaction', 'wait_for_decision']);
    assert.equal(await provider.getBalance(recipient), 777n);
  });

  test('a refusal reaches the model as the tool result, with code, reason and hint', async () => {
    const tools = countersignAiTools(cs);
    const output = (await tools.propose_transaction!.execute!(doomedCall(), { toolCallId: 'x', messages: [] })) as { error: { code: string; reason: string; hint: string } };
    assert.equal(output.error.code, 'simulation_failed');
    assert.equal(output.error.reason, 'would_revert');
    assert.ok(output.error.hint);
  });
});
