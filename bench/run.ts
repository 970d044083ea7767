/**
 * `npm run bench`: how fast a countersigned transaction flows, against its ceilings.
 *
 *   1. end to end through the API (prepare → TOTP approve in batches → execute → signed,
 *      broadcast, mined by anvil, confirmed): first at light load (2 in flight, the latency
 *      floor), then sustained flows/s over the window with latency percentiles, a per-step
 *      breakdown, CPU and PostgreSQL round trips per flow per component
 *   2. the orchestration ceiling: the same workflow and Temporal operations with no-op
 *      activities on a task queue of their own → end-to-end / ceiling
 *   3. signing: the `sign` activity against a bare ethers signature (and Vault decrypt alone)
 *   4. the API alone (autocannon): transaction_status at a fixed rate and flat out, approval
 *      batches of 1/10/25, prepare_transaction at a fixed concurrency
 *   5. peak RSS (VmHWM) of the API and the worker processes, and the highest sample per phase
 *   6. policies (issue 14): prepare_transaction on a wallet with 20 rules against one with
 *      none, alternating rounds (bench/policy.ts); target: within 10 %
 *
 * Starts its own stack on free ports (or uses POSTGRES_ADMIN_URL + the three *_DATABASE_URL + TEMPORAL_ADDRESS + VAULT_ADDR +
 * WEB3_PROVIDER_URI when all are set — with VAULT_API_TOKEN + VAULT_WORKER_TOKEN, or
 * VAULT_TOKEN for both; the chain must be anvil), runs the API and the worker as child
 * processes (`node --import tsx`, NODE_ENV=production, per-key rate limits raised), prints a
 * table and writes bench/results.json. Loopback only; stops by itself (hard limit
 * BENCH_MAX_MINUTES, default 15).
 *
 * Knobs (environment): BENCH_PHASES (e2e,ceiling,signing,api,policy), BENCH_USERS (60),
 * BENCH_WALLETS_PER_USER (3), BENCH_CONCURRENCY (32), BENCH_CEILING_CONCURRENCY (32),
 * BENCH_WINDOW_SECONDS (60), BENCH_WARMUP_SECONDS (10), BENCH_LIGHT_SECONDS (20, 0 = skip),
 * BENCH_CEILING_WINDOW_SECONDS (30), BENCH_STATUS_RATE (200), BENCH_API_SECONDS (15),
 * BENCH_SIGN_ITERATIONS (50), BENCH_POLICY_ROUNDS (2 per side), BENCH_CPU_PROF=1 (.cpuprofile files of the API and the worker in
 * test-results/bench-profiles/, read them with bench/profile-summary.ts), and for experiments
 * BENCH_APP_ENV (JSON, extra environment of both) and BENCH_NODE_ARGS (extra node flags).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../config/env';
import { createDb, type Db } from '../lib/db';
import { REPO_ROOT } from '../scripts/infra/paths';
import { runEndToEnd, type E2eResult } from './e2e';
import { runCeiling, type CeilingResult } from './ceiling';
import { loadPrepare, loadStatus, type LoadFigures } from './api-load';
import { runSigning, type SigningResult } from './signing';
import { runPolicyBench, type PolicyBenchResult } from './policy';
import { mapLimit } from '../lib/concurrency';
import { codeFor, expect, http, randomAddress, setupUser, takeStep, type BenchUser } from './lib/actors';
import { createWorld, startApp, type AppProcess, type BenchWorld } from './lib/env';
import { cpuMeter, loadAverage, peakRssMiB, rssMiB, type CpuWindow } from './lib/proc';
import { round, sleep, summarize, type Summary } from './lib/stats';

const num = (key: string, fallback: number) => {
  const raw = process.env[key];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${key} must be a positive number`);
  return value;
};

const settings = {
  users: num('BENCH_USERS', 60),
  walletsPerUser: num('BENCH_WALLETS_PER_USER', 3),
  concurrency: num('BENCH_CONCURRENCY', 32),
  ceilingConcurrency: num('BENCH_CEILING_CONCURRENCY', 32),
  windowSeconds: num('BENCH_WINDOW_SECONDS', 60),
  lightSeconds: Number(process.env.BENCH_LIGHT_SECONDS ?? 20),
  warmupSeconds: num('BENCH_WARMUP_SECONDS', 10),
  ceilingWindowSeconds: num('BENCH_CEILING_WINDOW_SECONDS', 30),
  statusRate: num('BENCH_STATUS_RATE', 200),
  apiSeconds: num('BENCH_API_SECONDS', 15),
  signIterations: num('BENCH_SIGN_ITERATIONS', 50),
  policyRounds: num('BENCH_POLICY_ROUNDS', 2),
  maxMinutes: num('BENCH_MAX_MINUTES', 15),
  cpuProf: process.env.BENCH_CPU_PROF === '1',
  /** Experiments: extra environment for the API and the worker (JSON object), extra node flags (space-separated). */
  appEnv: JSON.parse(process.env.BENCH_APP_ENV ?? '{}') as Record<string, string>,
  nodeArgs: (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
};
const ALL_PHASES = ['e2e', 'ceiling', 'api', 'signing', 'policy'];
const phases = new Set((process.env.BENCH_PHASES ?? ALL_PHASES.join(',')).split(',').map((p) => p.trim()).filter(Boolean));
for (const p of phases) if (!ALL_PHASES.includes(p)) throw new Error(`BENCH_PHASES: unknown phase ${p} (known: ${ALL_PHASES.join(', ')})`);
/**
 * Raised for the bench only, so the load generator measures the service rather than the limiter
 * (every simulated owner and agent connects from the one loopback address, hence no connection cap either).
 */
