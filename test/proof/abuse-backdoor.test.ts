/**
 * Abuse, part 3: the Temporal back door. Someone who reaches Temporal (the UI,
 * the CLI, a stolen client certificate) sends every message the workflow
 * accepts — approve, execute, reject, cancel — to requests in every state
 * where it could matter, naming nothing, made-up ids, and real records of
 * other requests. None may lead to a signature or a decision: each is refused
 * by the workflow, audited and alerted, and the requests still do exactly what
 * their owner and agent ask through the API afterwards.
 *
 * Its own in-process app on the run's stack; the real Temporal CLI and client.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { startTestApp, type TestApp } from '../support/app';
import { call, chainProvider, expectStatus, newAgent, newUser, newWallet, randomAddress, waitForStatus, type TestUser } from '../support/actors';
import { statusQuery, transactionWorkflowId } from '../../workflows/definitions';
import { temporalBinary } from '../../scripts/infra/paths';
import { recordProofRow } from './support/summary';

const NAME = 'abuse: Temporal back door';
let app: TestApp;
const provider = chainProvider();
before(async () => {
  app = await startTestApp();
});
after(async () => {
  provider.destroy();
  await app?.stop();
});

interface Prepared {
  transaction_id: string;
  digest: string;
}

test('every message sent to Temporal alone is refused: nothing signed, nothing decided, every attempt audited', { timeout: 240_000 }, async () => {
  const startedAt = Date.now();
  const owner: TestUser = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner);
  const agent = await newAgent(app.url, owner, [wallet]);
  const prepare = async () => {
    const r = await call<Prepared>(app.url, 'POST', '/api/prepare_transaction', { apiKey: agent.apiKey, body: { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '1000' } });
    expectStatus(r, 202, 'prepare');
    return r.body;
  };
  const approve = async (p: Prepared) =>
    expectStatus(await call(app.url, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: p.transaction_id, digest: p.digest, mfa_code: await owner.nextCode() } }), 200, 'approve');

  const pending = await prepare();
  const approved = await prepare();
  const donor = await prepare();
  await approve(approved);
  await approve(donor);
  // Real records of another request, to be replayed against these two.
  expectStatus(await call(app.url, 'POST', '/api/execute_transaction', { apiKey: agent.apiKey, body: { transaction_id: donor.transaction_id } }), 202, 'execute donor');
  await waitForStatus(app.url, { apiKey: agent.apiKey }, donor.transaction_id, ['confirmed'], 60_000);
  const donorApproval = ((await app.database.db('approvals').where({ transaction_id: donor.transaction_id }).first('id')) as { id: string }).id;
  const donorExecute = ((await app.database.db('transaction_commands').where({ transaction_id: donor.transaction_id, kind: 'execute' }).first('id')) as { id: string }).id;
  const nonceBefore = await provider.getTransactionCount(wallet, 'pending');

  const forgeries: Array<{ name: string; args: [unknown] | [] }> = [
    { name: 'approve', args: [{ approvalId: randomUUID() }] },
    { name: 'approve', args: [{ approvalId: donorApproval, caller: { type: 'user', id: owner.userId } }] },
    { name: 'approve', args: [{ approvalId: "' OR 1=1 --" }] },
    { name: 'execute', args: [{ caller: { type: 'agent', id: 'nobody' } }] },
    { name: 'execute', args: [{ commandId: donorExecute }] },
    { name: 'execute', args: [] },
    { name: 'reject', args: [{ commandId: randomUUID() }] },
    { name: 'cancel', args: [{ commandId: donorExecute }] },
  ];
  let refused = 0;
  let attempts = 0;
  const run = promisify(execFile);
  for (const target of [pending, approved]) {
    const handle = app.temporal.workflow.getHandle(transactionWorkflowId(target.transaction_id));
    for (const forgery of forgeries) {
      attempts += 1;
      try {
        await (forgery.args.length === 0 ? handle.executeUpdate(forgery.name) : handle.executeUpdate(forgery.name, { args: forgery.args as [unknown] }));
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError) refused += 1;
        else throw err;
      }
    }
    // And the report's exact command, through the CLI.
    attempts += 1;
    const cli = await run(temporalBinary(), ['workflow', 'update', 'execute', '--address', app.config.TEMPORAL_ADDRESS, '--workflow-id', handle.workflowId, '--name', 'execute', '--input', JSON.stringify({ caller: { type: 'agent', id: 'nobody' } })]).then(
      () => 'accepted',
      () => 'refused',
    );
    if (cli === 'refused') refused += 1;
  }
  assert.equal(refused, attempts, 'every forged message was refused');

  // Time for anything wrongly accepted to reach the signer.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const signed = await app.database.db('signed_transactions').whereIn('transaction_id', [pending.transaction_id, approved.transaction_id]);
  assert.equal((await app.temporal.workflow.getHandle(transactionWorkflowId(pending.transaction_id)).query(statusQuery)).status, 'pending_approval');
  assert.equal((await app.temporal.workflow.getHandle(transactionWorkflowId(approved.transaction_id)).query(statusQuery)).status, 'approved');
  assert.equal(await provider.getTransactionCount(wallet, 'pending'), nonceBefore, 'nothing sent from the wallet');
  // Messages refused by state in the validator never reach the workflow's code; the rest are audited one by one.
  const audited = await app.database.db('audit_events').where({ action: 'transaction.message_refused' }).whereIn('subject_id', [pending.transaction_id, approved.transaction_id]);
  assert.ok(audited.length > 0 && audited.length <= attempts, `${audited.length} audited of ${attempts}`);

  // The API path still works afterwards: the owner approves, the agent executes, it confirms once.
  await approve(pending);
  expectStatus(await call(app.url, 'POST', '/api/execute_transaction', { apiKey: agent.apiKey, body: { transaction_id: pending.transaction_id } }), 202, 'execute pending');
  expectStatus(await call(app.url, 'POST', '/api/execute_transaction', { apiKey: agent.apiKey, body: { transaction_id: approved.transaction_id } }), 202, 'execute approved');
  for (const p of [pending, approved]) assert.equal((await waitForStatus(app.url, { apiKey: agent.apiKey }, p.transaction_id, ['confirmed', 'failed'], 60_000)).status, 'confirmed');

  recordProofRow({
    suite: NAME,
    requests: 3,
    approved: 3,
    onChain: 3,
    unapprovedSignatures: signed.length,
    backdoorRefused: refused,
    notes: `${attempts} forged messages (approve, execute, reject, cancel; made-up ids, another request's records, no arguments, the CLI) against a pending and an approved request; ${audited.length} audited as transaction.message_refused`,
    durationMs: Date.now() - startedAt,
    passed: true,
  });
});
