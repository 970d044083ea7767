/**
 * Records workflow histories for the replay test (test/integration/workflow-replay.test.ts):
 * runs each lifecycle on the real stack and writes its history as JSON into
 * test/fixtures/histories/ (the current set) — payloads encrypted by the payload
 * codec, as the current code stores them — with the run's (throwaway) data key
 * in history-key.json, so the replay test can decrypt them.
 *
 *   npm test -- --no-lint test/support/record-histories.ts
 *     (the harness runs it like a test file, with a throwaway stack's env;
 *      with a stack's env already set: npx tsx test/support/record-histories.ts)
 *
 * Re-record only when a workflow change is *meant* to be incompatible, and
 * then version the workflow with patched() and move the previous set to a
 * new versioned subfolder (v1/ … v3/, the next one; its history-key.json with it) first: the committed histories are what running
 * workflows in production look like, and the replay test replays every set.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { temporalBinary } from '../../scripts/infra/paths';
import { startTestApp } from './app';
import { call, expectStatus, newAgent, newUser, newWallet, randomAddress, waitForStatus } from './actors';
import { transactionWorkflowId } from '../../workflows/definitions';

const OUT = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'fixtures', 'histories');

const app = await startTestApp({ env: { APPROVAL_TTL_MIN: '2s', EXECUTION_WINDOW: '3s' } });
mkdirSync(OUT, { recursive: true });
// This run's database holds one fresh data key: a test key, committed with what it encrypted.
const dataKey = await app.historyKeys.current();
writeFileSync(path.join(OUT, 'history-key.json'), `${JSON.stringify({ note: 'test fixture key for the replay histories beside it only', id: dataKey.id, key: dataKey.key.toString('base64') }, null, 2)}\n`);
// A receiver for the one lifecycle whose agent has a webhook.
const receiver = http.createServer((req, res) => req.resume().on('end', () => res.writeHead(204).end()));
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
try {
  const owner = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner);
  const agent = await newAgent(app.url, owner, [wallet]);
  const hookedAgent = await newAgent(app.url, owner, [wallet]);
  const hook = await call(app.url, 'POST', '/api/webhooks', {
    apiKey: hookedAgent.apiKey,
    body: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` },
  });
  expectStatus(hook, 201, 'webhook');
  const prepare = async (extra: Record<string, unknown> = {}, apiKey = agent.apiKey) => {
    const r = await call<{ transaction_id: string; digest: string }>(app.url, 'POST', '/api/prepare_transaction', {
      apiKey,
      body: { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '5', ...extra },
    });
    expectStatus(r, 202, 'prepare');
    digests.set(r.body.transaction_id, r.body.digest);
    return r.body.transaction_id;
  };
  const digests = new Map<string, string>();
  const approve = async (id: string) =>
    expectStatus(await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: id, digest: digests.get(id), mfa_code: await owner.nextCode() } }), 200, 'approve');

  const lifecycles: Record<string, string> = {};
  lifecycles.confirmed = await prepare();
  await approve(lifecycles.confirmed);
  expectStatus(await call(app.url, 'POST', '/api/execute_transaction', { apiKey: agent.apiKey, body: { transaction_id: lifecycles.confirmed } }), 202, 'execute');
  lifecycles.auto_executed = await prepare({ auto_execute: true });
  await approve(lifecycles.auto_executed);
  lifecycles.confirmed_webhook = await prepare({ auto_execute: true }, hookedAgent.apiKey);
  await approve(lifecycles.confirmed_webhook);
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
    confirmed_webhook: ['confirmed'],
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
  receiver.close();
  await app.stop();
}