const RATE_LIMITS = { RATE_LIMIT_PER_MINUTE: '10000000', AGENT_RATE_LIMIT_PER_MINUTE: '10000000', HTTP_MAX_CONNECTIONS_PER_ADDRESS: '0' };

const began = Date.now();
const say = (message: string) => process.stdout.write(`[bench ${String(Math.round((Date.now() - began) / 1000)).padStart(3)} s] ${message}\n`);

interface Figure {
  name: string;
  value: number | undefined;
  unit: string;
  target?: string;
  met?: boolean;
}

async function main(): Promise<number> {
  const apps: AppProcess[] = [];
  let world: BenchWorld | undefined;
  let db: Db | undefined;
  let temporal: Connection | undefined;
  let cleaning: Promise<void> | undefined;
  const cleanup = () => {
    cleaning ??= (async () => {
      for (const app of [...apps].reverse()) await app.stop().catch(() => undefined);
      await temporal?.close().catch(() => undefined);
      await db?.destroy().catch(() => undefined);
      await world?.stop();
    })();
    return cleaning;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    say(`${signal}: stopping…`);
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const watchdog = setTimeout(() => {
    say(`still running after ${settings.maxMinutes} minutes: giving up`);
    void cleanup().then(() => process.exit(1));
  }, settings.maxMinutes * 60_000);
  watchdog.unref();

  try {
    const loadBefore = loadAverage();
    world = await createWorld(say);
    const taskQueue = `bench-${randomBytes(4).toString('hex')}`;
    const profDir = path.join(REPO_ROOT, 'test-results', 'bench-profiles'); // gitignored
    if (settings.cpuProf) fs.mkdirSync(profDir, { recursive: true });
    const nodeArgs = (name: string) => (settings.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', path.join(profDir, name)] : []); // one file per thread
    say('starting the worker and the API (child processes)…');
    const worker = await startApp(world, 'worker', { env: { TEMPORAL_TASK_QUEUE: taskQueue, ...settings.appEnv }, nodeArgs: [...settings.nodeArgs, ...nodeArgs('worker')] });
    apps.push(worker);
    const api = await startApp(world, 'api', { env: { TEMPORAL_TASK_QUEUE: taskQueue, ...RATE_LIMITS, ...settings.appEnv }, nodeArgs: [...settings.nodeArgs, ...nodeArgs('api')] });
    apps.push(api);
    say(`api ${api.url} (pid ${api.pid}), worker pid ${worker.pid}, task queue ${taskQueue}`);

    // The bench's own reads (and set-up) as the owner; the signing phase runs the activity as the worker's role.
    db = createDb({ url: world.env.MIGRATION_DATABASE_URL!, poolMax: 4, applicationName: 'countersign-bench' });
    const rpcUrl = world.env.WEB3_PROVIDER_URI!;

    const rss = createRssSampler({ api: api.pid, worker: worker.pid });
    rss.phase('idle after start');
    await sleep(1000);
    rss.phase('setup (argon2 registrations, QR codes)');

    // ---- actors
    const setupStarted = Date.now();
    say(`setting up ${settings.users} owners (+1 for signing), ${settings.walletsPerUser} wallets and one agent each…`);
    const everyone = await mapLimit(Array.from({ length: settings.users + 1 }, (_, i) => i), 4, (i) =>
      setupUser(api.url, i, { walletsPerUser: i === settings.users ? 1 : settings.walletsPerUser, fundWei: 10n ** 21n, rpcUrl }),
    );
    const users = everyone.slice(0, settings.users);
    const signer = everyone[settings.users]!;
    say(`actors ready in ${((Date.now() - setupStarted) / 1000).toFixed(1)} s`);

    rss.phase('idle after setup');

    // ---- 1. end to end
    // First at light load (2 flows in flight): the latency floor, without queueing behind other flows.
    let light: E2eResult | undefined;
    if (phases.has('e2e')) {
      // Setup spent every owner's current TOTP step (agent creation): approvals start with the next one.
      const next = (Math.max(...users.map((u) => u.lastStep)) + 1) * 30_000;
      if (next > Date.now()) {
        say(`waiting ${Math.ceil((next - Date.now()) / 1000)} s for the owners' next TOTP step…`);
        await sleep(next - Date.now() + 500);
      }
    }
    if (phases.has('e2e') && settings.lightSeconds > 0) {
      rss.phase('end to end, light load');
      say(`end to end at light load: 2 flows in flight for ${settings.lightSeconds} s…`);
      light = await runEndToEnd({ apiUrl: api.url, db, users, concurrency: 2, warmupMs: 2000, windowMs: settings.lightSeconds * 1000, drainMs: 20_000, note: () => {} });
    }
    let e2e: E2eResult | undefined;
    let e2eWindow: CpuWindow | undefined;
    const pgPerFlow: Record<string, { queries: number | undefined; ms: number | undefined }> = {};
    if (phases.has('e2e')) {
      rss.phase('end to end');
      const meter = cpuMeter(() => ({ api: api.pid, worker: worker.pid, ...world!.componentPids }));
      const pgAt: Record<string, { api?: { queries: number; ms: number }; worker?: { queries: number; ms: number } }> = {};
      const markPg = (edge: string) => (pgAt[edge] = { api: api.pgTotals(), worker: worker.pgTotals() });
      say(`end to end: ${settings.concurrency} flows in flight, ${settings.warmupSeconds} s warm-up + ${settings.windowSeconds} s measured…`);
      e2e = await runEndToEnd({
        apiUrl: api.url,
        db,
        users,
        concurrency: settings.concurrency,
        warmupMs: settings.warmupSeconds * 1000,
        windowMs: settings.windowSeconds * 1000,
        drainMs: 30_000,
        note: say,
        onWindow: (edge) => {
          markPg(edge);
          if (edge === 'start') meter.start();
          else meter.end();
        },
      });
      e2eWindow = meter.result();
      for (const who of ['api', 'worker'] as const) {
        const a = pgAt.start?.[who];
        const b = pgAt.end?.[who];
        if (a && b && e2e.flowsConfirmedInWindow > 0) {
          pgPerFlow[who] = { queries: round((b.queries - a.queries) / e2e.flowsConfirmedInWindow, 1), ms: round((b.ms - a.ms) / e2e.flowsConfirmedInWindow, 1) };
        }
      }
      say(`end to end: ${e2e.flowsPerSecond.toFixed(1)} flows/s`);
    }
    const e2eCost = cpuCost(e2eWindow, e2e?.flowsConfirmedInWindow ?? 0);

    // ---- 2. orchestration ceiling
    temporal = await Connection.connect({ address: world.env.TEMPORAL_ADDRESS! });
    const client = new Client({ connection: temporal, namespace: world.env.TEMPORAL_NAMESPACE ?? 'default' });
    const ceilingQueue = `${taskQueue}-noop`;
    let ceiling: CeilingResult | undefined;
    let ceilingWindow: CpuWindow | undefined;
    if (phases.has('ceiling')) {
      rss.phase('ceiling (API and worker idle)');
      say(`orchestration ceiling: no-op activities on ${ceilingQueue}, ${settings.ceilingConcurrency} in flight, ${settings.ceilingWindowSeconds} s measured…`);
      const noop = await startApp(world, 'noop-worker', { env: { TEMPORAL_TASK_QUEUE: ceilingQueue } });
      apps.push(noop);
      const meter = cpuMeter(() => ({ 'noop-worker': noop.pid, ...(world!.componentPids.temporal ? { temporal: world!.componentPids.temporal } : {}) }));
      ceiling = await runCeiling({
        client,
        taskQueue: ceilingQueue,
        concurrency: settings.ceilingConcurrency,
        warmupMs: 5000,
        windowMs: settings.ceilingWindowSeconds * 1000,
        drainMs: 20_000,
        note: say,
        onWindow: (edge) => (edge === 'start' ? meter.start() : meter.end()),
      });
      ceilingWindow = meter.result();
      await noop.stop();
      apps.splice(apps.indexOf(noop), 1);
      say(`ceiling: ${ceiling.flowsPerSecond.toFixed(1)} flows/s`);
    }
    const ceilingCost = cpuCost(ceilingWindow, ceiling?.flowsCompletedInWindow ?? 0);

    // ---- 3. signing (before the API load, whose prepares leave the worker a backlog)
    let signing: SigningResult | undefined;
    if (phases.has('signing')) {
      rss.phase('signing');
      say(`signing: ${settings.signIterations} requests prepared and approved through the API, then signed by the activity…`);
      const signIds = await prepareMany(api.url, signer, settings.signIterations);
      for (let i = 0; i < signIds.length; i += 50) {
        const batch = signIds.slice(i, i + 50);
        const step = await takeStep(signer);
        const body = { transaction_ids: batch.map((p) => p.id), digests: batch.map((p) => p.digest), mfa_code: await codeFor(signer, step) };
        expect(await http(api.url, 'POST', '/api/authorize_transaction', { token: signer.token, body }), 200, 'approve (signing)');
      }
      // The signing gate also wants the agent's execute command: recorded as the API records it,
      // without the Update that would have the workflow sign them before the bench does.
      await recordExecuteCommands(world.env.API_DATABASE_URL!, signIds.map((p) => p.id), signer.agentId);
      const workerConfig = loadConfig({
        NODE_ENV: 'production',
        DATABASE_URL: world.env.WORKER_DATABASE_URL,
        TEMPORAL_ADDRESS: world.env.TEMPORAL_ADDRESS,
        KEYSTORE: 'vault',
        VAULT_ADDR: world.env.VAULT_ADDR,
        ...(world.env.VAULT_WORKER_TOKEN ? { VAULT_TOKEN: world.env.VAULT_WORKER_TOKEN } : { VAULT_ROLE_ID: world.env.VAULT_WORKER_ROLE_ID, VAULT_SECRET_ID: world.env.VAULT_WORKER_SECRET_ID }),
        WEB3_PROVIDER_URI: world.env.WEB3_PROVIDER_URI,
        CHAIN_ID: world.env.CHAIN_ID,
        JWT_SECRET_KEY: world.env.JWT_SECRET_KEY,
        AUDIT_HMAC_KEY: world.env.AUDIT_HMAC_KEY,
        API_KEY_HMAC_KEY: world.env.API_KEY_HMAC_KEY,
      });
      const workerDb = createDb({ url: workerConfig.DATABASE_URL, poolMax: 4, applicationName: 'countersign-bench-worker' });
      try {
        signing = await runSigning({ config: workerConfig, db: workerDb, transactionIds: signIds.map((p) => p.id) });
      } finally {
        await workerDb.destroy();
      }
    }

    // ---- 4. the API alone
    let api3: { statusFixed: LoadFigures; statusMax: LoadFigures; prepare: LoadFigures } | undefined;
    const approveBatches: Record<string, number | undefined> = {};
    let statusInside:
      | { serverSideMs: Summary; postgresRoundTripsPerRequest: number | undefined; postgresMsPerRequest: number | undefined; cpuMsPerRequest?: Record<string, number | undefined>; otherCores?: number }
      | undefined;
    if (phases.has('api')) {
      const reader = users[0]!;
      let statusIds = (await db('transactions').where({ agent_id: reader.agentId }).limit(200).pluck('id')) as string[];
      if (statusIds.length === 0) statusIds = (await prepareMany(api.url, reader, 20)).map((p) => p.id);
      rss.phase('API: transaction_status');
      say(`API alone: transaction_status at ${settings.statusRate} req/s for ${settings.apiSeconds} s…`);
      const pgBefore = api.pgTotals();
      const statusFrom = Date.now();
      const statusCpu = cpuMeter(() => ({ api: api.pid, ...(world!.componentPids.postgres ? { postgres: world!.componentPids.postgres } : {}) }));
      statusCpu.start();
      const statusFixed = await loadStatus({ apiUrl: api.url, apiKey: reader.apiKey, transactionIds: statusIds, connections: 10, durationSeconds: settings.apiSeconds, rate: settings.statusRate });
      statusCpu.end();
      await sleep(600); // the counter file is rewritten twice a second
      const pgAfter = api.pgTotals();
      const statusWindow = statusCpu.result();
      const served = serverSideMs(api.logFile, '/api/transaction_status', statusFrom, Date.now());
      statusInside = {
        serverSideMs: served,
        postgresRoundTripsPerRequest: pgBefore && pgAfter && statusFixed.requests > 0 ? round((pgAfter.queries - pgBefore.queries) / statusFixed.requests, 2) : undefined,
        postgresMsPerRequest: pgBefore && pgAfter && statusFixed.requests > 0 ? round((pgAfter.ms - pgBefore.ms) / statusFixed.requests, 2) : undefined,
        cpuMsPerRequest: statusWindow && statusFixed.requests > 0 ? Object.fromEntries(Object.entries(statusWindow.cores).map(([k, cores]) => [k, round((cores * statusWindow.seconds * 1000) / statusFixed.requests, 2)])) : undefined,
        otherCores: statusWindow?.otherCores,
      };
      say('API alone: transaction_status flat out, 10 connections, 10 s…');
      const statusMax = await loadStatus({ apiUrl: api.url, apiKey: reader.apiKey, transactionIds: statusIds, connections: 10, durationSeconds: 10 });
      // One TOTP code approves a batch: how the answer time grows with the batch (light load).
      rss.phase('API: approval batches');
      say('API alone: approving batches of 1, 10 and 25 requests (one owner, one code each)…');
      for (const [i, size] of [1, 10, 25].entries()) {
        const owner = users[(2 + i) % users.length]!;
        const batch = await prepareMany(api.url, owner, size);
        await sleep(1000); // let the workflows start and settle
        const step = await takeStep(owner);
        const body = { transaction_ids: batch.map((p) => p.id), digests: batch.map((p) => p.digest), mfa_code: await codeFor(owner, step) };
        const answer = await http(api.url, 'POST', '/api/authorize_transaction', { token: owner.token, body });
        expect(answer, 200, `approve a batch of ${size}`);
        approveBatches[String(size)] = round(answer.ms, 1);
      }

      rss.phase('API: prepare_transaction');
      say(`API alone: prepare_transaction, 8 connections, ${settings.apiSeconds} s…`);
      const writer = users[1] ?? users[0]!;
      const prepare = await loadPrepare({ apiUrl: api.url, apiKey: writer.apiKey, walletAddresses: writer.wallets, to: randomAddress(), connections: 8, durationSeconds: settings.apiSeconds });
      api3 = { statusFixed, statusMax, prepare };

    }

    // ---- 6. policies at prepare: 20 rules against none
    let policy: PolicyBenchResult | undefined;
    if (phases.has('policy')) {
      if (users.length < 2) throw new Error('the policy phase needs BENCH_USERS >= 2');
      rss.phase('policies: prepare with 20 rules vs none');
      say(`policies: prepare_transaction on a wallet with 20 rules vs none, 8 connections, ${settings.policyRounds} × ${settings.apiSeconds} s each…`);
      policy = await runPolicyBench({
        apiUrl: api.url,
        plain: users[users.length - 2]!,
        ruled: users[users.length - 1]!,
        chainId: Number(world.env.CHAIN_ID ?? 31337),
        connections: 8,
        secondsPerRound: settings.apiSeconds,
        rounds: settings.policyRounds,
        queries: () => api.pgTotals()?.queries,
        note: say,
      });
    }

    // ---- 5. memory
    const peak = { api: peakRssMiB(api.pid), worker: peakRssMiB(worker.pid) };
    await sleep(600); // the probes write twice a second
    const heaps = { api: api.pgTotals()?.peakMemory, worker: worker.pgTotals()?.peakMemory };
    const rssPhases = rss.stop();
    const loadAfter = loadAverage();

    // ---- stop, then report
    if (world.external) await terminateLeftovers(client, [taskQueue, ceilingQueue]);
    say('stopping…');
    await cleanup();

    const ratio = e2e && ceiling && ceiling.flowsPerSecond > 0 ? e2e.flowsPerSecond / ceiling.flowsPerSecond : undefined;
    const figures: Figure[] = [
      fig('end to end, sustained', e2e?.flowsPerSecond, 'flows/s', '>= 15', (v) => v >= 15),
      fig('prepare p50', e2e?.latencyMs.prepare.p50, 'ms'),
      fig('prepare p95', e2e?.latencyMs.prepare.p95, 'ms'),
      fig('prepare p99', e2e?.latencyMs.prepare.p99, 'ms'),
      fig(`approve p50 (batch of ~${round(e2e?.approvalBatchSize.p50, 0) ?? '?'})`, e2e?.latencyMs.approve.p50, 'ms'),
      fig('approve p95', e2e?.latencyMs.approve.p95, 'ms'),
      fig('approve p99', e2e?.latencyMs.approve.p99, 'ms'),
      fig('approve → broadcast p50', e2e?.latencyMs.approveToBroadcast.p50, 'ms', '<= 150', (v) => v <= 150),
      fig('approve → broadcast p95', e2e?.latencyMs.approveToBroadcast.p95, 'ms'),
      fig('approve → broadcast p99', e2e?.latencyMs.approveToBroadcast.p99, 'ms'),
      fig('light load (2 in flight): approve → broadcast p50', light?.latencyMs.approveToBroadcast.p50, 'ms'),
      fig('light load: prepare → confirmed p50', light?.latencyMs.prepareToConfirmed.p50, 'ms'),
      fig('prepare → confirmed p50', e2e?.latencyMs.prepareToConfirmed.p50, 'ms'),
      fig('prepare → confirmed p95', e2e?.latencyMs.prepareToConfirmed.p95, 'ms'),
      fig('prepare → confirmed p99', e2e?.latencyMs.prepareToConfirmed.p99, 'ms'),
      fig('orchestration ceiling (no-op activities)', ceiling?.flowsPerSecond, 'flows/s'),
      fig('end to end / ceiling', ratio, 'ratio', '>= 0.6', (v) => v >= 0.6),
      fig('other work on the machine during e2e', e2eWindow?.otherCores, 'cores'),
      fig('CPU per e2e flow (API+worker+stack)', e2eCost.serviceMsPerFlow, 'ms'),
      fig('PostgreSQL round trips per e2e flow, API', pgPerFlow.api?.queries, 'queries'),
      fig('PostgreSQL round trips per e2e flow, worker', pgPerFlow.worker?.queries, 'queries'),
      fig(`e2e capacity if CPU-bound on ${os.cpus().length} idle cores`, e2eCost.capacityPerSecond, 'flows/s'),
      fig('CPU per ceiling flow (Temporal+worker)', ceilingCost.serviceMsPerFlow, 'ms'),
      fig(`ceiling capacity if CPU-bound on ${os.cpus().length} idle cores`, ceilingCost.capacityPerSecond, 'flows/s'),
      fig('e2e / ceiling, CPU-bound capacities', ceilingCost.capacityPerSecond && e2eCost.capacityPerSecond ? e2eCost.capacityPerSecond / ceilingCost.capacityPerSecond : undefined, 'ratio'),
      fig(`transaction_status p50 @ ${settings.statusRate} req/s`, api3?.statusFixed.latencyMs.p50, 'ms'),
      fig(`transaction_status p99 @ ${settings.statusRate} req/s`, api3?.statusFixed.latencyMs.p99, 'ms', '<= 20', (v) => v <= 20),
      fig(`transaction_status p99 inside the API (its log)`, statusInside?.serverSideMs.p99, 'ms'),
      fig('transaction_status PostgreSQL round trips', statusInside?.postgresRoundTripsPerRequest, 'queries'),
      fig('transaction_status CPU per request, API', statusInside?.cpuMsPerRequest?.api, 'ms'),
      fig('other work on the machine during it', statusInside?.otherCores, 'cores'),
      fig('transaction_status flat out (10 conn.)', api3?.statusMax.requestsPerSecond, 'req/s'),
      fig('transaction_status p99 flat out', api3?.statusMax.latencyMs.p99, 'ms'),
      fig('prepare_transaction (8 conn.)', api3?.prepare.requestsPerSecond, 'req/s'),
      fig('prepare_transaction p50 (8 conn.)', api3?.prepare.latencyMs.p50, 'ms'),
      fig('prepare_transaction p99 (8 conn.)', api3?.prepare.latencyMs.p99, 'ms'),
      fig('prepare_transaction, no rules (8 conn.)', policy?.plainPerSecond, 'req/s'),
      fig('prepare_transaction, 20 rules (8 conn.)', policy?.ruledPerSecond, 'req/s'),
      fig('prepare with 20 rules / with none', policy?.ratio, 'ratio', '>= 0.9', (v) => v >= 0.9),
      fig('PostgreSQL round trips per prepare, no rules', policy?.queriesPerPrepare.plain, 'queries'),
      fig('PostgreSQL round trips per prepare, 20 rules', policy?.queriesPerPrepare.ruled, 'queries'),
      fig('approve a batch of 1 (light load)', approveBatches['1'], 'ms'),
      fig('approve a batch of 10 (light load)', approveBatches['10'], 'ms'),
      fig('approve a batch of 25 (light load)', approveBatches['25'], 'ms'),
      fig('sign activity p50', signing?.signActivityMs.p50, 'ms'),
      fig('Vault transit decrypt p50', signing?.keystoreDecryptMs.p50, 'ms'),
      fig('bare ethers signature p50', signing?.bareEthersSignMs.p50, 'ms'),
      fig('sign activity / bare ethers', signing?.ratio, 'ratio'),
      fig('sign activity: PostgreSQL round trips', signing?.perSign.dbQueries, 'queries'),
      fig('sign activity: time in PostgreSQL', signing?.perSign.dbMs, 'ms'),
      fig('sign activity: time in the node (fees, nonce)', signing?.perSign.rpcMs, 'ms'),
      fig('API peak RSS', peak.api, 'MiB', '<= 250', (v) => v <= 250),
      fig('worker peak RSS', peak.worker, 'MiB', '<= 350', (v) => v <= 350),
    ];

    const results = {
      date: new Date().toISOString(),
      commit: gitCommit(),
      command: 'npm run bench',
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGiB: round(os.totalmem() / 2 ** 30, 1), node: process.version, loadAverageBefore: loadBefore, loadAverageAfter: loadAfter },
      stack: world.external ? 'external (from the environment)' : 'started by the bench (test mode, free ports)',
      settings: { ...settings, phases: [...phases], rateLimitsRaisedTo: RATE_LIMITS, apiAndWorker: 'NODE_ENV=production, LOG_LEVEL=info, DATABASE_POOL_MAX default (10), prebuilt workflow bundle' },
      figures,
      details: {
        endToEnd: e2e,
        endToEndLightLoad: light,
        cpu: {
          note: 'cores = CPU seconds / wall seconds in the measured window; perFlowMs = CPU ms per completed flow; capacity = idle cores / CPU seconds per flow of the service (bench client excluded)',
          endToEnd: { window: e2eWindow, ...e2eCost, postgresRoundTripsPerFlow: pgPerFlow },
          ceiling: { window: ceilingWindow, ...ceilingCost },
        },
        ceiling,
        api: api3 ? { ...api3, statusInside, approveBatchMs: approveBatches } : undefined,
        signing,
        policy,
        peakRssMiB: peak,
        rssByPhaseMiB: rssPhases,
        mainThreadPeakMemoryMiB: heaps,
      },
    };
    fs.writeFileSync(path.join(REPO_ROOT, 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    printTable(figures);
    if (light) printSteps('at light load (2 in flight)', light);
    if (e2e) printBreakdown(e2e, e2eWindow, e2eCost);
    printRss(rssPhases, heaps);
    process.stdout.write(`\nwritten: bench/results.json (commit ${results.commit}, load average before ${loadBefore.join(' ')}, after ${loadAfter.join(' ')})\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`\nbench failed: ${(err as Error).stack ?? String(err)}\n`);
    for (const app of apps) process.stderr.write(`\n--- ${app.name} log tail (${app.logFile}) ---\n${app.logTail(20)}\n`);
    await cleanup();
    return 1;
  } finally {
    clearTimeout(watchdog);
  }
}

function fig(name: string, value: number | undefined, unit: string, target?: string, ok?: (v: number) => boolean): Figure {
  const rounded = unit === 'ratio' ? round(value, 2) : round(value, 1);
  return { name, value: rounded, unit, ...(target ? { target } : {}), ...(ok && value !== undefined ? { met: ok(value) } : {}) };
}

function printTable(figures: Figure[]) {
  const rows = figures.map((f) => [f.name, f.value === undefined ? '–' : String(f.value), f.unit, f.target ?? '', f.met === undefined ? '' : f.met ? 'ok' : 'MISS']);
  const header = ['figure', 'value', 'unit', 'target', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  process.stdout.write(`\n${line(header)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(line).join('\n')}\n`);
}

function printSteps(title: string, e2e: E2eResult) {
  process.stdout.write(`\nwhere a flow spends its time ${title} (medians, ms):\n`);
  for (const [step, ms] of Object.entries(e2e.breakdownMs)) process.stdout.write(`  ${step.padEnd(36)} ${ms === undefined ? '–' : Math.round(ms)}\n`);
}

function printBreakdown(e2e: E2eResult, window: CpuWindow | undefined, cost: ReturnType<typeof cpuCost>) {
  printSteps(`at ${e2e.concurrency} in flight`, e2e);
  if (window) {
    process.stdout.write('\nCPU during the end-to-end window (cores busy; CPU ms per confirmed flow):\n');
    for (const [name, cores] of Object.entries(window.cores)) process.stdout.write(`  ${name.padEnd(12)} ${cores.toFixed(2).padStart(6)}   ${String(cost.perFlowMs[name] ?? '–').padStart(7)}\n`);
    if (window.otherCores !== undefined) process.stdout.write(`  ${'(not ours)'.padEnd(12)} ${window.otherCores.toFixed(2).padStart(6)}\n`);
  }
  const errors = Object.entries(e2e.errors);
  if (errors.length > 0) process.stdout.write(`\nend-to-end errors: ${errors.map(([k, v]) => `${k} × ${v}`).join(', ')}\n`);
}

/**
 * CPU per completed flow, per component, and the throughput the service could reach if CPU
 * were the only limit and every core of this machine were ours (the bench client excluded).
 */
function cpuCost(window: CpuWindow | undefined, flows: number) {
  const perFlowMs: Record<string, number | undefined> = {};
  let service = 0;
  if (window && flows > 0) {
    for (const [name, cores] of Object.entries(window.cores)) {
      const ms = (cores * window.seconds * 1000) / flows;
      perFlowMs[name] = round(ms, 1);
      if (name !== 'bench') service += ms;
    }
  }
  return {
    perFlowMs,
    serviceMsPerFlow: service > 0 ? round(service, 1) : undefined,
    capacityPerSecond: service > 0 ? round((os.cpus().length * 1000) / service, 1) : undefined,
  };
}

/** Samples VmRSS of the API and the worker twice a second and keeps the highest value per phase. */
function createRssSampler(pids: Record<string, number>) {
  const byPhase: Record<string, Record<string, number>> = {};
  let current = 'start';
  const sample = () => {
    const entry = (byPhase[current] ??= {});
    for (const [name, pid] of Object.entries(pids)) {
      const mib = rssMiB(pid);
      if (mib !== undefined) entry[name] = Math.max(entry[name] ?? 0, round(mib, 1)!);
    }
  };
  const timer = setInterval(sample, 500);
  return {
    phase(name: string) {
      sample();
      current = name;
      sample();
    },
    stop() {
      sample();
      clearInterval(timer);
      return byPhase;
    },
  };
}

function printRss(byPhase: Record<string, Record<string, number>>, heaps: Record<string, Record<'heapTotal' | 'heapUsed' | 'external', number> | undefined>) {
  process.stdout.write('\nresident memory, highest sample per phase (MiB):\n');
  for (const [phase, values] of Object.entries(byPhase)) {
    process.stdout.write(`  ${phase.padEnd(32)} ${Object.entries(values).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
  }
  for (const [name, heap] of Object.entries(heaps)) {
    if (heap) process.stdout.write(`  ${name} main thread, peak: JS heap ${Math.round(heap.heapTotal)} (used ${Math.round(heap.heapUsed)}), external ${Math.round(heap.external)}\n`);
  }
}

/** The API's own duration of each request to `route` between two instants, from its request log (pino JSON lines). */
function serverSideMs(logFile: string, route: string, from: number, to: number): Summary {
  const values: number[] = [];
  let text: string;
  try {
    text = fs.readFileSync(logFile, 'utf8');
  } catch {
    return summarize([]);
  }
  for (const line of text.split('\n')) {
    if (!line.includes(route)) continue;
    try {
      const entry = JSON.parse(line) as { path?: string; ms?: number; time?: string };
      const at = entry.time ? Date.parse(entry.time) : NaN;
      if (entry.path === route && typeof entry.ms === 'number' && at >= from && at <= to) values.push(entry.ms);
    } catch {
      /* not a JSON line */
    }
  }
  return summarize(values);
}

/** The agent's execute command for each request, written through the API's database role as the API writes it. */
async function recordExecuteCommands(apiDatabaseUrl: string, transactionIds: string[], agentId: string): Promise<void> {
  const db = createDb({ url: apiDatabaseUrl, poolMax: 1, applicationName: 'countersign-bench-api' });
  try {
    const rows = transactionIds.map((id) => ({ id: randomUUID(), transaction_id: id, kind: 'execute', actor_type: 'agent', actor_id: agentId, reason: null, created_at: new Date() }));
    await db('transaction_commands').insert(rows);
  } finally {
    await db.destroy();
  }
}

/** Prepared through the API on the user's first wallet; returns the ids. */
/** Prepared requests with the digest an approval must name. */
async function prepareMany(apiUrl: string, user: BenchUser, count: number): Promise<{ id: string; digest: string }[]> {
  const prepared: { id: string; digest: string }[] = [];
  for (let i = 0; i < count; i++) {
    const answer = expect(
      await http<{ transaction_id: string; digest: string }>(apiUrl, 'POST', '/api/prepare_transaction', {
        apiKey: user.apiKey,
        body: { wallet_address: user.wallets[0], kind: 'native', to_address: randomAddress(), amount: '1000' },
      }),
      202,
      'prepare',
    );
    prepared.push({ id: answer.transaction_id, digest: answer.digest });
  }
  return prepared;
}

function gitCommit(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO_ROOT, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}+dirty` : head;
  } catch {
    return 'unknown';
  }
}

/** On someone else's Temporal, leave nothing running: the bench's workflows wait for messages that never come. */
async function terminateLeftovers(client: Client, taskQueues: string[]) {
  for (const queue of taskQueues) {
    const handles: string[] = [];
    for await (const execution of client.workflow.list({ query: `TaskQueue = '${queue}' AND ExecutionStatus = 'Running'` })) handles.push(execution.workflowId);
    await mapLimit(handles, 16, (id) => client.workflow.getHandle(id).terminate('bench finished').catch(() => undefined));
    if (handles.length > 0) say(`terminated ${handles.length} bench workflow(s) left on ${queue}`);
  }
}

main().then(
  (code) => {
    // Give stdout a moment, then leave even if a library keeps a handle open.
    void sleep(100).then(() => process.exit(code));
  },
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

export type { Summary, LoadFigures, BenchUser };
