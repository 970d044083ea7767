/**
 * Fault: the key store goes away during signing — first unreachable (the
 * OpenBao process stopped), then sealed (sys/seal) — on a private OpenBao with
 * raft storage and a static seal, like the dev stack.
 *
 * A request executed while the key store is away shows why it waits in its
 * status (`error`), is not signed, and completes once the key store is back:
 * one stored signature, one `transaction.signed` audit entry, one on-chain
 * transaction. Pending and approved requests wait and complete afterwards.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { approve, execute, expectOk, getStatus, newParty, prepare, waitAllFinal, waitForView, type Party, type Tracked } from './support/flow';
import { openFaultSuite, recordAborted, settle, type FaultSuite } from './support/suite';

const NAME = 'faults: OpenBao unreachable, then sealed';
let suite: FaultSuite;

before(async () => {
  suite = await openFaultSuite({ name: 'faults-vault', private: ['openbao', 'anvil'] });
});
after(async () => {
  await suite?.close();
});

test('OpenBao unreachable, then sealed, during signing: the status says why, nothing is signed until it returns, then once', { timeout: 300_000 }, async () => {
  const startedAt = Date.now();
  const { api, app, stack } = suite;
  const db = app.database.db;
  const requests: Tracked[] = [];
  let faults = 0;
  const of = (party: Party, stage: string, n = 0) => requests.filter((r) => r.party === party && r.stage === stage)[n]!;
  const signatures = async (r: Tracked) => (await db('signed_transactions').where({ transaction_id: r.id })).length;
  try {
    await suite.spawn('worker');
    const parties = [await newParty(app.url, app.clock), await newParty(app.url, app.clock)];
    for (const party of parties) {
      requests.push(await prepare(api, party, { stage: 'pending' }));
      requests.push(await prepare(api, party, { stage: 'approved' }));
      // One executing request per phase, approved now (TOTP needs the key store too) and executed inside its phase.
      requests.push(await prepare(api, party, { stage: 'executing' }));
      requests.push(await prepare(api, party, { stage: 'executing' }));
    }
    for (const party of parties) await approve(api, requests.filter((r) => r.party === party && r.stage !== 'pending'));

    const phase = async (label: string, reason: RegExp, index: number) => {
      for (const party of parties) expectOk(await execute(api, of(party, 'executing', index)), 202, `execute (${label})`);
      for (const party of parties) {
        const r = of(party, 'executing', index);
        const waiting = await waitForView(api, r, (v) => v.error !== null && reason.test(v.error), `signing waits, saying ${reason}`, 60_000);
        // A failed signing attempt projects `signing` with the reason: the owner does not read `approved`.
        assert.equal(waiting.status, 'signing', `${label}: ${JSON.stringify(waiting)}`);
        assert.equal(waiting.tx_hash, null, `${label}: nothing signed yet`);
        assert.equal(await signatures(r), 0, `${label}: no signature stored`);
      }
      // Approving needs the key store too (the TOTP secret is encrypted there): a documented 503, not a 500.
      const pending = of(parties[0]!, 'pending');
      const refused = await api.call('POST', '/api/authorize_transaction', { token: pending.party.owner.token, body: { transaction_id: pending.id, digest: pending.digest, mfa_code: await pending.party.owner.nextCode() } });
      assert.equal(refused.status, 503, `approve while the key store is ${label}: ${JSON.stringify(refused.body)}`);
      assert.equal((await getStatus(api, pending)).status, 'pending_approval');
      // Let a few signing attempts fail.
      await new Promise((r) => setTimeout(r, 3000));
      for (const party of parties) assert.equal(await signatures(of(party, 'executing', index)), 0, `${label}: still no signature`);
    };

    suite.note('phase 1: stopping OpenBao');
    await stack.stop('openbao');
    faults += 1;
    await phase('unreachable', /signing is waiting: (unavailable|unreachable)/, 0);
    await stack.start('openbao');
    for (const party of parties) await waitForView(api, of(party, 'executing', 0), (v) => v.status === 'confirmed', 'confirmed once OpenBao is back', 120_000);

    suite.note('phase 2: sealing OpenBao');
    await stack.seal();
    faults += 1;
    await phase('sealed', /signing is waiting: sealed/, 1);
    await stack.unseal();
    for (const party of parties) await waitForView(api, of(party, 'executing', 1), (v) => v.status === 'confirmed', 'confirmed once OpenBao is unsealed', 120_000);

    for (const party of parties) await approve(api, requests.filter((r) => r.party === party && r.stage === 'pending'));
    for (const r of requests.filter((r) => r.stage === 'approved' || r.stage === 'pending')) expectOk(await execute(api, r), 202, 'execute');
    const views = await waitAllFinal(api, requests, 120_000);
    for (const [id, view] of views) {
      assert.equal(view.status, 'confirmed', `request ${id}: ${JSON.stringify(view)}`);
      assert.equal(view.error, null, `request ${id}: the waiting reason is cleared once it is signed`);
    }
    // The signature's hash reaches the projection also where `signing` was projected before it (the waits above).
    const stored = (await db('signed_transactions').whereIn('transaction_id', requests.map((r) => r.id)).select('transaction_id', 'tx_hash')) as Array<{ transaction_id: string; tx_hash: string }>;
    for (const row of stored) assert.equal(views.get(row.transaction_id)?.tx_hash, row.tx_hash, `request ${row.transaction_id}: tx_hash projected`);

    // Never signed twice: one signature row and one signing audit entry per request.
    const signedAudit = (await db('audit_events').where({ action: 'transaction.signed' }).whereIn('subject_id', requests.map((r) => r.id)).select('subject_id')) as Array<{ subject_id: string }>;
    for (const r of requests) {
      assert.equal(await signatures(r), 1, `request ${r.id}: exactly one stored signature`);
      assert.equal(signedAudit.filter((a) => a.subject_id === r.id).length, 1, `request ${r.id}: exactly one transaction.signed audit entry`);
    }

    await settle(suite, {
      name: NAME,
      requests,
      faults,
      startedAt,
      notes: 'per owner: 1 pending, 1 approved, 1 executing while unreachable, 1 executing while sealed; approve during each outage answered 503',
    });
  } catch (error) {
    suite.failed = true;
    if (!(error instanceof assert.AssertionError && /books balance|server errors|on chain/.test(error.message))) recordAborted(NAME, faults, requests, startedAt, error);
    throw error;
  }
});
