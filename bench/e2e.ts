/**
 * End to end, through the public API, on the real clock.
 *
 * A closed loop keeps `concurrency` flows in flight; each flow is: an agent
 * prepares (POST /api/prepare_transaction) on one of its owner's wallets → the
 * owner approves it in a batch with one TOTP code (POST
 * /api/authorize_transaction) → the agent executes (POST
 * /api/execute_transaction) → the worker signs, broadcasts, anvil (automine)
 * mines, the worker confirms. A slot is reused when the projection says the
 * flow ended.
 *
 * Owners are people: each may approve once per 30-second step. So owner i
 * clears its inbox once per step at its own second of the step (spread evenly
 * over the step), and a new flow goes to the owner whose next clearing comes
 * soonest after the prepare should have answered. Approval batches therefore
 * stay small and frequent, the way many people clearing their inboxes look
 * from the server, and the wait for a human is a fraction of a second instead
 * of the step itself. Flows spread over every owner's wallets in turn (no
 * single nonce row to fight over).
 *
 * Timings come from two clocks on the same machine: the bench's (HTTP calls)
 * and the projection's transaction_events rows (written by the API and the
 * worker as each status lands).
 */
import type { Db } from '../lib/db';
import { stepAt } from '../domains/mfa/totp';
import { codeFor, http, randomAddress, type BenchUser } from './lib/actors';
import { summarize, median, sleep, type Summary } from './lib/stats';

export interface E2eOptions {
  apiUrl: string;
  db: Db;
  users: BenchUser[];
  concurrency: number;
  warmupMs: number;
  windowMs: number;
  drainMs: number;
  note: (message: string) => void;
  /** Called at the window's start and end (CPU accounting). */
  onWindow?: (edge: 'start' | 'end') => void;
}

interface Flow {
  user: BenchUser;
  wallet: string;
  id?: string;
  digest?: string;
  prepStart: number;
  prepEnd?: number;
  prepMs?: number;
  authStart?: number;
  authEnd?: number;
  execStart?: number;
  execEnd?: number;
  execMs?: number;
  batchSize?: number;
  done?: number;
  finalStatus?: string;
  error?: string;
  prepared: Promise<void>;
}

interface Batch {
  user: BenchUser;
  step: number;
  /** Epoch ms at which the owner clears the inbox. */
  at: number;
  flows: Flow[];
}

export interface E2eResult {
  concurrency: number;
  users: number;
  wallets: number;
  windowSeconds: number;
  flowsStarted: number;
  flowsConfirmedInWindow: number;
  flowsPerSecond: number;
  errors: Record<string, number>;
  latencyMs: {
    prepare: Summary;
    approve: Summary;
    approveToBroadcast: Summary;
    prepareToConfirmed: Summary;
  };
  /** Medians of each step, ms, for flows prepared in the window. */
  breakdownMs: Record<string, number | undefined>;
  approvalBatchSize: Summary;
  approveRequests: number;
}

const TERMINAL = ['confirmed', 'failed', 'rejected', 'expired', 'cancelled'];
const MAX_BATCH = 50;

