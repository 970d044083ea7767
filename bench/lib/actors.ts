/**
 * The bench's people and programs, speaking the public HTTP API on the real
 * clock: users who enrol TOTP and compute codes with otplib from the secret
 * setup_mfa returned, wallets funded on anvil, one agent per user.
 *
 * The API accepts one code per 30-second step per user (the current step or
 * the one before). `takeStep` hands out steps so that no user ever replays
 * one: setup spends the previous and the current step, approvals one each.
 */
import { randomBytes } from 'node:crypto';
import { stepAt, totpCode } from '../../domains/mfa/totp';
import { sleep } from './stats';

export interface HttpResult<T> {
  status: number;
  body: T;
  ms: number;
}

export async function http<T = Record<string, unknown>>(
  base: string,
  method: string,
  path: string,
  options: { token?: string; apiKey?: string; body?: unknown; timeoutMs?: number } = {},
): Promise<HttpResult<T>> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.apiKey) headers['x-api-key'] = options.apiKey;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const started = performance.now();
  const response = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
  });
  const text = await response.text();
  const ms = performance.now() - started;
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  return { status: response.status, body: body as T, ms };
}

export function expect<T>(result: HttpResult<T>, status: number, what: string): T {
  if (result.status !== status) throw new Error(`${what}: expected ${status}, got ${result.status} ${JSON.stringify(result.body).slice(0, 300)}`);
  return result.body;
}

export interface BenchUser {
  index: number;
  userId: string;
  username: string;
  password: string;
  token: string;
  secret: string;
  /** The last TOTP step this user spent. */
  lastStep: number;
  wallets: string[];
  agentId: string;
  apiKey: string;
}

const nowSeconds = () => Date.now() / 1000;

/**
 * A step this user has not spent and the API will accept now. `previous`
 * allows the step before the current one (accepted as "just typed"), but only
 * with 3 s left before it stops counting, so setup spends two steps at once.
 */
export async function takeStep(user: Pick<BenchUser, 'lastStep'>, options: { previous?: boolean } = {}): Promise<number> {
  for (;;) {
    const t = nowSeconds();
    const current = stepAt(t);
    const left = (current + 1) * 30 - t;
    if (options.previous && user.lastStep < current - 1 && left > 3) {
      user.lastStep = current - 1;
      return current - 1;
    }
    if (user.lastStep < current) {
      user.lastStep = current;
      return current;
    }
    await sleep(left * 1000 + 50);
  }
}

export async function codeFor(user: Pick<BenchUser, 'secret'>, step: number): Promise<string> {
  return totpCode(user.secret, step * 30);
}

export interface SetupOptions {
  walletsPerUser: number;
  fundWei: bigint;
  rpcUrl: string;
}

/** register → login → setup_mfa → confirm_mfa (previous step) → wallets → agent (current step). */
export async function setupUser(base: string, index: number, options: SetupOptions): Promise<BenchUser> {
  const username = `bench${index}_${randomBytes(4).toString('hex')}`;
  const password = `pw-${randomBytes(12).toString('base64url')}`;
  const registered = expect(await http<{ user_id: string }>(base, 'POST', '/api/register', { body: { username, password } }), 201, 'register');
  const login = expect(await http<{ access_token: string }>(base, 'POST', '/api/login', { body: { username, password } }), 200, 'login');
  const token = login.access_token;
  const setup = expect(await http<{ secret: string }>(base, 'POST', '/api/setup_mfa', { token }), 201, 'setup_mfa');
  const user: BenchUser = { index, userId: registered.user_id, username, password, token, secret: setup.secret, lastStep: -1, wallets: [], agentId: '', apiKey: '' };
  const confirmStep = await takeStep(user, { previous: true });
  expect(await http(base, 'POST', '/api/confirm_mfa', { token, body: { mfa_code: await codeFor(user, confirmStep) } }), 200, 'confirm_mfa');
  for (let w = 0; w < options.walletsPerUser; w++) {
    const created = expect(
      await http<{ address: string }>(base, 'POST', '/api/create_wallet', { token, body: { password, label: `bench-${w}` } }),
      201,
      'create_wallet',
    );
    user.wallets.push(created.address);
  }
  const agentStep = await takeStep(user);
  const agent = expect(
    await http<{ agent_id: string; api_key: string }>(base, 'POST', '/api/agents', {
      token,
      body: { name: `bench-agent-${index}`, wallet_addresses: user.wallets, mfa_code: await codeFor(user, agentStep) },
    }),
    201,
    'create agent',
  );
  user.agentId = agent.agent_id;
  user.apiKey = agent.api_key;
  await fund(options.rpcUrl, user.wallets, options.fundWei);
  return user;
}

/** Sets balances on anvil directly (no funding account whose nonce could race). */
export async function fund(rpcUrl: string, addresses: string[], wei: bigint): Promise<void> {
  for (const address of addresses) await rpc(rpcUrl, 'anvil_setBalance', [address, `0x${wei.toString(16)}`]);
}

export async function rpc<T = unknown>(rpcUrl: string, method: string, params: unknown[]): Promise<T> {
  const response = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await response.json()) as { result?: T; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result as T;
}

/** Runs fn over items with at most `limit` in flight, in order of items. */
export const randomAddress = () => `0x${randomBytes(20).toString('hex')}`;
