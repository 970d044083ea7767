/**
 * The signing module alone (domains/transactions/signing.ts), against
 * PostgreSQL and without Temporal: every refusal of the gate, nonces gap-free
 * under 20 concurrent signings on one wallet, first writer wins for one
 * request, a voided nonce reused, and a request that changes between the
 * gate's first look and its lock is refused with nothing consumed.
 *
 * Rows are written straight into a fresh database. The key store and the
 * chain are stand-ins where that is honest: decrypt returns the wallet's key
 * (custody itself is proven in custody.test.ts), and signing is the real
 * EIP-1559 signer of the chain domain (no node needed to sign).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { Transaction as EthersTransaction, Wallet } from 'ethers';
import { freshDatabase, type TestDatabase } from '../support/db';
import { systemClock } from '../../lib/clock';
import { createAuditLog } from '../../domains/audit';
import { signEip1559 } from '../../domains/chain';
import { createPolicyEngine } from '../../domains/policies';
import { checkSignable, createSigning, digestOf, SigningRefusedError, type SigningChain } from '../../domains/transactions';
import { findTransaction, insertTransaction } from '../../domains/transactions/dal';

let database: TestDatabase;
before(async () => {
  database = await freshDatabase('sign');
});
after(async () => {
  await database?.drop();
});

const db = () => database.db;
const keys = new Map<string, Buffer>();
let pendingNonce = 0;
/** Runs once between the gate's first look and the locked re-check (the window a concurrent change can land in). */
let duringDecrypt: (() => Promise<void>) | undefined;

const chain: SigningChain = {
  pendingNonce: async () => pendingNonce,
  feeSuggestion: async () => ({ maxFeePerGas: 2_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n }),
  sign: (args) => signEip1559(args),
  broadcast: async () => undefined,
  waitForConfirmation: async () => ({ status: 'confirmed', blockNumber: 1, confirmations: 1 }),
};

function signing() {
  const audit = createAuditLog({ db: db(), hmacKey: randomBytes(32).toString('hex') });
  const logger = { error() {} };
  return createSigning({
    db: db(),
    clock: systemClock,
    logger,
    chain,
    audit,
    // The real policy check (these wallets have no rules): part of every signing transaction.
    policies: createPolicyEngine({ db: db(), clock: systemClock, logger, audit, requestLifetimeSeconds: 8 * 86_400 }),
    keystore: {
      async decrypt(_purpose, walletId) {
        const hook = duringDecrypt;
        duringDecrypt = undefined;
        await hook?.();
        return Buffer.from(keys.get(walletId)!);
      },
    },
  });
}

interface Party {
  ownerId: string;
  agentId: string;
  walletId: string;
  address: string;
}

async function newUser(): Promise<string> {
  const id = randomUUID();
  await db()('users').insert({ id, username: `u${randomBytes(6).toString('hex')}`, password_hash: 'x' });
  return id;
}

async function newParty(): Promise<Party> {
  const ownerId = await newUser();
  const key = Wallet.createRandom();
  const walletId = randomUUID();
  keys.set(walletId, Buffer.from(key.privateKey.slice(2), 'hex'));
  const address = key.address.toLowerCase();
  await db()('wallets').insert({ id: walletId, user_id: ownerId, address, key_ciphertext: 'local:v1:stand-in' });
  const agentId = randomUUID();
  await db()('agents').insert({ id: agentId, user_id: ownerId, name: 'agent', key_id: randomBytes(12).toString('hex'), key_digest: randomBytes(32) });
  return { ownerId, agentId, walletId, address };
}

let step = 1_000_000;
async function mfaUse(userId: string): Promise<string> {
  const id = randomUUID();
  await db()('mfa_uses').insert({ id, user_id: userId, step: (step += 1), purpose: 'approve_transactions' });
  return id;
}

interface Options {
  approve?: boolean;
  /** Who approves (default the owner) and whose TOTP use backs it (default the approver's). */
  approver?: string;
  mfaUser?: string;
  digest?: string;
  execute?: boolean | string;
  autoExecute?: boolean;
  windowMs?: number;
  status?: string;
}

