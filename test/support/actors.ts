/**
 * The people and programs of a test, speaking only the public HTTP API: a
 * user who enrols MFA and computes codes, an agent with an API key, wallets
 * funded on anvil.
 */
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { JsonRpcProvider, toQuantity } from 'ethers';
import { generate } from 'otplib';
import type { TestClock } from '../../lib/clock';

export interface HttpResult<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

export async function call<T = Record<string, unknown>>(
  base: string,
  method: string,
  path: string,
  options: { token?: string; apiKey?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<HttpResult<T>> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.apiKey) headers['x-api-key'] = options.apiKey;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: parseBody(text) as T, headers: response.headers };
}

function parseBody(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function expectStatus(result: HttpResult<unknown>, status: number, what: string) {
  assert.equal(result.status, status, `${what}: expected ${status}, got ${result.status} ${JSON.stringify(result.body)}`);
}

export interface TestUser {
  userId: string;
  username: string;
  password: string;
  token: string;
  secret: string;
  /** A fresh code: moves the test clock to the next 30-second step first. */
  nextCode(): Promise<string>;
}

/** Registers, logs in and enrols TOTP; every code comes from a new time step of the test clock. */
export async function newUser(base: string, clock: TestClock): Promise<TestUser> {
  const username = `u${randomBytes(5).toString('hex')}`;
  const password = `pw-${randomBytes(9).toString('base64url')}`;
  const registered = await call<{ user_id: string }>(base, 'POST', '/api/register', { body: { username, password } });
  expectStatus(registered, 201, 'register');
  const login = await call<{ access_token: string }>(base, 'POST', '/api/login', { body: { username, password } });
  expectStatus(login, 200, 'login');
  const token = login.body.access_token;
  const setup = await call<{ secret: string }>(base, 'POST', '/api/setup_mfa', { token });
  expectStatus(setup, 201, 'setup_mfa');
  const secret = setup.body.secret;
  const nextCode = async () => {
    clock.advance(30_000);
    return generate({ secret, epoch: Math.floor(clock.now().getTime() / 1000) });
  };
  const confirmed = await call(base, 'POST', '/api/confirm_mfa', { token, body: { mfa_code: await nextCode() } });
  expectStatus(confirmed, 200, 'confirm_mfa');
  return { userId: registered.body.user_id, username, password, token, secret, nextCode };
}

export async function newWallet(base: string, user: TestUser, fundEther = 10n): Promise<string> {
  const created = await call<{ address: string }>(base, 'POST', '/api/create_wallet', { token: user.token, body: { password: user.password, label: 'test' } });
  expectStatus(created, 201, 'create_wallet');
  if (fundEther > 0n) await fund(created.body.address, fundEther * 10n ** 18n);
  return created.body.address;
}

export async function newAgent(base: string, user: TestUser, walletAddresses: string[]): Promise<{ agentId: string; apiKey: string }> {
  const created = await call<{ agent_id: string; api_key: string }>(base, 'POST', '/api/agents', {
    token: user.token,
    body: { name: `agent-${randomBytes(3).toString('hex')}`, wallet_addresses: walletAddresses, mfa_code: await user.nextCode() },
  });
  expectStatus(created, 201, 'create agent');
  return { agentId: created.body.agent_id, apiKey: created.body.api_key };
}

export function chainProvider(): JsonRpcProvider {
  const url = process.env.WEB3_PROVIDER_URI;
  if (!url) throw new Error('WEB3_PROVIDER_URI is not set');
  return new JsonRpcProvider(url, 31337, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1 });
}

/** Sets a balance on anvil (no dev-account nonce to race on). */
export async function fund(address: string, wei: bigint): Promise<void> {
  const provider = chainProvider();
  try {
    const current = await provider.getBalance(address);
    await provider.send('anvil_setBalance', [address, toQuantity(current + wei)]);
  } finally {
    provider.destroy();
  }
}

export const randomAddress = () => `0x${randomBytes(20).toString('hex')}`;

/** Polls GET /api/transactions/:id until the status is one of `statuses`. */
export async function waitForStatus(
  base: string,
  auth: { token?: string; apiKey?: string },
  transactionId: string,
  statuses: string[],
  timeoutMs = 30_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  let last: HttpResult = { status: 0, body: {}, headers: new Headers() };
  while (Date.now() < deadline) {
    last = await call(base, 'GET', `/api/transactions/${transactionId}`, auth);
    if (last.status === 200 && statuses.includes(last.body.status as string)) return last.body;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`transaction ${transactionId} did not reach ${statuses.join('|')}: last ${last.status} ${JSON.stringify(last.body)}`);
}
