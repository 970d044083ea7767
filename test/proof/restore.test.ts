/**
 * Backup and restore (docs/operations.md "Backup and restore"), end to end with the real
 * tools: stack A holds a request that is approved (TOTP) and executed, but not signed — its
 * worker died before the execute reached it — and another still waiting for approval.
 * `npm run backup` takes A's OpenBao (raft + static seal) snapshot and PostgreSQL database.
 *
 * Stack B is fresh: an empty database, a new OpenBao (its own data directory, the static seal
 * key of A's — the "unseal keys at backup time"), and a new Temporal server that never saw a
 * workflow. `npm run restore` installs both halves; then B's API and worker start, as the
 * runbook says, and nothing else is done: the worker's reconciler schedule resumes the
 * in-flight request from PostgreSQL. It ends confirmed with one stored signature and one
 * transaction on chain from its wallet, the waiting request is waiting again (and unsigned),
 * and the restored audit chain verifies.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { startOpenBao } from '../../scripts/infra/openbao';
import { getFreePort } from '../../scripts/infra/process';
import { REPO_ROOT } from '../../scripts/infra/paths';
import { startTemporal, type TemporalHandle } from '../../scripts/infra/temporal';
import { createDb, type Db } from '../../lib/db';
import { DEFAULT_ROLE_NAMES } from '../../lib/db-roles';
import { verifyChain } from '../../domains/audit';
import { transactionWorkflowId } from '../../workflows/definitions';
import type { TestApp } from '../support/app';
import { createOwnedDatabase, dropDatabase, roleUrl } from '../support/db';
import { approve, createApiClient, execute, newParty, prepare, waitForView, type Tracked } from './support/flow';
import { reconcile } from './support/ledger';
import { spawnProgram, type AppProcess } from './support/processes';
import { openFaultSuite, recordAborted, type FaultSuite } from './support/suite';
import { recordProofRow } from './support/summary';

const NAME = 'restore: backup, fresh stack, in-flight request finished once';
let suite: FaultSuite;
const cleanups: (() => Promise<unknown>)[] = [];

before(async () => {
  suite = await openFaultSuite({ name: 'restore', private: ['openbao', 'anvil'] });
});
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await suite?.close();
});

/** A tool of scripts/ as the operator runs it (node with the tsx loader), with exactly `env`. */
function runTool(script: string, args: string[], env: Record<string, string>, stdin = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DOTENV_CONFIG_PATH: '/dev/null', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

const count = async (db: Db, table: string, where: Record<string, string>) => Number(((await db(table).where(where).count('* as n').first()) as { n: string }).n);

test('a backup restored into a fresh stack finishes the in-flight approved request exactly once', { timeout: 240_000 }, async () => {
  const startedAt = Date.now();
  const { app, api, stack } = suite;
  const requests: Tracked[] = [];
  try {
    // --- Stack A: an approved, executed, unsigned request, and one waiting for approval.
    const workerA = await suite.spawn('worker', { name: 'worker-a' });
    const party = await newParty(app.url, app.clock);
    const inFlight = await prepare(api, party, { stage: 'executing' });
    const waiting = await prepare(api, party, { stage: 'pending' });
    requests.push(inFlight, waiting);
    await approve(api, [inFlight]);
    await waitForView(api, inFlight, (v) => v.status === 'approved', 'approved');
    // The worker dies before the agent's execute reaches the workflow: recorded, never signed.
    await workerA.kill('SIGKILL');
    const executed = await execute(api, inFlight);
    assert.equal(executed.status, 503, 'no worker: the API answers 503 unavailable (the command is recorded)');
    assert.equal(await count(app.database.db, 'transaction_commands', { transaction_id: inFlight.id, kind: 'execute' }), 1);
    assert.equal(await count(app.database.db, 'signed_transactions', { transaction_id: inFlight.id }), 0);
    assert.equal(await stack.rpc<string>('eth_getTransactionCount', [party.wallet, 'latest']), '0x0');

    // --- Backup, with the real tool and the backup token provisioning made.
    const backupDir = path.join(stack.dir, 'backup-1');
    const backup = await runTool('scripts/backup.ts', [backupDir], { MIGRATION_DATABASE_URL: app.database.url, VAULT_ADDR: stack.env.VAULT_ADDR!, VAULT_TOKEN: stack.env.VAULT_BACKUP_TOKEN! });
    assert.equal(backup.code, 0, backup.stderr);
    suite.note(backup.stdout.trim());
    // Stack A is gone: its OpenBao stops; its Temporal is never used again (B runs its own).
    const unsealKey = path.join(stack.dir, 'openbao', 'unseal.key');
    await stack.stop('openbao');

    // --- Stack B: fresh OpenBao (A's static seal key: "the unseal keys at backup time"), empty database, fresh Temporal.
    const dirB = path.join(stack.dir, 'stack-b');
    const common = { dataDir: dirB, runDir: path.join(dirB, 'run'), logDir: stack.logDir };
    fs.mkdirSync(path.join(dirB, 'openbao'), { recursive: true, mode: 0o700 });
    fs.copyFileSync(unsealKey, path.join(dirB, 'openbao', 'unseal.key'));
    const openbaoB = await startOpenBao({ ...common, mode: 'dev', port: await getFreePort({ consecutive: 2 }) });
    cleanups.push(() => openbaoB.stop());
    const temporalB: TemporalHandle = await startTemporal({ ...common, mode: 'dev', port: await getFreePort(), uiPort: await getFreePort() });
    cleanups.push(() => temporalB.stop());
    const database = `restored_${randomBytes(5).toString('hex')}`;
    await createOwnedDatabase(database);
    cleanups.push(() => dropDatabase(database));

    const freshInit = fs.readFileSync(path.join(dirB, 'openbao', 'init.json'), 'utf8');
    const restored = await runTool(
      'scripts/restore.ts',
      [backupDir],
      {
        MIGRATION_DATABASE_URL: roleUrl('owner', database),
        DATABASE_API_ROLE: DEFAULT_ROLE_NAMES.api,
        DATABASE_WORKER_ROLE: DEFAULT_ROLE_NAMES.worker,
        AUDIT_HMAC_KEY: stack.env.AUDIT_HMAC_KEY!,
        VAULT_ADDR: openbaoB.address,
      },
      freshInit,
    );
    assert.equal(restored.code, 0, restored.stderr);
    suite.note(restored.stdout.trim());
    assert.match(restored.stdout, /OpenBao: snapshot installed; unsealed/);
    assert.match(restored.stdout, /audit chain intact/);

    // --- B's API and worker: A's Vault tokens are valid again (they are in the snapshot).
    const taskQueue = `restored-${randomBytes(4).toString('hex')}`;
    const stackB = { env: { ...stack.env, VAULT_ADDR: openbaoB.address }, logDir: stack.logDir };
    const appB = {
      config: { TEMPORAL_ADDRESS: temporalB.address, TEMPORAL_NAMESPACE: 'default' },
      taskQueue,
      database: { api: { url: roleUrl('api', database) }, worker: { url: roleUrl('worker', database) } },
    } as unknown as TestApp;
    const processes: AppProcess[] = [];
    cleanups.push(async () => Promise.all(processes.map((p) => p.kill('SIGKILL'))));
    processes.push(await spawnProgram('worker', stackB, appB, { name: 'worker-b' }));
    const apiB = await spawnProgram('api', stackB, appB, { name: 'api-b' });
    processes.push(apiB);
    const clientB = createApiClient(apiB.url);

    // Nothing else: the reconciler's schedule (every 30 s) resumes the request from PostgreSQL.
    const resumedAt = Date.now();
    const done = await waitForView(clientB, inFlight, (v) => v.status === 'confirmed', 'confirmed', 90_000);
    suite.note(`confirmed ${((Date.now() - resumedAt) / 1000).toFixed(1)} s after B's worker started`);
    assert.ok(done.tx_hash);

    const dbB = createDb({ url: roleUrl('owner', database), poolMax: 2 });
    cleanups.push(() => dbB.destroy());
    assert.equal(await count(dbB, 'signed_transactions', { transaction_id: inFlight.id }), 1, 'one signature');
    assert.equal(await count(dbB, 'signed_transactions', { transaction_id: waiting.id }), 0, 'the waiting request is not signed');
    assert.equal(await stack.rpc<string>('eth_getTransactionCount', [party.wallet, 'latest']), '0x1', 'one transaction from the wallet');
    assert.equal((await dbB('transactions').where({ id: waiting.id }).first('status')).status, 'pending_approval');
    const chain = await verifyChain(dbB, stack.env.AUDIT_HMAC_KEY!);
    assert.equal(chain.ok, true, 'the restored audit chain, and what B appended to it, verifies');

    // B's Temporal ran the resumed workflow once, and started the waiting one again.
    const connection = await Connection.connect({ address: temporalB.address });
    cleanups.push(() => connection.close());
    const temporal = new Client({ connection, namespace: 'default' });
    assert.equal((await temporal.workflow.getHandle(transactionWorkflowId(inFlight.id)).describe()).status.name, 'COMPLETED');
    assert.equal((await temporal.workflow.getHandle(transactionWorkflowId(waiting.id)).describe()).status.name, 'RUNNING');

    // The books, on B's database and the shared chain: the approved request on chain exactly once, nothing else.
    const ledger = await reconcile({ db: dbB, rpc: stack.rpc, requests: requests.map((r) => ({ id: r.id, wallet: r.wallet, approved: r.approved })) });
    const serverErrors = [...api.serverErrors, ...clientB.serverErrors];
    recordProofRow({
      suite: NAME,
      faults: 1,
      requests: ledger.requests,
      approved: ledger.approved,
      onChain: ledger.onChain,
      duplicates: ledger.duplicates,
      losses: ledger.losses,
      unapprovedSignatures: ledger.unapprovedSignatures,
      serverErrors: serverErrors.length,
      passed: ledger.problems.length === 0 && serverErrors.length === 0 && ledger.onChain === 1,
      durationMs: Date.now() - startedAt,
      notes: 'stack A lost (worker killed before execute reached it); restored into a fresh database, OpenBao and Temporal; the reconciler resumed it',
    });
    assert.deepEqual(serverErrors, []);
    assert.deepEqual(ledger.problems, []);
    assert.equal(ledger.onChain, 1);
  } catch (error) {
    suite.failed = true;
    recordAborted(NAME, 1, requests, startedAt, error);
    throw error;
  }
});
