/**
 * Wallets end to end against real PostgreSQL, OpenBao and anvil, through the
 * in-process app with real accounts, MFA (otplib codes, test clock) and agents:
 * create → load → balance after funding; key custody in Vault (the API's
 * credential cannot decrypt; a ciphertext is bound to its wallet); object-level
 * authorization between users and for agents; grants and withdrawals with
 * MFA; the order of checks (404 and 403 before a TOTP step is consumed); an
 * unreachable node answers 503 without burning the code; ERC-20 balances; and
 * every wallet event in the audit log.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { getAddress, Wallet } from 'ethers';
import { KeyStoreError } from '../../domains/keystore';
import { verifyChain } from '../../domains/audit';
import { vaultApi } from '../support/keystore-openbao';
import { deployTestToken, fundedWallet, sendAndMine } from '../support/contracts';
import { auditRows, startWalletStack, type TestUser, type WalletStack } from './wallets-harness';

let s: WalletStack;
let alice: TestUser;
let bob: TestUser;

before(async () => {
  s = await startWalletStack({ name: 'wallets_it' });
  [alice, bob] = [await s.newUser('alice'), await s.newUser('bob')];
});

after(async () => {
  await s?.close();
});

async function createWallet(user: TestUser, label?: string) {
  const answer = await s.http('POST', '/api/create_wallet', { token: user.token, body: { password: user.password, ...(label === undefined ? {} : { label }) } });
  assert.equal(answer.status, 201, answer.text);
  return answer.body as { wallet_id: string; address: string; label: string | null; created_at: string };
}

const storedRow = async (walletId: string) => (await s.db('wallets').where({ id: walletId }).first()) as { id: string; address: string; key_ciphertext: string; user_id: string; label: string | null };

describe('create → load → balance', () => {
  test('a new wallet: EIP-55 address, key stored only as a Vault ciphertext bound to the wallet', async () => {
    const created = await createWallet(alice, '  Trading\u202e bot ');
    assert.match(created.wallet_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(created.address, getAddress(created.address), 'EIP-55 checksummed');
    assert.equal(created.label, 'Trading bot', 'control and bidi characters are stripped');
    assert.ok(!Number.isNaN(Date.parse(created.created_at)));
    assert.deepEqual(Object.keys(created).sort(), ['address', 'created_at', 'label', 'wallet_id']);

    const row = await storedRow(created.wallet_id);
    assert.equal(row.address, created.address.toLowerCase());
    assert.equal(row.user_id, alice.userId);
    assert.match(row.key_ciphertext, /^vault:v\d+:/);

    // The worker's credential reads the key back, and it is the key of this address.
    const key = await s.workerKeystore.decrypt('wallet', created.wallet_id, row.key_ciphertext);
    try {
      assert.equal(key.length, 32);
      assert.equal(new Wallet(`0x${key.toString('hex')}`).address, created.address);
    } finally {
      key.fill(0);
    }
  });

  test('funded on anvil, the balance shows in the list, the detail and load_wallet', async () => {
    const created = await createWallet(alice, 'funded');
    const listedBefore = await s.http('GET', '/api/wallets', { token: alice.token });
    assert.equal(listedBefore.status, 200);
    const before = listedBefore.body.wallets.find((w: { address: string }) => w.address === created.address);
    assert.deepEqual(before, { wallet_id: created.wallet_id, address: created.address, label: 'funded', balance: '0', chain_id: s.chain.chainId, created_at: created.created_at, frozen: false });

    await s.fund(created.address, 1_500_000_000_000_000_000n);

    const detail = await s.http('GET', `/api/wallets/${created.address.toLowerCase()}`, { token: alice.token });
    assert.equal(detail.status, 200, detail.text);
    assert.equal(detail.body.balance, '1500000000000000000');
    assert.equal(detail.body.address, created.address);
    assert.deepEqual(detail.body.tokens, []);

    const listed = await s.http('GET', `/api/wallets?chain_id=${s.chain.chainId}`, { token: alice.token });
    assert.equal(listed.body.wallets.find((w: { address: string }) => w.address === created.address).balance, '1500000000000000000');

    const code = await alice.nextCode();
    const loaded = await s.http('POST', '/api/load_wallet', { token: alice.token, body: { password: alice.password, mfa_code: code, address: created.address.toUpperCase().replace('0X', '0x') } });
    assert.equal(loaded.status, 200, loaded.text);
    assert.deepEqual(loaded.body, { address: created.address, balance: '1500000000000000000', nonce: '0', chain_id: s.chain.chainId });

    // The step is spent: the same code again is refused.
    const again = await s.http('POST', '/api/load_wallet', { token: alice.token, body: { password: alice.password, mfa_code: code, address: created.address } });
    assert.equal(again.status, 403);
    assert.equal(again.body.error.code, 'mfa_code_used');
  });

  test('create_wallet re-authenticates: a wrong password is 403 and creates nothing', async () => {
    const before = await s.db('wallets').where({ user_id: alice.userId }).count<{ count: string }[]>({ count: '*' });
    const answer = await s.http('POST', '/api/create_wallet', { token: alice.token, body: { password: 'not-the-password' } });
    assert.equal(answer.status, 403);
    assert.equal(answer.body.error.code, 'password_invalid');
    const after = await s.db('wallets').where({ user_id: alice.userId }).count<{ count: string }[]>({ count: '*' });
    assert.deepEqual(after, before);
  });

  test('load_wallet: a wrong password is 403 before the TOTP step is consumed', async () => {
    const created = await createWallet(alice);
    const code = await alice.nextCode();
    const wrong = await s.http('POST', '/api/load_wallet', { token: alice.token, body: { password: 'nope-nope-nope', mfa_code: code, address: created.address } });
    assert.equal(wrong.status, 403);
    assert.equal(wrong.body.error.code, 'password_invalid');
    const right = await s.http('POST', '/api/load_wallet', { token: alice.token, body: { password: alice.password, mfa_code: code, address: created.address } });
    assert.equal(right.status, 200, 'the code was not spent by the failed attempt');
  });

  test('load_wallet: a wrong code is 403 mfa_invalid', async () => {
    const created = await createWallet(alice);
    const code = await alice.nextCode();
    const wrongCode = code === '000000' ? '111111' : '000000';
    const answer = await s.http('POST', '/api/load_wallet', { token: alice.token, body: { password: alice.password, mfa_code: wrongCode, address: created.address } });
    assert.equal(answer.status, 403);
    assert.equal(answer.body.error.code, 'mfa_invalid');
  });

  test('ERC-20 balances with symbol and decimals; a non-token answers nulls, not an error', async () => {
    const created = await createWallet(alice, 'tokens');
    const deployer = await fundedWallet(s.chain.provider);
    const token = await deployTestToken(deployer, { symbol: 'T\u202eKN', decimals: 6 });
    await sendAndMine(deployer, { to: token.address, data: token.contract.interface.encodeFunctionData('mint', [created.address, 1234567n]) });
    const eoa = Wallet.createRandom().address;
    const answer = await s.http('GET', `/api/wallets/${created.address}?tokens=${token.address.toLowerCase()},${eoa}`, { token: alice.token });
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(answer.body.tokens, [
      { token: token.address, symbol: 'TKN', decimals: 6, balance: '1234567' },
      { token: eoa, symbol: null, decimals: null, balance: null },
    ]);
  });
});

describe('key custody in Vault', () => {
  test("the API's Vault credential cannot decrypt a wallet key: Vault answers 403", async () => {
    const created = await createWallet(alice);
    const row = await storedRow(created.wallet_id);
    const context = Buffer.from(`wallet:${created.wallet_id}`).toString('base64');
    await assert.rejects(
      vaultApi(s.vault.addr, s.vault.apiToken, 'POST', `${s.vault.mount}/decrypt/${s.vault.keys.wallet}`, { ciphertext: row.key_ciphertext, context }),
      /: 403 /,
    );
    await assert.rejects(s.apiKeystore.decrypt('wallet', created.wallet_id, row.key_ciphertext), (error: unknown) => {
      assert.ok(error instanceof KeyStoreError);
      assert.equal(error.code, 'forbidden');
      assert.equal(error.status, 403);
      return true;
    });
    // Nor can it export the key or read a backup of it.
    await assert.rejects(vaultApi(s.vault.addr, s.vault.apiToken, 'GET', `${s.vault.mount}/export/encryption-key/${s.vault.keys.wallet}`), /: 403 /);
    await assert.rejects(vaultApi(s.vault.addr, s.vault.apiToken, 'GET', `${s.vault.mount}/backup/${s.vault.keys.wallet}`), /: 403 /);
  });

  test('a ciphertext swapped between two wallets does not decrypt', async () => {
    const a = await createWallet(alice);
    const b = await createWallet(alice);
    const [rowA, rowB] = [await storedRow(a.wallet_id), await storedRow(b.wallet_id)];
    for (const [id, ciphertext] of [
      [a.wallet_id, rowB.key_ciphertext],
      [b.wallet_id, rowA.key_ciphertext],
    ] as const) {
      await assert.rejects(s.workerKeystore.decrypt('wallet', id, ciphertext), (error: unknown) => error instanceof KeyStoreError && error.code === 'decrypt_failed');
    }
    // Swapped in the table itself, the signing path (decrypt by the row's own id) fails the same way.
    await s.db('wallets').where({ id: a.wallet_id }).update({ key_ciphertext: rowB.key_ciphertext });
    const swapped = await storedRow(a.wallet_id);
    await assert.rejects(s.workerKeystore.decrypt('wallet', swapped.id, swapped.key_ciphertext), (error: unknown) => error instanceof KeyStoreError && error.code === 'decrypt_failed');
    await s.db('wallets').where({ id: a.wallet_id }).update({ key_ciphertext: rowA.key_ciphertext });
    const key = await s.workerKeystore.decrypt('wallet', a.wallet_id, rowA.key_ciphertext);
    assert.equal(new Wallet(`0x${key.toString('hex')}`).address, a.address);
    key.fill(0);
  });

  test('the table refuses anything but a key-store ciphertext in key_ciphertext', async () => {
    const id = randomUUID();
    await assert.rejects(
      s.db('wallets').insert({ id, user_id: alice.userId, address: `0x${'1'.repeat(40)}`, key_ciphertext: '4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318' }),
      /wallets_key_ciphertext_format/,
    );
  });
});

describe('object-level authorization', () => {
  test("user B can neither see nor load user A's wallet: 404, like an unknown address, before the TOTP step", async () => {
    const mine = await createWallet(alice, 'alice only');
    const bobs = await createWallet(bob, 'bob');
    const unknown = Wallet.createRandom().address;

    const list = await s.http('GET', '/api/wallets', { token: bob.token });
    assert.equal(list.status, 200);
    const addresses = list.body.wallets.map((w: { address: string }) => w.address);
    assert.ok(addresses.includes(bobs.address));
    assert.ok(!addresses.includes(mine.address));
    assert.ok(list.body.wallets.every((w: { wallet_id: string }) => w.wallet_id !== mine.wallet_id));

    const foreign = await s.http('GET', `/api/wallets/${mine.address}`, { token: bob.token });
    const missing = await s.http('GET', `/api/wallets/${unknown}`, { token: bob.token });
    assert.equal(foreign.status, 404);
    assert.equal(foreign.text, missing.text, 'foreign and unknown answer identically');

    const code = await bob.nextCode();
    const load = await s.http('POST', '/api/load_wallet', { token: bob.token, body: { password: bob.password, mfa_code: code, address: mine.address } });
    assert.equal(load.status, 404);
    assert.equal(load.body.error.code, 'not_found');
    const loadUnknown = await s.http('POST', '/api/load_wallet', { token: bob.token, body: { password: bob.password, mfa_code: code, address: unknown } });
    assert.equal(loadUnknown.text, load.text);
    // Neither spent Bob's code: he can still use it on his own wallet.
    const own = await s.http('POST', '/api/load_wallet', { token: bob.token, body: { password: bob.password, mfa_code: code, address: bobs.address } });
    assert.equal(own.status, 200, own.text);
  });
});

describe('agents see only granted wallets', () => {
  test('grant at creation, grant and withdraw later with MFA; the agent sees exactly its grants', async () => {
    const w1 = await createWallet(alice, 'granted');
    const w2 = await createWallet(alice, 'later');
    const agent = await s.createAgent(alice, [w1.address]);

    const seen = async () => (await s.http('GET', '/api/wallets', { apiKey: agent.apiKey })).body.wallets.map((w: { address: string }) => w.address);
    assert.deepEqual(await seen(), [w1.address]);
    assert.equal((await s.http('GET', `/api/wallets/${w1.address}`, { apiKey: agent.apiKey })).status, 200);
    assert.equal((await s.http('GET', `/api/wallets/${w2.address}`, { apiKey: agent.apiKey })).status, 404);

    const loaded = await s.http('POST', '/api/load_wallet', { apiKey: agent.apiKey, body: {} });
    assert.equal(loaded.status, 200, loaded.text);
    assert.deepEqual(loaded.body, { wallets: [{ address: w1.address, balance: '0', chain_id: s.chain.chainId, label: 'granted' }] });

    // Grant w2 (TOTP).
    const granted = await s.http('POST', `/api/agents/${agent.agentId}/wallets`, { token: alice.token, body: { address: w2.address.toLowerCase(), mfa_code: await alice.nextCode() } });
    assert.equal(granted.status, 200, granted.text);
    assert.deepEqual(granted.body, { agent_id: agent.agentId, wallets: [w1.address, w2.address].sort() });
    assert.deepEqual((await seen()).sort(), [w1.address, w2.address].sort());

    // The agents list shows it too (the accounts domain reads the same grants).
    const agents = await s.http('GET', '/api/agents', { token: alice.token });
    assert.deepEqual(agents.body.agents.find((a: { agent_id: string }) => a.agent_id === agent.agentId).wallets.sort(), [w1.address, w2.address].sort());

    // Withdraw w1: at once invisible to the agent; again is a no-op 204.
    assert.equal((await s.http('DELETE', `/api/agents/${agent.agentId}/wallets/${w1.address}`, { token: alice.token })).status, 204);
    assert.deepEqual(await seen(), [w2.address]);
    assert.equal((await s.http('GET', `/api/wallets/${w1.address}`, { apiKey: agent.apiKey })).status, 404);
    assert.equal((await s.http('DELETE', `/api/agents/${agent.agentId}/wallets/${w1.address.toLowerCase()}`, { token: alice.token })).status, 204);
    const withdrawals = await auditRows(s.db, { action: 'agent.wallet_withdrawn', subject_id: w1.wallet_id });
    assert.equal(withdrawals.length, 1, 'a no-op withdrawal records nothing');

    // An agent never creates wallets or grants.
    assert.equal((await s.http('POST', '/api/create_wallet', { apiKey: agent.apiKey, body: { password: 'x' } })).status, 403);
    assert.equal((await s.http('POST', `/api/agents/${agent.agentId}/wallets`, { apiKey: agent.apiKey, body: { address: w1.address, mfa_code: '123456' } })).status, 403);
  });

  test('unknown or foreign agent or wallet: 404 before the TOTP step is consumed', async () => {
    const mine = await createWallet(alice);
    const bobs = await createWallet(bob);
    const aliceAgent = await s.createAgent(alice);
    const bobAgent = await s.createAgent(bob);
    const code = await alice.nextCode();

    const attempts: Array<[string, string]> = [
      [randomUUID(), mine.address],
      [bobAgent.agentId, mine.address],
      [aliceAgent.agentId, bobs.address],
      [aliceAgent.agentId, Wallet.createRandom().address],
    ];
    const bodies = new Set<string>();
    for (const [agentId, address] of attempts) {
      const answer = await s.http('POST', `/api/agents/${agentId}/wallets`, { token: alice.token, body: { address, mfa_code: code } });
      assert.equal(answer.status, 404, `${agentId} ${address}`);
      bodies.add(answer.body.error.code);
      const del = await s.http('DELETE', `/api/agents/${agentId}/wallets/${address}`, { token: alice.token });
      assert.equal(del.status, 404);
    }
    assert.deepEqual([...bodies], ['not_found']);

    // The code is still fresh.
    const ok = await s.http('POST', `/api/agents/${aliceAgent.agentId}/wallets`, { token: alice.token, body: { address: mine.address, mfa_code: code } });
    assert.equal(ok.status, 200, ok.text);
    // …and now spent.
    const replay = await s.http('POST', `/api/agents/${aliceAgent.agentId}/wallets`, { token: alice.token, body: { address: mine.address, mfa_code: code } });
    assert.equal(replay.status, 403);
    assert.equal(replay.body.error.code, 'mfa_code_used');
  });

  test('a wrong code grants nothing', async () => {
    const wallet = await createWallet(alice);
    const agent = await s.createAgent(alice);
    const code = await alice.nextCode();
    const answer = await s.http('POST', `/api/agents/${agent.agentId}/wallets`, { token: alice.token, body: { address: wallet.address, mfa_code: code === '999999' ? '999998' : '999999' } });
    assert.equal(answer.status, 403);
    assert.equal(answer.body.error.code, 'mfa_invalid');
    assert.deepEqual((await s.http('GET', '/api/wallets', { apiKey: agent.apiKey })).body.wallets, []);
  });

  test("a grant row linking another owner's wallet is ignored, and a revoked agent gets no grants", async () => {
    const bobs = await createWallet(bob);
    const agent = await s.createAgent(alice);
    // Planted directly (the API cannot create it): the owner-match rule still hides the wallet.
    await s.db('agent_wallets').insert({ agent_id: agent.agentId, wallet_id: bobs.wallet_id });
    assert.deepEqual((await s.http('GET', '/api/wallets', { apiKey: agent.apiKey })).body.wallets, []);
    assert.equal((await s.http('GET', `/api/wallets/${bobs.address}`, { apiKey: agent.apiKey })).status, 404);
    assert.deepEqual((await s.http('POST', '/api/load_wallet', { apiKey: agent.apiKey })).body, { wallets: [] });

    const mine = await createWallet(alice);
    assert.equal((await s.http('DELETE', `/api/agents/${agent.agentId}`, { token: alice.token })).status, 204);
    const code = await alice.nextCode();
    const grant = await s.http('POST', `/api/agents/${agent.agentId}/wallets`, { token: alice.token, body: { address: mine.address, mfa_code: code } });
    assert.equal(grant.status, 404);
    // Withdrawing from a revoked agent still works (cleaning up).
    assert.equal((await s.http('DELETE', `/api/agents/${agent.agentId}/wallets/${mine.address}`, { token: alice.token })).status, 204);
  });

  test('the load_wallet forms belong to their principals', async () => {
    const agent = await s.createAgent(alice);
    const asUser = await s.http('POST', '/api/load_wallet', { token: alice.token, body: {} });
    assert.equal(asUser.status, 403);
    assert.equal(asUser.body.error.code, 'wrong_principal');
    const asAgent = await s.http('POST', '/api/load_wallet', { apiKey: agent.apiKey, body: { password: 'x', mfa_code: '123456', address: Wallet.createRandom().address } });
    assert.equal(asAgent.status, 403);
    assert.equal(asAgent.body.error.code, 'wrong_principal');
  });
});

describe('an unreachable node', () => {
  test('balances answer 503 (not 500), and load_wallet keeps the TOTP code unspent', async () => {
    const created = await createWallet(alice);
    for (const path of [`/api/wallets/${created.address}?chain_id=${s.deadChainId}`, `/api/wallets?chain_id=${s.deadChainId}`]) {
      const answer = await s.http('GET', path, { token: alice.token });
      assert.equal(answer.status, 503, `${path}: ${answer.text}`);
      assert.equal(answer.body.error.code, 'unavailable');
      assert.ok(answer.headers.get('retry-after'));
      assert.doesNotMatch(answer.text, /127\.0\.0\.1|http:/, 'the body does not name the node');
    }
    const code = await alice.nextCode();
    const down = await s.http('POST', '/api/load_wallet', { token: alice.token, body: { password: alice.password, mfa_code: code, address: created.address, chain_id: s.deadChainId } });
    assert.equal(down.status, 503, down.text);
    const up = await s.http('POST', '/api/load_wallet', { token: alice.token, body: { password: alice.password, mfa_code: code, address: created.address } });
    assert.equal(up.status, 200, 'the code survived the 503');
    assert.ok(s.logs.some((line) => line.includes('chain read failed')), 'the cause is logged');
  });
});

describe('audit', () => {
  test('every wallet event is in the audit log, without secrets, and the chain verifies', async () => {
    const created = await createWallet(alice, 'audited');
    const agent = await s.createAgent(alice);
    const grantCode = await alice.nextCode();
    assert.equal((await s.http('POST', `/api/agents/${agent.agentId}/wallets`, { token: alice.token, body: { address: created.address, mfa_code: grantCode } })).status, 200);
    assert.equal((await s.http('POST', '/api/load_wallet', { apiKey: agent.apiKey, body: {} })).status, 200);
    const loadCode = await alice.nextCode();
    assert.equal((await s.http('POST', '/api/load_wallet', { token: alice.token, body: { password: alice.password, mfa_code: loadCode, address: created.address } })).status, 200);
    assert.equal((await s.http('DELETE', `/api/agents/${agent.agentId}/wallets/${created.address}`, { token: alice.token })).status, 204);

    const rows = await auditRows(s.db, { subject_type: 'wallet', subject_id: created.wallet_id });
    assert.deepEqual(
      rows.map((r) => [r.action, r.actor_type, r.actor_id]),
      [
        ['wallet.created', 'user', alice.userId],
        ['agent.wallet_granted', 'user', alice.userId],
        ['wallet.loaded', 'agent', agent.agentId],
        ['wallet.loaded', 'user', alice.userId],
        ['agent.wallet_withdrawn', 'user', alice.userId],
      ],
    );
    const lower = created.address.toLowerCase();
    assert.equal(rows[0]!.data.address, lower);
    assert.equal(rows[0]!.data.label, 'audited');
    assert.equal(rows[0]!.data.key_store, 'vault');
    assert.equal(rows[1]!.data.agent_id, agent.agentId);
    assert.ok(typeof rows[1]!.data.mfa_use_id === 'string');
    assert.ok(typeof rows[3]!.data.mfa_use_id === 'string');
    const uses = await s.db('mfa_uses').whereIn('id', [rows[1]!.data.mfa_use_id, rows[3]!.data.mfa_use_id]).orderBy('step');
    assert.deepEqual(uses.map((u: { purpose: string }) => u.purpose), ['grant_wallet', 'load_wallet']);
    const text = JSON.stringify(rows);
    for (const secret of [alice.password, alice.secret, grantCode, loadCode, agent.apiKey]) assert.ok(!text.includes(secret), 'no secret in the audit data');

    const verification = await verifyChain(s.db, s.config.AUDIT_HMAC_KEY!);
    assert.equal(verification.ok, true);
  });
});