/** A request on `party`'s wallet, approved and executed as `options` say, its projection at `approved`. */
async function request(party: Party, options: Options = {}): Promise<string> {
  const id = randomUUID();
  const frozen = {
    id,
    chain_id: 31337,
    from_address: party.address,
    to_address: `0x${randomBytes(20).toString('hex')}`,
    value: '1000',
    data: '0x',
    gas_limit: '21000',
    max_fee_per_gas: '3000000000',
    max_priority_fee_per_gas: '1000000000',
    approval_expires_at: new Date(Math.floor(Date.now() / 1000) * 1000 + 3_600_000),
  };
  const digest = digestOf(frozen);
  await insertTransaction(
    db(),
    {
      ...frozen,
      digest,
      wallet_id: party.walletId,
      user_id: party.ownerId,
      agent_id: party.agentId,
      origin: 'agent',
      kind: 'native',
      recipient: frozen.to_address,
      token_address: null,
      amount: '1000',
      memo: null,
      summary: {} as never,
      auto_execute: options.autoExecute ?? false,
      idempotency_key: null,
      request_hash: null,
    },
    new Date(),
  );
  if (options.approve !== false) {
    const approver = options.approver ?? party.ownerId;
    await db()('approvals').insert({ id: randomUUID(), transaction_id: id, user_id: approver, mfa_use_id: await mfaUse(options.mfaUser ?? approver), digest: options.digest ?? digest });
  }
  if (options.execute !== false) {
    const actor = typeof options.execute === 'string' ? options.execute : party.agentId;
    await db()('transaction_commands').insert({ id: randomUUID(), transaction_id: id, kind: 'execute', actor_type: 'agent', actor_id: actor });
  }
  await db()('transactions')
    .where({ id })
    .update({ status: options.status ?? 'approved', version: 3, execution_expires_at: new Date(Date.now() + (options.windowMs ?? 3_600_000)) });
  return id;
}

const refusedWith = (reason: string) => (err: unknown) => err instanceof SigningRefusedError && err.reason === reason;

async function stored(transactionId: string) {
  return db()('signed_transactions').where({ transaction_id: transactionId });
}

describe('the gate refuses, and nothing is signed', () => {
  const cases: Array<[string, string, (party: Party) => Promise<string>]> = [
    ['a pending request', 'not_approved', (p) => request(p, { status: 'pending_approval' })],
    ['a cancelled request', 'not_approved', (p) => request(p, { status: 'cancelled' })],
    ['a request past its execution window', 'execution_window_passed', (p) => request(p, { windowMs: -1000 })],
    ['no approval', 'approval_mismatch', (p) => request(p, { approve: false })],
    ['an approval by someone other than the owner', 'approval_mismatch', async (p) => request(p, { approver: await newUser() })],
    ["an approval behind another user's TOTP use", 'approval_mismatch', async (p) => request(p, { mfaUser: await newUser() })],
    ['an approval over another digest', 'approval_mismatch', (p) => request(p, { digest: `0x${'ab'.repeat(32)}` })],
    ['no execute command', 'execute_not_requested', (p) => request(p, { execute: false })],
    ["another agent's execute command", 'execute_not_requested', (p) => request(p, { execute: randomUUID() })],
  ];
  for (const [name, reason, make] of cases) {
    test(`${name} → ${reason}`, async () => {
      const party = await newParty();
      const id = await make(party);
      await assert.rejects(signing().signOnce(id, 10), refusedWith(reason));
      assert.equal((await stored(id)).length, 0);
      assert.equal((await db()('nonce_assignments').where({ transaction_id: id })).length, 0, 'no nonce taken');
    });
  }

  test('a frozen wallet → wallet_frozen', async () => {
    const party = await newParty();
    const id = await request(party);
    await db()('wallets').where({ id: party.walletId }).update({ frozen_at: new Date(), frozen_reason: 'test' });
    await assert.rejects(signing().signOnce(id, 10), refusedWith('wallet_frozen'));
    assert.equal((await stored(id)).length, 0);
  });

  test('a request of an agent an operator froze → agent_frozen', async () => {
    const party = await newParty();
    const id = await request(party);
    await db()('agents').where({ id: party.agentId }).update({ frozen_at: new Date(), frozen_reason: 'operator: test' });
    await assert.rejects(signing().signOnce(id, 10), refusedWith('agent_frozen'));
    assert.equal((await stored(id)).length, 0);
    await db()('agents').where({ id: party.agentId }).update({ frozen_at: null, frozen_reason: null });
    assert.equal((await signing().signOnce(id, 10)).signedNow, true, 'signed once the freeze is lifted');
  });

  test('an unknown request → unknown_transaction', async () => {
    await assert.rejects(signing().signOnce(randomUUID(), 10), refusedWith('unknown_transaction'));
  });

  test('auto_execute (frozen at prepare) stands in for the execute command', async () => {
    const party = await newParty();
    const id = await request(party, { execute: false, autoExecute: true });
    const wallet = await checkSignable(db(), (await findTransaction(db(), id))!, new Date());
    assert.equal(wallet.id, party.walletId);
  });

  test('a request cancelled while its key was being decrypted is refused by the locked re-check; no nonce consumed', async () => {
    const party = await newParty();
    const id = await request(party);
    duringDecrypt = async () => {
      await db()('transactions').where({ id }).update({ status: 'cancelled', version: 4 });
    };
    await assert.rejects(signing().signOnce(id, 10), refusedWith('not_approved'));
    assert.equal((await stored(id)).length, 0);
    assert.equal((await db()('nonce_assignments').where({ wallet_id: party.walletId })).length, 0);
  });
});

