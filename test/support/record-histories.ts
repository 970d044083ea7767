/**
 * Records workflow histories for the replay test (test/integration/workflow-replay.test.ts):
 * runs each lifecycle on the real stack and writes its history as JSON.
 *
 *   npm test -- --record-histories   (or, with a stack's env: npx tsx test/support/record-histories.ts)
 *
 * Re-record only when a workflow change is *meant* to be incompatible (and
 * then version the workflow with patched()): the committed histories are what
 * running workflows in production look like.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { temporalBinary } from '../../scripts/infra/paths';
import { startTestApp } from './app';
import { call, expectStatus, newAgent, newUser, newWallet, randomAddress, waitForStatus } from './actors';
import { transactionWorkflowId } from '../../workflows/definitions';

const OUT = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'fixtures', 'histories');

const app = await startTestApp({ env: { APPROVAL_TTL_MIN: '2s', EXECUTION_WINDOW: '3s' } });
try {
  const owner = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner);
  const agent = await newAgent(app.url, owner, [wallet]);
  const prepare = async (extra: Record<string, unknown> = {}) => {
    const r = await call<{ transaction_id: string; digest: string }>(app.url, 'POST', '/api/prepare_transaction', {
      apiKey: agent.apiKey,
      body: { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '5', ...extra },
    });
    expectStatus(r, 202, 'prepare');
    return r.body.transaction_id;
  };
  const approve = async (id: string) =>
    expectStatus(await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: id, mfa_code: await owner.nextCode() } }), 200, 'approve');

  const lifecycles: Record<string, string> = {};
  lifecycles.confirmed = await prepare();
  await approve(lifecycles.confirmed);
  expectStatus(await call(app.url, 'POST', '/api/execute_transaction', { apiKey: agent.apiKey, body: { transaction_id: lifecycles.confirmed } }), 202, 'execute');
  lifecycles.auto_executed = await prepare({ auto_execute: true });
  await approve(lifecycles.auto_executed);
  lifecycles.rejected = await prepare();
  expectStatus(await call(app.url, 'POST', '/api/reject_transaction', { token: owner.token, body: { transaction_id: lifecycles.rejected, reason: 'no' } }), 200, 'reject');
  lifecycles.cancelled = await prepare();
  expectStatus(await call(app.url, 'POST', `/api/transactions/${lifecycles.cancelled}/cancel`, { apiKey: agent.apiKey }), 200, 'cancel');
  lifecycles.approval_expired = await prepare({ approval_ttl: 2 });
  lifecycles.execution_expired = await prepare();
  await approve(lifecycles.execution_expired);

  const finals: Record<string, string[]> = {
    confirmed: ['confirmed'],
    auto_executed: ['confirmed'],
    rejected: ['rejected'],
    cancelled: ['cancelled'],
    approval_expired: ['expired'],
    execution_expired: ['expired'],
  };
  for (const [name, id] of Object.entries(lifecycles)) {
    await waitForStatus(app.url, { token: owner.token }, id, finals[name]!, 60_000);
    const handle = app.temporal.workflow.getHandle(transactionWorkflowId(id));
    await handle.result();
    // The CLI's JSON export is the format historyFromJSON and the replayer read.
    const json = execFileSync(temporalBinary(), ['workflow', 'show', '--address', app.config.TEMPORAL_ADDRESS, '-w', handle.workflowId, '--output', 'json'], { encoding: 'utf8' });
    writeFileSync(path.join(OUT, `${name}.json`), json);
    process.stdout.write(`recorded ${name}\n`);
  }
} finally {
  await app.stop();
}
