/**
 * The frame of a fault test file: a private stack, the backend in-process
 * (API with a test clock for TOTP; its worker is a child process the test can
 * kill), an HTTP client that counts server errors, and at the end the ledger
 * check and one summary row — recorded whether the test passed or not, so the
 * table never hides a failing suite.
 */
import assert from 'node:assert/strict';
import { startTestApp, type TestApp } from '../../support/app';
import { createApiClient, type ApiClient, type Tracked } from './flow';
import { reconcile, type LedgerResult } from './ledger';
import { spawnProgram, type AppProcess, type SpawnOptions } from './processes';
import { startProofStack, type ProofStackOptions, type ProofStack } from './stack';
import { recordProofRow } from './summary';

export interface FaultSuite {
  stack: ProofStack;
  app: TestApp;
  api: ApiClient;
  processes: AppProcess[];
  spawn(program: 'api' | 'worker', options?: SpawnOptions): Promise<AppProcess>;
  note(message: string): void;
  /** Marks the file as failed (logs are kept). */
  failed: boolean;
  close(): Promise<void>;
}

const started = Date.now();
export const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

export async function openFaultSuite(options: ProofStackOptions): Promise<FaultSuite> {
  const note = (message: string) => process.stdout.write(`[${options.name} +${elapsed()}] ${message}\n`);
  const stack = await startProofStack({ ...options, note });
  let app: TestApp;
  try {
    stack.applyToProcessEnv();
    app = await startTestApp({ worker: false });
  } catch (error) {
    await stack.close({ failed: true });
    throw error;
  }
  const processes: AppProcess[] = [];
  const suite: FaultSuite = {
    stack,
    app,
    api: createApiClient(app.url),
    processes,
    failed: false,
    note,
    async spawn(program, spawnOptions = {}) {
      const proc = await spawnProgram(program, stack, app, spawnOptions);
      processes.push(proc);
      return proc;
    },
    async close() {
      for (const proc of processes) await proc.kill('SIGKILL');
      try {
        await app.stop();
      } finally {
        await stack.close({ failed: suite.failed });
      }
    },
  };
  return suite;
}

export interface ProofOutcome {
  ledger: LedgerResult;
  serverErrors: number;
}

/**
 * Reconciles the books, records the summary row, then asserts: every approved
 * request on chain exactly once, nothing unapproved signed, no server error.
 */
export async function settle(suite: FaultSuite, input: { name: string; requests: Tracked[]; faults: number; notes?: string; startedAt: number; apis?: ApiClient[] }): Promise<ProofOutcome> {
  const ledger = await reconcile({
    db: suite.app.database.db,
    rpc: suite.stack.rpc,
    requests: input.requests.map((r) => ({ id: r.id, wallet: r.wallet, approved: r.approved })),
  });
  const clients = input.apis ?? [suite.api];
  const serverErrors = clients.flatMap((c) => c.serverErrors);
  const ok = ledger.problems.length === 0 && serverErrors.length === 0 && ledger.onChain === ledger.approved;
  recordProofRow({
    suite: input.name,
    faults: input.faults,
    requests: ledger.requests,
    approved: ledger.approved,
    onChain: ledger.onChain,
    duplicates: ledger.duplicates,
    losses: ledger.losses,
    unapprovedSignatures: ledger.unapprovedSignatures,
    serverErrors: serverErrors.length,
    passed: ok,
    durationMs: Date.now() - input.startedAt,
    ...(input.notes ? { notes: input.notes } : {}),
  });
  suite.note(
    `${input.name}: ${ledger.requests} requests, ${ledger.approved} approved, ${ledger.onChain} on chain, ${ledger.duplicates} duplicates, ${ledger.losses} losses, ${ledger.unapprovedSignatures} unapproved, ${serverErrors.length} server errors (${((Date.now() - input.startedAt) / 1000).toFixed(1)} s)`,
  );
  assert.deepEqual(serverErrors, [], 'no server errors (5xx other than a documented 503 unavailable)');
  assert.deepEqual(ledger.problems, [], 'the books balance: every approved request on chain exactly once, nothing else');
  assert.equal(ledger.onChain, ledger.approved, 'every approved request is on chain');
  assert.equal(ledger.duplicates + ledger.losses + ledger.unapprovedSignatures, 0);
  return { ledger, serverErrors: serverErrors.length };
}

/** Records a row for a test that failed before it could reconcile (so the table shows it). */
export function recordAborted(name: string, faults: number, requests: Tracked[], startedAt: number, error: unknown): void {
  recordProofRow({
    suite: name,
    faults,
    requests: requests.length,
    approved: requests.filter((r) => r.approved).length,
    passed: false,
    durationMs: Date.now() - startedAt,
    notes: `aborted: ${(error as Error)?.message?.split('\n')[0]?.slice(0, 300) ?? String(error)}`,
  });
}
