/**
 * Agents in Python against the real stack: the Python SDK (sync and async),
 * the MCP server driven by the official Python MCP client over Streamable HTTP
 * and stdio, and the LangChain tools with langchain-core's scripted chat model
 * (sdk/python/tests, unittest, in .tools/venv as scripts/bootstrap.mjs installs
 * it from tools/requirements-sdk.txt). This file sets up the owner, wallet and
 * agents, runs the scripted owner (approves "approve", rejects "reject: …" over
 * HTTP with TOTP) while Python runs, and reports every Python test as a test.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Interface, type JsonRpcProvider } from 'ethers';
import { startTestApp, type TestApp } from '../support/app';
import { call, chainProvider, expectStatus, newAgent, newUser, newWallet, randomAddress } from '../support/actors';
import { startOwnerBot, type OwnerBot } from '../support/owner-bot';
import { deployReverter, fundedWallet, Reverter } from '../support/contracts';
import { REPO_ROOT } from '../../scripts/infra/paths';

const PYTHON = path.join(REPO_ROOT, '.tools', 'venv', 'bin', 'python');
const TESTS = path.join(REPO_ROOT, 'sdk', 'python', 'tests');

let app: TestApp;
let bot: OwnerBot;
let provider: JsonRpcProvider;
let env: Record<string, string>;

before(async () => {
  assert.ok(fs.existsSync(PYTHON), `${PYTHON} is missing: npm test installs it (scripts/bootstrap.mjs, tools/requirements-sdk.txt)`);
  app = await startTestApp({ env: { JWT_ACCESS_TOKEN_EXPIRES: '1d' } });
  provider = chainProvider();
  const owner = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner);
  const agent = await newAgent(app.url, owner, [wallet]);
  const other = await newAgent(app.url, owner, [wallet]);
  const foreign = await call<{ transaction_id: string }>(app.url, 'POST', '/api/prepare_transaction', {
    apiKey: other.apiKey,
    body: { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '1', memo: 'leave pending' },
  });
  expectStatus(foreign, 202, 'foreign prepare');
  const reverter = await deployReverter(await fundedWallet(provider));
  env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    PYTHONDONTWRITEBYTECODE: '1',
    COUNTERSIGN_API_URL: app.url,
    COUNTERSIGN_API_KEY: agent.apiKey,
    COUNTERSIGN_WALLET: wallet,
    COUNTERSIGN_FOREIGN_TX: foreign.body.transaction_id,
    COUNTERSIGN_REVERTER: reverter.address,
    COUNTERSIGN_REVERT_DATA: new Interface(Reverter.abi).encodeFunctionData('fail', []),
    WEB3_PROVIDER_URI: process.env.WEB3_PROVIDER_URI ?? '',
    COUNTERSIGN_REPO: REPO_ROOT,
  };
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

/** Runs unittest; resolves with its exit code and verbose output (unittest writes to stderr). */
function unittest(modules: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, ['-m', 'unittest', '-v', ...modules], { cwd: TESTS, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** `test_x (module.Class.test_x) ... ok` — the outcome may come on a later line, after something the test logged. */
function parseVerbose(output: string): Array<{ name: string; outcome: string }> {
  const results: Array<{ name: string; outcome: string }> = [];
  let current: string | undefined;
  for (const line of output.split('\n')) {
    const header = /^test_\w+ \(([\w.]+)\) \.\.\. ?(.*)$/.exec(line);
    const rest = header ? header[2]! : line;
    if (header) current = header[1]!;
    const outcome = /(?:^|\.\.\. )(ok|FAIL|ERROR|skipped.*)$/.exec(rest)?.[1];
    if (current && outcome) {
      results.push({ name: current, outcome });
      current = undefined;
    }
  }
  return results;
}

test('the Python SDK, the Python MCP client (HTTP and stdio) and the LangChain tools', { timeout: 330_000 }, async (t) => {
  const { code, output } = await unittest(['test_sdk', 'test_mcp', 'test_langchain']);
  const results = parseVerbose(output);
  for (const result of results) {
    await t.test(`python: ${result.name}`, () => {
      assert.equal(result.outcome, 'ok', `${result.name}: ${result.outcome}\n${output.slice(-6000)}`);
    });
  }
  assert.ok(results.length >= 10, `only ${results.length} Python tests reported:\n${output.slice(-4000)}`);
  assert.equal(code, 0, `unittest failed:\n${output.slice(-6000)}`);
  assert.match(output, /^OK$/m);
});
