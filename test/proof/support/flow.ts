/**
 * The moves of a fault test, over the public HTTP API only: owners with a
 * wallet and an agent, requests left in each state (pending approval,
 * approved, executing), approvals with one TOTP code per batch, and waits.
 *
 * Every answer passes through an `ApiClient`, which counts server errors: any
 * 5xx except the documented 503 `unavailable` (a dependency is down — the
 * right answer while a fault is injected). The count is the summary's
 * "server errors" column.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { generate } from 'otplib';
import type { TestClock } from '../../../lib/clock';
import { newAgent, newUser, newWallet, randomAddress, type HttpResult, type TestUser } from '../../support/actors';

export interface ServerErrorRecord {
  method: string;
  path: string;
  status: number;
  body: unknown;
}

export interface ApiClient {
  /** The base URLs tried in order; a connection failure moves to the next (a load balancer would). */
  bases: string[];
  call<T = Record<string, unknown>>(method: string, path: string, options?: CallOptions): Promise<HttpResult<T>>;
  serverErrors: ServerErrorRecord[];
  /** 503 `unavailable` answers seen (expected while a dependency is down). */
  unavailable: number;
}

export interface CallOptions {
  token?: string;
  apiKey?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** Only this base, no failover. */
  base?: string;
  timeoutMs?: number;
}

export function isDocumentedUnavailable(status: number, body: unknown): boolean {
  return status === 503 && (body as { error?: { code?: string } } | undefined)?.error?.code === 'unavailable';
}

export function createApiClient(bases: string | string[]): ApiClient {
  const list = Array.isArray(bases) ? bases : [bases];
  const client: ApiClient = {
    bases: list,
    serverErrors: [],
    unavailable: 0,
    async call<T>(method: string, path: string, options: CallOptions = {}): Promise<HttpResult<T>> {
      const headers: Record<string, string> = { ...(options.headers ?? {}) };
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      if (options.apiKey) headers['x-api-key'] = options.apiKey;
      if (options.body !== undefined) headers['content-type'] = 'application/json';
      const targets = options.base ? [options.base] : client.bases;
      let lastError: unknown;
      for (const base of targets) {
        let response: Response;
        try {
          response = await fetch(`${base}${path}`, {
            method,
            headers,
            ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
            signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
          });
        } catch (error) {
          // Connection refused or reset: that instance is gone; try the next one.
          lastError = error;
          continue;
        }
        const text = await response.text();
        let body: unknown;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          body = text;
        }
        if (response.status >= 500) {
          if (isDocumentedUnavailable(response.status, body)) client.unavailable += 1;
          else client.serverErrors.push({ method, path, status: response.status, body });
        }
        return { status: response.status, body: body as T, headers: response.headers };
      }
      throw new Error(`${method} ${path}: no API instance answered (${(lastError as Error)?.message ?? 'no base'})`);
    },
  };
  return client;
}

export function expectOk(result: HttpResult<unknown>, status: number, what: string): void {
  assert.equal(result.status, status, `${what}: expected ${status}, got ${result.status} ${JSON.stringify(result.body)}`);
}

// ---------------------------------------------------------------------------------------------
// Owners, wallets, agents

export interface Party {
  owner: TestUser;
  wallet: string;
  agent: { agentId: string; apiKey: string };
}

/** An owner with TOTP, one funded wallet, and an agent granted that wallet (via the in-process API's test clock). */
export async function newParty(base: string, clock: TestClock): Promise<Party> {
  const owner = await newUser(base, clock);
  const wallet = (await newWallet(base, owner, 100n)).toLowerCase();
  const agent = await newAgent(base, owner, [wallet]);
  return { owner, wallet, agent };
}

/**
 * A TOTP code for real time, for API processes that run on the system clock.
 * The owner's last accepted step must be in the past: create owners with the
 * in-process API's test clock set back (see `rewindClock`).
 */
export async function realTimeCode(user: TestUser): Promise<string> {
  return generate({ secret: user.secret, epoch: Math.floor(Date.now() / 1000) });
}

/** Sets the test clock an hour back, so setup steps never collide with real-time codes later. */
export function rewindClock(clock: TestClock): void {
  clock.set(new Date(Date.now() - 3_600_000));
}

// ---------------------------------------------------------------------------------------------
// Requests

export type Stage = 'pending' | 'approved' | 'executing' | 'control';

export interface Tracked {
  id: string;
  digest: string;
  party: Party;
  wallet: string;
  recipient: string;
  amount: bigint;
  stage: Stage;
  /** The test approved it (with TOTP). */
  approved: boolean;
  autoExecute: boolean;
}

export async function prepare(api: ApiClient, party: Party, options: { stage: Stage; autoExecute?: boolean; amount?: bigint; base?: string }): Promise<Tracked> {
  const recipient = randomAddress();
  const amount = options.amount ?? BigInt(1000 + Number.parseInt(randomBytes(2).toString('hex'), 16));
  const autoExecute = options.autoExecute ?? false;
  const prepared = await api.call<{ transaction_id: string; digest: string }>('POST', '/api/prepare_transaction', {
    apiKey: party.agent.apiKey,
    body: { wallet_address: party.wallet, kind: 'native', to_address: recipient, amount: amount.toString(), auto_execute: autoExecute, idempotency_key: `proof-${randomBytes(8).toString('hex')}` },
    ...(options.base ? { base: options.base } : {}),
  });
  expectOk(prepared, 202, 'prepare_transaction');
  return { id: prepared.body.transaction_id, digest: prepared.body.digest, party, wallet: party.wallet, recipient, amount, stage: options.stage, approved: false, autoExecute };
}

