/**
 * What the README's "For agent developers" section and examples/ tell agent
 * developers stays true: the curl lines run as written (bash, curl, jq), both
 * ~15-line agents run and end confirmed on anvil, the MCP host configs start
 * and reach the server exactly as written, and the section lists the tools
 * the server has. A scripted owner approves each request over HTTP with TOTP.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { JsonRpcProvider } from 'ethers';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startTestApp, type TestApp } from '../support/app';
import { chainProvider, newAgent, newUser, newWallet, randomAddress } from '../support/actors';
import { startOwnerBot, type OwnerBot } from '../support/owner-bot';
import { countersignTools } from '../../sdk/typescript/src/tools';
import { REPO_ROOT } from '../../scripts/infra/paths';

const README = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
const SECTION = README.slice(README.indexOf('## For agent developers'), README.indexOf('\n## ', README.indexOf('## For agent developers') + 5));

let app: TestApp;
let bot: OwnerBot;
let provider: JsonRpcProvider;
let base: Record<string, string>;
let wallet: string;

before(async () => {
  app = await startTestApp({ env: { JWT_ACCESS_TOKEN_EXPIRES: '1d' } });
  provider = chainProvider();
  const owner = await newUser(app.url, app.clock);
  wallet = await newWallet(app.url, owner);
  const agent = await newAgent(app.url, owner, [wallet]);
  base = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', COUNTERSIGN_API_URL: app.url, COUNTERSIGN_API_KEY: agent.apiKey };
  bot = startOwnerBot(app.url, owner, { approveAfterMs: 500, approveUnmarked: true });
});

after(async () => {
  try {
    await bot?.stop();
  } finally {
    provider?.destroy();
    await app?.stop();
  }
});

function run(command: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('the README and examples/ for agent developers', () => {
  test("the section's curl lines run as written and end confirmed on chain", { timeout: 150_000 }, async () => {
    const script = /```sh\n([\s\S]*?)```/.exec(SECTION)?.[1];
    assert.ok(script && script.includes('curl'), 'the section has a sh block with curl');
    const to = randomAddress();
    const { code, out } = await run('bash', ['-c', script], { ...base, WALLET: wallet, TO: to });
    assert.equal(code, 0, out);
    assert.equal(out.trim().split('\n').at(-1), 'confirmed', out);
    assert.equal(await provider.getBalance(to), 1000n);
  });

  test('examples/typescript/agent.ts runs as its header says and ends confirmed', { timeout: 150_000 }, async () => {
    const to = randomAddress();
    const { code, out } = await run('npx', ['tsx', 'examples/typescript/agent.ts'], { ...base, WALLET: wallet, TO: to });
    assert.equal(code, 0, out);
    assert.match(out, /^confirmed 0x[0-9a-f]{64}$/m);
    assert.equal(await provider.getBalance(to), 1000n);
    assert.ok(fs.readFileSync(path.join(REPO_ROOT, 'examples/typescript/agent.ts'), 'utf8').trim().split('\n').length <= 20, 'about 15 lines');
  });

  test('examples/python/agent.py (with the SDK installed from ./sdk/python) ends confirmed', { timeout: 150_000 }, async () => {
    const to = randomAddress();
    const python = path.join(REPO_ROOT, '.tools', 'venv', 'bin', 'python');
    const { code, out } = await run(python, ['examples/python/agent.py'], { ...base, WALLET: wallet, TO: to });
    assert.equal(code, 0, out);
    assert.match(out, /^confirmed 0x[0-9a-f]{64}$/m);
    assert.equal(await provider.getBalance(to), 1000n);
  });

  test('the MCP host configs start and reach the server as written; the section lists exactly its tools', { timeout: 60_000 }, async () => {
    const names = countersignTools.map((t) => t.name).sort();
    const listed = [...SECTION.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!).filter((n) => names.includes(n));
    assert.deepEqual([...new Set(listed)].sort(), names, 'the README names every tool');

    const read = (file: string) => JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'examples', 'mcp', file), 'utf8')) as Record<string, Record<string, Record<string, unknown>>>;
    const key = base.COUNTERSIGN_API_KEY!;
    const fill = (text: string) => text.replace('/path/to/countersign', REPO_ROOT).replace('cs_your_agent_key', key).replace('http://127.0.0.1:3000', app.url);

    const desktop = read('claude_desktop_config.json').mcpServers!.countersign as { command: string; args: string[]; env: Record<string, string> };
    const stdio = new Client({ name: 'docs', version: '1' });
    await stdio.connect(
      new StdioClientTransport({ command: desktop.command, args: desktop.args.map(fill), env: { PATH: base.PATH!, HOME: base.HOME!, ...Object.fromEntries(Object.entries(desktop.env).map(([k, v]) => [k, fill(v)])) } }),
    );
    assert.deepEqual((await stdio.listTools()).tools.map((t) => t.name).sort(), names);
    await stdio.close();

    for (const config of [read('cursor-mcp.json').mcpServers!.countersign, read('vscode-mcp.json').servers!.countersign] as Array<{ url: string; headers: Record<string, string> }>) {
      const http = new Client({ name: 'docs', version: '1' });
      await http.connect(new StreamableHTTPClientTransport(new URL(fill(config.url)), { requestInit: { headers: Object.fromEntries(Object.entries(config.headers).map(([k, v]) => [k, fill(v)])) } }));
      assert.deepEqual((await http.listTools()).tools.map((t) => t.name).sort(), names);
      await http.close();
    }
  });
});
