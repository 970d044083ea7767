/**
 * Checked twice, never racing (issue 14), on the real stack:
 *
 *  - 20 concurrent prepares of 0.3 ETH against 1 ETH / 24 h: exactly 3 stored,
 *    17 refused; after one of the 3 is rejected, exactly one more fits.
 *  - A rule tightened after approval stops signing: the request ends `failed`
 *    with `policy_denied`, nothing is signed and the chain shows nothing sent.
 *    A rolling limit added after two approvals lets the first sign and stops
 *    the second.
 *  - A property (fast-check) over random rule sets and request sequences —
 *    prepares through the real transaction service, signatures through the
 *    real signing module (several at once), rejections, nonces given back,
 *    rules tightened, time moving on an injected clock: the sum signed within
 *    any window never exceeds a rolling limit in force at the time.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { pino } from 'pino';
import { startTestApp, type TestApp } from '../support/app';
import { call, chainProvider, expectStatus, fund, newAgent, newUser, newWallet, randomAddress, waitForStatus, type TestUser } from '../support/actors';
import { requireEnv } from '../support/db';
import { createTestClock } from '../../lib/clock';
import { createAuditLog } from '../../domains/audit';
import { createChainClients } from '../../domains/chain';
import { createKeyStore } from '../../domains/keystore';
import { createPolicyEngine, createPolicyService } from '../../domains/policies';
import { createChainAdapter, createSigning, createTransactionService, createTransactionWorkflows, projectStatus, SigningRefusedError } from '../../domains/transactions';
import { windowSeconds } from '../../domains/policies/windows';

const ETH = 10n ** 18n;
let app: TestApp;
const provider = chainProvider();

before(async () => {
  app = await startTestApp();
});
after(async () => {
  provider.destroy();
  await app?.stop();
});

interface Tenant {
  owner: TestUser;
  wallet: string;
  agent: { agentId: string; apiKey: string };
}

async function tenant(fundEther = 10n): Promise<Tenant> {
  const owner = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner, fundEther);
  const agent = await newAgent(app.url, owner, [wallet]);
  return { owner, wallet, agent };
}

async function setRules(t: Tenant, rules: unknown[]) {
  const put = await call<{ rules: { id: string }[] }>(app.url, 'PUT', `/api/wallets/${t.wallet}/policy`, { token: t.owner.token, body: { rules, mfa_code: await t.owner.nextCode() } });
  expectStatus(put, 200, 'PUT policy');
  return put.body;
}

const prepare = (t: Tenant, amount: bigint, extra: Record<string, unknown> = {}) =>
  call<{ transaction_id: string; digest: string }>(app.url, 'POST', '/api/prepare_transaction', {
    apiKey: t.agent.apiKey,
    body: { wallet_address: t.wallet, kind: 'native', to_address: randomAddress(), amount: amount.toString(), ...extra },
  });

async function stored(wallet: string): Promise<number> {
  const [row] = await app.database.db('transactions').where({ from_address: wallet.toLowerCase() }).count<{ count: string }[]>('* as count');
  return Number(row!.count);
}

describe('concurrent prepares', () => {
  test('20 at once of 0.3 ETH against 1 ETH / 24 h: exactly 3 stored, 17 refused; a rejection frees room for exactly one more', async () => {
    const t = await tenant();
    const policy = await setRules(t, [{ type: 'rolling_limit', asset: 'native', amount: ETH.toString(), window: '24h' }]);
    const answers = await Promise.all(Array.from({ length: 20 }, () => prepare(t, (3n * ETH) / 10n)));
    const accepted = answers.filter((a) => a.status === 202);
    const refused = answers.filter((a) => a.status === 403);
    assert.equal(accepted.length, 3, `statuses: ${answers.map((a) => a.status).join(',')}`);
    assert.equal(refused.length, 17);
    for (const answer of refused) {
      const error = (answer.body as unknown as { error: { code: string; details: { rule_id: string }[] } }).error;
      assert.equal(error.code, 'policy_denied');
      assert.deepEqual(error.details.map((d) => d.rule_id), [policy.rules[0]!.id]);
    }
    assert.equal(await stored(t.wallet), 3);
    const refusals = await app.database.db('policy_refusals').where({ agent_id: t.agent.agentId }).count<{ c: string }[]>('* as c');
    assert.equal(Number(refusals[0]!.c), 17, 'each refusal recorded');

    expectStatus(await prepare(t, (3n * ETH) / 10n), 403, 'still full');
    const rejected = await call(app.url, 'POST', '/api/reject_transaction', { token: t.owner.token, body: { transaction_id: accepted[0]!.body.transaction_id, reason: 'make room' } });
    expectStatus(rejected, 200, 'reject one');
    const more = await Promise.all(Array.from({ length: 5 }, () => prepare(t, (3n * ETH) / 10n)));
    assert.deepEqual(more.map((a) => a.status).sort(), [202, 403, 403, 403, 403], 'exactly one more fits');
    assert.equal(await stored(t.wallet), 4);
  });
});

describe('checked again at signing', () => {
  test('a rule tightened after approval stops signing; nothing is sent', async () => {
    const t = await tenant();
    await setRules(t, [{ type: 'max_per_transaction', asset: 'native', amount: ETH.toString() }]);
    const recipient = randomAddress();
    const prepared = await prepare(t, ETH / 2n, { to_address: recipient });
    expectStatus(prepared, 202, 'prepare under version 1');
    const id = prepared.body.transaction_id;
    expectStatus(await call(app.url, 'POST', '/api/authorize_transaction', { token: t.owner.token, body: { transaction_id: id, digest: prepared.body.digest, mfa_code: await t.owner.nextCode() } }), 200, 'approve');
    const balanceBefore = await provider.getBalance(t.wallet);
    const tightened = await setRules(t, [{ type: 'max_per_transaction', asset: 'native', amount: (ETH / 10n).toString() }]);

    expectStatus(await call(app.url, 'POST', '/api/execute_transaction', { apiKey: t.agent.apiKey, body: { transaction_id: id } }), 202, 'execute');
    const final = await waitForStatus(app.url, { token: t.owner.token }, id, ['failed', 'confirmed', 'broadcast']);
    assert.equal(final.status, 'failed');
    assert.equal(final.error, 'policy_denied');
    assert.equal(final.tx_hash, null);

    const signed = await app.database.db('signed_transactions').where({ transaction_id: id }).count<{ c: string }[]>('* as c');
    assert.equal(Number(signed[0]!.c), 0, 'nothing signed');
    assert.equal(await provider.getTransactionCount(t.wallet, 'pending'), 0, 'the wallet sent nothing');
    assert.equal(await provider.getBalance(recipient), 0n, 'the recipient got nothing');
    assert.equal(await provider.getBalance(t.wallet), balanceBefore);

    const refusal = await app.database.db('policy_refusals').where({ transaction_id: id }).first();
    assert.equal(refusal.stage, 'signing');
    assert.deepEqual((refusal.violations as { rule_id: string }[]).map((v) => v.rule_id), [tightened.rules[0]!.id]);
    const audit = await app.database.db('audit_events').where({ action: 'policy.denied', subject_id: refusal.wallet_id }).select('data');
    assert.ok(audit.some((e) => (e.data as { stage: string; transaction_id: string }).stage === 'signing' && (e.data as { transaction_id: string }).transaction_id === id));
    const events = await app.database.db('transaction_events').where({ transaction_id: id, status: 'failed' });
    assert.equal(events.length, 1, 'the owner is told: a transaction.failed event (SSE, webhooks)');
  });

  test('a rolling limit added after two approvals lets the first sign and stops the second', async () => {
    const t = await tenant();
    const first = await prepare(t, (4n * ETH) / 10n);
    const second = await prepare(t, (4n * ETH) / 10n);
    for (const p of [first, second]) {
      expectStatus(await call(app.url, 'POST', '/api/authorize_transaction', { token: t.owner.token, body: { transaction_id: p.body.transaction_id, digest: p.body.digest, mfa_code: await t.owner.nextCode() } }), 200, 'approve');
    }
    await setRules(t, [{ type: 'rolling_limit', asset: 'native', amount: ((6n * ETH) / 10n).toString(), window: '24h' }]);
    expectStatus(await call(app.url, 'POST', '/api/execute_transaction', { apiKey: t.agent.apiKey, body: { transaction_id: first.body.transaction_id } }), 202, 'execute first');
    assert.equal((await waitForStatus(app.url, { token: t.owner.token }, first.body.transaction_id, ['confirmed', 'failed'])).status, 'confirmed');
    expectStatus(await call(app.url, 'POST', '/api/execute_transaction', { apiKey: t.agent.apiKey, body: { transaction_id: second.body.transaction_id } }), 202, 'execute second');
    const refused = await waitForStatus(app.url, { token: t.owner.token }, second.body.transaction_id, ['confirmed', 'failed']);
    assert.deepEqual([refused.status, refused.error], ['failed', 'policy_denied']);
    assert.equal(await provider.getTransactionCount(t.wallet, 'latest'), 1, 'one transaction on chain');
  });
});

describe('the policy row lock', () => {
  test('two signing checks on one wallet never overlap: the second waits until the first transaction ends', async () => {
    const t = await tenant();
    const a = await prepare(t, 1n);
    const b = await prepare(t, 1n);
    await setRules(t, [{ type: 'rolling_limit', asset: 'native', amount: ETH.toString(), window: '24h' }]);
    const db = app.database.db;
    const engine = createPolicyEngine({ db, clock: app.clock, logger: pino({ level: 'silent' }), audit: createAuditLog({ db, hmacKey: app.config.AUDIT_HMAC_KEY! }), requestLifetimeSeconds: 8 * 86_400 });
    const rowOf = async (id: string) => (await db('transactions').where({ id }).first()) as Parameters<typeof engine.checkSigning>[1];
    const [rowA, rowB] = [await rowOf(a.body.transaction_id), await rowOf(b.body.transaction_id)];

    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let firstChecked!: () => void;
    const checked = new Promise<void>((resolve) => (firstChecked = resolve));
    const first = db.transaction(async (trx) => {
      assert.equal((await engine.checkSigning(trx, rowA, new Date())).allowed, true);
      firstChecked();
      await held;
    });
    await checked;
    let secondDone = false;
    const second = db.transaction(async (trx) => {
      const verdict = await engine.checkSigning(trx, rowB, new Date());
      secondDone = true;
      return verdict;
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(secondDone, false, 'the second check ran while the first transaction held the wallet');
    } finally {
      release();
    }
    await first;
    assert.equal((await second).allowed, true);
    assert.equal(secondDone, true);
  });
});

// ---------------------------------------------------------------------------------------------
// The property

describe('property: never over a rolling limit, whatever the order', () => {
  test('random rule sets and sequences of prepares, concurrent signings, rejections, given-back nonces, tightened rules and time', async () => {
    const clock = createTestClock(new Date('2030-01-01T00:00:00Z'));
    const db = app.database.db;
    const config = app.config;
    const logger = pino({ level: 'silent' });
    const audit = createAuditLog({ db, hmacKey: config.AUDIT_HMAC_KEY!, clock });
    const chains = createChainClients(config.chains);
    const keystore = await createKeyStore({ ...config, VAULT_TOKEN: requireEnv('VAULT_WORKER_TOKEN') });
    const lifetime = config.APPROVAL_TTL_MAX + config.EXECUTION_WINDOW;
    const policies = createPolicyService({ db, clock, logger, audit, mfa: { verifyAndConsume: () => Promise.reject(new Error('unused')) }, requestLifetimeSeconds: lifetime });
    // Workflows go to a task queue no worker polls: this test drives the lifecycle itself.
    const service = createTransactionService({
      db,
      clock,
      logger,
      config,
      workflows: createTransactionWorkflows({ client: app.temporal, taskQueue: `idle-${randomUUID()}` }),
      chain: createChainAdapter(chains),
      mfa: { verifyAndConsume: () => Promise.reject(new Error('unused')) },
      passwords: { verifyPassword: () => Promise.reject(new Error('unused')) },
      audit,
      policies,
    });
    const signing = createSigning({ db, clock, logger, keystore, chain: createChainAdapter(chains), audit, policies: createPolicyEngine({ db, clock, logger, audit, requestLifetimeSeconds: lifetime }) });

    type Op =
      | { kind: 'prepare'; tenths: number }
      | { kind: 'sign'; many: number }
      | { kind: 'reject' }
      | { kind: 'giveBack' }
      | { kind: 'wait'; minutes: number }
      | { kind: 'tighten'; factor: number };
    const arbOp: fc.Arbitrary<Op> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('prepare' as const), tenths: fc.integer({ min: 1, max: 12 }) }) },
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('sign' as const), many: fc.integer({ min: 1, max: 3 }) }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'reject' as const }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'giveBack' as const }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant('wait' as const), minutes: fc.integer({ min: 5, max: 1_600 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('tighten' as const), factor: fc.integer({ min: 2, max: 4 }) }) },
    );
    const arbRules = fc.record({
      limits: fc.uniqueArray(fc.record({ tenths: fc.integer({ min: 5, max: 30 }), window: fc.constantFrom('1h', '6h', '24h') }), { minLength: 1, maxLength: 2, selector: (r) => r.window }),
      maxRequests: fc.option(fc.record({ count: fc.integer({ min: 2, max: 8 }), window: fc.constantFrom('1h', '24h') }), { nil: null }),
      perAgent: fc.boolean(),
    });

    let version = 1_000;
    let mfaStep = 10_000_000;
    let runs = 0;
    let signatures = 0;
    let refusedAtSigning = 0;
    let prepared = 0;
    let refusedAtPrepare = 0;
    try {
      await fc.assert(
        fc.asyncProperty(arbRules, fc.array(arbOp, { minLength: 10, maxLength: 30 }), async (spec, ops) => {
          runs += 1;
          const t = await tenant(0n);
          await fund(t.wallet, 1000n * ETH);
          const walletId = ((await db('wallets').where({ address: t.wallet.toLowerCase() }).first('id')) as { id: string }).id;
          type Limit = { amount: bigint; windowMs: number };
          const rulesFor = (factor: number) => [
            ...spec.limits.map((l) => ({ type: 'rolling_limit', asset: 'native', amount: ((BigInt(l.tenths) * ETH) / 10n / BigInt(factor)).toString(), window: l.window, ...(spec.perAgent ? { agent_id: t.agent.agentId } : {}) })),
            ...(spec.maxRequests ? [{ type: 'max_requests', count: spec.maxRequests.count, window: spec.maxRequests.window }] : []),
          ];
          const limitsOf = (rules: ReturnType<typeof rulesFor>): Limit[] =>
            rules.flatMap((r) => ('amount' in r ? [{ amount: BigInt(r.amount), windowMs: windowSeconds(r.window) * 1000 }] : []));
          let inForce = rulesFor(1);
          await setRules(t, inForce);

          const waiting: { id: string; amount: bigint }[] = [];
          const signed: { id: string; at: number; amount: bigint; limits: Limit[] }[] = [];
          const agent = { agentId: t.agent.agentId, userId: t.owner.userId };

          for (const op of ops) {
            if (op.kind === 'wait') clock.advance(op.minutes * 60_000);
            if (op.kind === 'tighten') {
              inForce = rulesFor(op.factor);
              await setRules(t, inForce);
            }
            if (op.kind === 'prepare') {
              const amount = (BigInt(op.tenths) * ETH) / 10n;
              try {
                const answer = await service.prepare(agent, { wallet_address: t.wallet, kind: 'native', to_address: randomAddress(), amount: amount.toString(), auto_execute: true }, undefined, {});
                waiting.push({ id: answer.transaction_id, amount });
                prepared += 1;
              } catch (err) {
                assert.equal((err as { code?: string }).code, 'policy_denied', `prepare failed otherwise: ${String(err)}`);
                refusedAtPrepare += 1;
              }
            }
            if (op.kind === 'reject' && waiting.length > 0) {
              const { id } = waiting.shift()!;
              await projectStatus(db, { transactionId: id, status: 'rejected', version: ++version, at: clock.now() });
            }
            if (op.kind === 'giveBack' && signed.length > 0) {
              // As when no node accepted the bytes: the nonce is voided, the amount no longer counts.
              const back = signed.splice(Math.floor(signed.length / 2), 1)[0]!;
              await signing.releaseNonce(back.id);
            }
            if (op.kind === 'sign') {
              const batch = waiting.splice(0, op.many);
              for (const item of batch) await approve(item.id);
              const results = await Promise.allSettled(batch.map((item) => signing.signOnce(item.id, ++version)));
              results.forEach((result, i) => {
                if (result.status === 'fulfilled') {
                  signatures += 1;
                  signed.push({ id: batch[i]!.id, at: clock.now().getTime(), amount: batch[i]!.amount, limits: limitsOf(inForce) });
                } else {
                  assert.ok(result.reason instanceof SigningRefusedError && result.reason.reason === 'policy_denied', `signing failed otherwise: ${String(result.reason)}`);
                  refusedAtSigning += 1;
                }
              });
            }
            // Every window that ends at a signature holds at most the limits in force then.
            for (const end of signed) {
              for (const limit of end.limits) {
                const sum = signed.filter((s) => s.at > end.at - limit.windowMs && s.at <= end.at).reduce((acc, s) => acc + s.amount, 0n);
                assert.ok(sum <= limit.amount, `${sum} wei signed in the ${limit.windowMs / 60_000} min before ${new Date(end.at).toISOString()}, limit ${limit.amount}`);
              }
            }
          }
          // The database agrees with the model: exactly these signatures, none given back, are live.
          const live = (await db('signed_transactions as s')
            .join('nonce_assignments as n', 'n.transaction_id', 's.transaction_id')
            .where({ 's.wallet_id': walletId })
            .whereNull('n.voided_at')
            .pluck('s.transaction_id')) as string[];
          assert.deepEqual(live.sort(), signed.map((s) => s.id).sort());
        }),
        { numRuns: Number(process.env.POLICY_PROPERTY_RUNS ?? 15), endOnFailure: true },
      );
    } finally {
      chains.destroy();
      await keystore.close();
    }
    process.stdout.write(`[policies] property: ${runs} runs, ${prepared} prepared, ${refusedAtPrepare} refused at prepare, ${signatures} signed, ${refusedAtSigning} refused at signing\n`);
    assert.ok(signatures > 0, 'the property signed something');

    /** As the API records an approval: a TOTP use of the owner and an approval over the request's digest; then the workflow's `approved`. */
    async function approve(transactionId: string) {
      const row = (await db('transactions').where({ id: transactionId }).first('user_id', 'digest')) as { user_id: string; digest: string };
      const mfaUseId = randomUUID();
      await db('mfa_uses').insert({ id: mfaUseId, user_id: row.user_id, step: ++mfaStep, purpose: 'approve_transactions', created_at: clock.now() });
      await db('approvals').insert({ id: randomUUID(), transaction_id: transactionId, user_id: row.user_id, mfa_use_id: mfaUseId, digest: row.digest, created_at: clock.now() });
      await projectStatus(db, {
        transactionId,
        status: 'approved',
        version: ++version,
        at: clock.now(),
        fields: { approved_at: clock.now(), execution_expires_at: new Date(clock.now().getTime() + 3_600_000) },
      });
    }
  });
});