export async function runEndToEnd(options: E2eOptions): Promise<E2eResult> {
  const { apiUrl, users } = options;
  const flows: Flow[] = [];
  const recipients = Array.from({ length: 16 }, randomAddress);
  const errors: Record<string, number> = {};
  const countError = (what: string) => (errors[what] = (errors[what] ?? 0) + 1);
  const walletTurn = new Map<string, number>();
  const authorizeRequests: { at: number; ms: number; size: number }[] = [];

  // Each owner clears the inbox once per step, at second phase(i) of the step.
  const phase = (i: number) => 1000 + Math.floor((i * 27_000) / users.length);
  const batches = new Map<string, Batch>();
  const nextBatch = (user: BenchUser, after: number): Batch => {
    let step = Math.max(user.lastStep + 1, stepAt(after / 1000));
    while (step * 30_000 + phase(user.index) <= after) step += 1;
    return { user, step, at: step * 30_000 + phase(user.index), flows: [] };
  };
  for (const user of users) batches.set(user.userId, nextBatch(user, Date.now()));

  const recentPrepareMs: number[] = [];
  const lead = () => Math.min(3000, Math.max(300, 1.5 * (median(recentPrepareMs.slice(-50)) ?? 200)));

  const started = Date.now();
  const windowStart = started + options.warmupMs;
  const windowEnd = windowStart + options.windowMs;
  let generating = true;
  let inFlight = 0;
  const executed = new Set<Flow>();
  let windowEdges = 0;

  function pickBatch(now: number): Batch | undefined {
    let best: Batch | undefined;
    const earliest = now + lead();
    for (const batch of batches.values()) {
      if (batch.at < earliest || batch.flows.length >= MAX_BATCH) continue;
      if (!best || batch.at < best.at) best = batch;
    }
    return best;
  }

  function finish(flow: Flow, error?: string) {
    if (flow.done !== undefined) return;
    flow.done = Date.now();
    if (error) {
      flow.error = error;
      countError(error);
    }
    executed.delete(flow);
    inFlight -= 1;
    fill();
  }

  function fill() {
    while (generating && inFlight < options.concurrency) {
      const now = Date.now();
      const batch = pickBatch(now);
      if (!batch) return;
      inFlight += 1;
      const user = batch.user;
      const turn = walletTurn.get(user.userId) ?? 0;
      walletTurn.set(user.userId, turn + 1);
      const flow: Flow = { user, wallet: user.wallets[turn % user.wallets.length]!, prepStart: now, prepared: Promise.resolve() };
      flow.prepared = prepare(flow, recipients[flows.length % recipients.length]!);
      batch.flows.push(flow);
      flows.push(flow);
    }
  }

  async function prepare(flow: Flow, to: string) {
    try {
      const result = await http<{ transaction_id: string; digest: string }>(apiUrl, 'POST', '/api/prepare_transaction', {
        apiKey: flow.user.apiKey,
        body: { wallet_address: flow.wallet, kind: 'native', to_address: to, amount: '1000', memo: 'bench' },
      });
      flow.prepEnd = Date.now();
      flow.prepMs = result.ms;
      recentPrepareMs.push(result.ms);
      if (result.status !== 202) return finish(flow, `prepare ${result.status}`);
      flow.id = result.body.transaction_id;
      flow.digest = result.body.digest;
    } catch (err) {
      finish(flow, `prepare ${(err as Error).name}`);
    }
  }

  async function clear(batch: Batch) {
    await Promise.all(batch.flows.map((f) => f.prepared));
    const ready = batch.flows.filter((f) => f.id && f.done === undefined);
    if (ready.length === 0) return;
    const user = batch.user;
    // A code counts for its step and the next; spend a later one if the prepares ran late.
    const step = Math.max(batch.step, user.lastStep + 1, stepAt(Date.now() / 1000) - 1);
    user.lastStep = step;
    while (step > stepAt(Date.now() / 1000)) await sleep(100);
    const code = await codeFor(user, step);
    const authStart = Date.now();
    for (const f of ready) f.authStart = authStart;
    let result;
    try {
      result = await http<{ results: { transaction_id: string; status: string; error?: { code: string; reason?: string } }[] }>(apiUrl, 'POST', '/api/authorize_transaction', {
        token: user.token,
        body: { transaction_ids: ready.map((f) => f.id), digests: ready.map((f) => f.digest), mfa_code: code },
      });
    } catch (err) {
      for (const f of ready) finish(f, `authorize ${(err as Error).name}`);
      return;
    }
    const authEnd = Date.now();
    authorizeRequests.push({ at: authStart, ms: result.ms, size: ready.length });
    if (result.status !== 200) {
      for (const f of ready) finish(f, `authorize ${result.status} ${(result.body as unknown as { error?: { code?: string } })?.error?.code ?? ''}`.trim());
      return;
    }
    const byId = new Map(result.body.results.map((r) => [r.transaction_id, r]));
    await Promise.all(
      ready.map(async (f) => {
        f.authEnd = authEnd;
        f.batchSize = ready.length;
        const r = byId.get(f.id!);
        if (!r || r.status !== 'approved') return finish(f, `approve ${r?.error?.reason ?? r?.error?.code ?? r?.status ?? 'missing'}`);
        await execute(f);
      }),
    );
  }

  async function execute(flow: Flow) {
    flow.execStart = Date.now();
    try {
      const result = await http(apiUrl, 'POST', '/api/execute_transaction', { apiKey: flow.user.apiKey, body: { transaction_id: flow.id } });
      flow.execEnd = Date.now();
      flow.execMs = result.ms;
      if (result.status !== 202) return finish(flow, `execute ${result.status}`);
      executed.add(flow);
    } catch (err) {
      finish(flow, `execute ${(err as Error).name}`);
    }
  }

  // The owners' clock: clear every inbox whose second has come.
  const clearing = new Set<Promise<void>>();
  const scheduler = setInterval(() => {
    const now = Date.now();
    if (windowEdges === 0 && now >= windowStart) {
      windowEdges = 1;
      options.onWindow?.('start');
    }
    if (windowEdges === 1 && now >= windowEnd) {
      windowEdges = 2;
      options.onWindow?.('end');
      generating = false;
    }
    for (const [key, batch] of batches) {
      if (batch.at > now) continue;
      batches.set(key, nextBatch(batch.user, Math.max(now, batch.at) + 1));
      if (batch.flows.length === 0) continue;
      const p = clear(batch).catch((err: unknown) => options.note(`approval failed: ${(err as Error).message}`));
      clearing.add(p);
      void p.finally(() => clearing.delete(p));
    }
    fill();
  }, 20);

  // The agents' view of the end: the projection, polled in one query.
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const ids = [...executed].map((f) => f.id!);
      if (ids.length > 0) {
        const rows = (await options.db('transactions').whereIn('id', ids).whereIn('status', TERMINAL).select('id', 'status')) as { id: string; status: string }[];
        const byId = new Map([...executed].map((f) => [f.id!, f]));
        for (const row of rows) {
          const flow = byId.get(row.id);
          if (!flow) continue;
          flow.finalStatus = row.status;
          finish(flow, row.status === 'confirmed' ? undefined : `ended ${row.status}`);
        }
      }
      await sleep(100);
    }
  })();

  fill();
  let lastReport = Date.now();
  while (Date.now() < windowEnd || (inFlight > 0 && Date.now() < windowEnd + options.drainMs)) {
    await sleep(200);
    if (Date.now() - lastReport >= 10_000) {
      lastReport = Date.now();
      const confirmed = flows.filter((f) => f.finalStatus === 'confirmed').length;
      options.note(`  ${Math.round((Date.now() - started) / 1000)} s: ${flows.length} flows started, ${confirmed} confirmed, ${inFlight} in flight`);
    }
  }
  generating = false;
  clearInterval(scheduler);
  if (windowEdges === 1) options.onWindow?.('end');
  await Promise.allSettled([...clearing]);
  polling = false;
  await poller;
  for (const flow of flows) if (flow.done === undefined) finish(flow, 'unfinished at the end of the drain');

  // Per-status times from the projection.
  const ids = flows.flatMap((f) => (f.id ? [f.id] : []));
  const events = new Map<string, Record<string, number>>();
  for (let i = 0; i < ids.length; i += 1000) {
    const rows = (await options.db('transaction_events').whereIn('transaction_id', ids.slice(i, i + 1000)).select('transaction_id', 'status', 'created_at')) as {
      transaction_id: string;
      status: string;
      created_at: Date;
    }[];
    for (const row of rows) {
      const entry = events.get(row.transaction_id) ?? {};
      entry[row.status] ??= row.created_at.getTime();
      events.set(row.transaction_id, entry);
    }
  }
  const at = (flow: Flow, status: string) => (flow.id ? events.get(flow.id)?.[status] : undefined);
  const inWindow = (t: number | undefined) => t !== undefined && t >= windowStart && t < windowEnd;
  const confirmedInWindow = flows.filter((f) => inWindow(at(f, 'confirmed'))).length;
  const measured = flows.filter((f) => inWindow(f.prepStart));
  const diffs = (pick: (f: Flow) => number | undefined) => measured.map(pick).filter((v): v is number => v !== undefined && Number.isFinite(v));
  const sub = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? a - b : undefined);
  const windowAuth = authorizeRequests.filter((r) => inWindow(r.at));

  return {
    concurrency: options.concurrency,
    users: users.length,
    wallets: users.reduce((n, u) => n + u.wallets.length, 0),
    windowSeconds: options.windowMs / 1000,
    flowsStarted: flows.length,
    flowsConfirmedInWindow: confirmedInWindow,
    flowsPerSecond: confirmedInWindow / (options.windowMs / 1000),
    errors,
    latencyMs: {
      prepare: summarize(diffs((f) => f.prepMs)),
      approve: summarize(windowAuth.map((r) => r.ms)),
      approveToBroadcast: summarize(diffs((f) => sub(at(f, 'broadcast'), f.authEnd))),
      prepareToConfirmed: summarize(diffs((f) => sub(at(f, 'confirmed'), f.prepStart))),
    },
    breakdownMs: {
      'prepare (HTTP)': median(diffs((f) => f.prepMs)),
      'waiting for the owner (batching)': median(diffs((f) => sub(f.authStart, f.prepEnd))),
      'approve (HTTP, whole batch)': median(windowAuth.map((r) => r.ms)),
      'approve answered → execute sent': median(diffs((f) => sub(f.execStart, f.authEnd))),
      'execute (HTTP)': median(diffs((f) => f.execMs)),
      'execute sent → signed': median(diffs((f) => sub(at(f, 'signing'), f.execStart))),
      'signed → broadcast': median(diffs((f) => sub(at(f, 'broadcast'), at(f, 'signing')))),
      'broadcast → confirmed': median(diffs((f) => sub(at(f, 'confirmed'), at(f, 'broadcast')))),
    },
    approvalBatchSize: summarize(windowAuth.map((r) => r.size)),
    approveRequests: windowAuth.length,
  };
}