describe('signing once', () => {
  test('signs, stores the bytes with its nonce and audit entry; a second call returns the same bytes', async () => {
    const party = await newParty();
    pendingNonce = 7;
    const id = await request(party);
    const first = await signing().signOnce(id, 10);
    assert.equal(first.signedNow, true);
    const again = await signing().signOnce(id, 10);
    assert.deepEqual([again.txHash, again.signedNow], [first.txHash, false]);
    const [row] = await stored(id);
    const parsed = EthersTransaction.from(row.raw);
    assert.equal(parsed.from?.toLowerCase(), party.address);
    assert.equal(parsed.nonce, 7, 'seeded from the chain');
    assert.equal(parsed.type, 2);
    assert.ok(parsed.maxFeePerGas! <= 3_000_000_000n && parsed.maxPriorityFeePerGas! <= 1_000_000_000n, 'within the approved caps');
    const projection = (await findTransaction(db(), id))!;
    assert.deepEqual([projection.status, projection.tx_hash, projection.nonce], ['signing', first.txHash, '7']);
    const audited = await db()('audit_events').where({ action: 'transaction.signed', subject_id: id });
    assert.equal(audited.length, 1);
  });

  test('first writer wins: 5 concurrent attempts on one request store one signature and agree on it', async () => {
    const party = await newParty();
    pendingNonce = 0;
    const id = await request(party);
    const results = await Promise.all(Array.from({ length: 5 }, () => signing().signOnce(id, 10)));
    assert.equal(new Set(results.map((r) => r.txHash)).size, 1);
    assert.equal(results.filter((r) => r.signedNow).length, 1);
    assert.equal((await stored(id)).length, 1);
    assert.equal((await db()('nonce_assignments').where({ transaction_id: id })).length, 1);
    assert.equal((await db()('audit_events').where({ action: 'transaction.signed', subject_id: id })).length, 1);
  });

  test('20 concurrent signings on one wallet take nonces 0..19, no gap, no repeat', async () => {
    const party = await newParty();
    pendingNonce = 0;
    const ids = await Promise.all(Array.from({ length: 20 }, () => request(party)));
    await Promise.all(ids.map((id) => signing().signOnce(id, 10)));
    const rows = await db()('signed_transactions').where({ wallet_id: party.walletId }).select('nonce');
    assert.deepEqual(rows.map((r: { nonce: string }) => Number(r.nonce)).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
  });

  test('a voided nonce (its bytes never reached a node) is reused by the next signing', async () => {
    const party = await newParty();
    pendingNonce = 0;
    const [a, b, c] = [await request(party), await request(party), await request(party)];
    const signer = signing();
    await signer.signOnce(a, 10);
    await signer.signOnce(b, 10);
    await signer.releaseNonce(a);
    await signer.signOnce(c, 10);
    const nonceOf = async (id: string) => Number(((await stored(id))[0] as { nonce: string }).nonce);
    assert.deepEqual([await nonceOf(b), await nonceOf(c)], [1, 0]);
  });
});