/**
 * One TOTP code approves the batch (all of one owner). With `tolerateUnavailable`, a
 * request whose Update answered 503 `unavailable` (the orchestrator did not confirm within
 * the API's deadline — e.g. the workflow was cached on a worker that just died) is returned
 * instead of failing: its approval row is written and the Update is still on its way;
 * the caller decides how long to wait for it.
 */
export async function approve(api: ApiClient, requests: Tracked[], options: { code?: string; base?: string; tolerateUnavailable?: boolean } = {}): Promise<Tracked[]> {
  if (requests.length === 0) return [];
  const owner = requests[0]!.party.owner;
  assert.ok(requests.every((r) => r.party.owner === owner), 'a batch belongs to one owner');
  const result = await api.call<{ results: Array<{ transaction_id: string; status: string; error?: unknown }> }>('POST', '/api/authorize_transaction', {
    token: owner.token,
    body: { transaction_ids: requests.map((r) => r.id), digests: requests.map((r) => r.digest), mfa_code: options.code ?? (await owner.nextCode()) },
    ...(options.base ? { base: options.base } : {}),
  });
  expectOk(result, 200, 'authorize_transaction');
  for (const r of requests) r.approved = true;
  const unavailable = result.body.results.filter((r) => options.tolerateUnavailable && (r.error as { code?: string } | undefined)?.code === 'unavailable');
  const failed = result.body.results.filter((r) => r.error && !unavailable.includes(r));
  assert.deepEqual(failed, [], 'every request in the batch was approved');
  return requests.filter((r) => unavailable.some((u) => u.transaction_id === r.id));
}

export async function execute(api: ApiClient, request: Tracked, options: { base?: string } = {}): Promise<HttpResult> {
  return api.call('POST', '/api/execute_transaction', {
    apiKey: request.party.agent.apiKey,
    body: { transaction_id: request.id },
    ...(options.base ? { base: options.base } : {}),
  });
}

/**
 * Executes until the workflow has it: 202, or 200 with the status (an earlier attempt that
 * answered 503 was delivered after all, and execute is idempotent). 503 `unavailable` — the orchestrator did not confirm
 * within the API's deadline — is retried, as a client should. Returns how many 503s it met.
 */
export async function executeUntilAccepted(api: ApiClient, request: Tracked, timeoutMs = 90_000, options: { base?: string } = {}): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let unavailable = 0;
  for (;;) {
    const answer = await execute(api, request, options);
    if (answer.status === 202 || answer.status === 200) return unavailable;
    assert.ok(isDocumentedUnavailable(answer.status, answer.body), `execute ${request.id}: ${answer.status} ${JSON.stringify(answer.body)}`);
    unavailable += 1;
    assert.ok(Date.now() < deadline, `execute ${request.id} still answered 503 after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export interface TransactionView {
  transaction_id: string;
  status: string;
  tx_hash: string | null;
  nonce: string | null;
  error: string | null;
  [key: string]: unknown;
}

export async function getStatus(api: ApiClient, request: Tracked): Promise<TransactionView> {
  const result = await api.call<TransactionView>('GET', `/api/transactions/${request.id}`, { token: request.party.owner.token });
  expectOk(result, 200, `GET /api/transactions/${request.id}`);
  return result.body;
}

/** Polls until `predicate` holds for the request's view; the last view is in the error otherwise. */
export async function waitForView(
  api: ApiClient,
  request: Tracked,
  predicate: (view: TransactionView) => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<TransactionView> {
  const deadline = Date.now() + timeoutMs;
  let last: TransactionView | undefined;
  let lastProblem = '';
  while (Date.now() < deadline) {
    try {
      last = await getStatus(api, request);
      if (predicate(last)) return last;
      // A final status never changes again: no point waiting for another one.
      if (FINAL.includes(last.status)) break;
    } catch (error) {
      lastProblem = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${request.stage} request ${request.id} did not reach "${what}" (waited up to ${timeoutMs / 1000} s); last view: ${JSON.stringify(last && { status: last.status, error: last.error, tx_hash: last.tx_hash })} ${lastProblem}`);
}

export const FINAL = ['confirmed', 'failed', 'rejected', 'expired', 'cancelled'];

/** Waits until every request is final; returns the views by id. */
export async function waitAllFinal(api: ApiClient, requests: Tracked[], timeoutMs: number): Promise<Map<string, TransactionView>> {
  const deadline = Date.now() + timeoutMs;
  const views = new Map<string, TransactionView>();
  for (const request of requests) {
    const remaining = Math.max(1000, deadline - Date.now());
    views.set(request.id, await waitForView(api, request, (v) => FINAL.includes(v.status), 'a final status', remaining));
  }
  return views;
}

/** How many of the requests currently show each status (for notes and progress checks). */
export async function statusCounts(api: ApiClient, requests: Tracked[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const r of requests) {
    const view = await getStatus(api, r);
    counts[view.status] = (counts[view.status] ?? 0) + 1;
  }
  return counts;
}
