/**
 * Owner-set policies on the real stack (issue 14): every rule type allowed and
 * refused at prepare with the exact 403 body, the dry run (POST
 * /api/policy/check) agreeing with prepare each time, nothing stored on a
 * refusal; policy changes behind a fresh TOTP step and in the audit chain;
 * what an agent may read (its own effective rules, its wallets' labels) and
 * may not (another wallet's rules, any change); labels and limits on the
 * owner's transaction views.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { getAddress, Interface, MaxUint256, type Wallet } from 'ethers';
import { startTestApp, type TestApp } from '../support/app';
import { call, chainProvider, expectStatus, fund, newAgent, newUser, newWallet, randomAddress, type HttpResult, type TestUser } from '../support/actors';
import { deployReverter, deployTestSwap, deployTestToken, fundedWallet, mintTestToken } from '../support/contracts';
import { verifyChain } from '../../domains/audit';
import { POLICY_DENIED_MESSAGE } from '../../domains/policies';

const ETH = 10n ** 18n;
const OTHER_CHAIN = 1337;
const erc20 = new Interface(['function transfer(address to, uint256 amount)', 'function approve(address spender, uint256 amount)']);
const swapIface = new Interface(['function multicall(bytes[] data)']);

let app: TestApp;
let deployer: Wallet;
let token: string;
let reverter: string;
let swap: string;
const provider = chainProvider();

before(async () => {
  // A second chain id served by the same anvil, so allowed_chains has something to refuse.
  app = await startTestApp({ env: { CHAIN_RPC_URLS: JSON.stringify({ [OTHER_CHAIN]: process.env.WEB3_PROVIDER_URI }), JWT_ACCESS_TOKEN_EXPIRES: '1d' } });
  deployer = await fundedWallet(provider);
  token = (await deployTestToken(deployer, { symbol: 'POL', decimals: 18 })).address;
  reverter = (await deployReverter(deployer)).address;
  swap = (await deployTestSwap(deployer)).address;
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

async function tenant(): Promise<Tenant> {
  const owner = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, owner);
  const agent = await newAgent(app.url, owner, [wallet]);
  await mintTestToken(deployer, token, wallet, 10n ** 24n);
  return { owner, wallet, agent };
}

interface RuleView {
  id: string;
  type: string;
  agent_id: string | null;
}
interface PolicyBody {
  version: number;
  rules: RuleView[];
  usage: { rule_id: string; used: string | null }[];
  refusals: { last_24h: number; recent: unknown[] } | null;
}

async function setRules(t: Tenant, rules: unknown[]): Promise<PolicyBody> {
  const put = await call<PolicyBody>(app.url, 'PUT', `/api/wallets/${t.wallet}/policy`, { token: t.owner.token, body: { rules, mfa_code: await t.owner.nextCode() } });
  expectStatus(put, 200, 'PUT policy');
  return put.body;
}

const errorOf = (result: HttpResult<unknown>) => (result.body as { error: { code: string; message: string; details?: unknown; hint?: string } }).error;

async function storedCount(wallet: string): Promise<number> {
  const [row] = await app.database.db('transactions').where({ from_address: wallet.toLowerCase() }).count<{ count: string }[]>('* as count');
  return Number(row!.count);
}

/**
 * The dry run, then prepare with the same body: they must agree (allowed ⇔ 202,
 * and the same violations). A refused prepare stores nothing.
 */
async function prepareChecked(t: Tenant, body: Record<string, unknown>) {
  const full = { wallet_address: t.wallet, ...body };
  const dry = await call<{ allowed: boolean; violations: unknown[]; policy_version: number }>(app.url, 'POST', '/api/policy/check', { apiKey: t.agent.apiKey, body: full });
  expectStatus(dry, 200, 'policy check');
  const before = await storedCount(t.wallet);
  const prepared = await call(app.url, 'POST', '/api/prepare_transaction', { apiKey: t.agent.apiKey, body: full });
  const after = await storedCount(t.wallet);
  if (prepared.status === 202) {
    assert.deepEqual(dry.body, { allowed: true, violations: [], policy_version: dry.body.policy_version }, 'the dry run allowed it too');
    assert.equal(after, before + 1);
  } else {
    expectStatus(prepared, 403, 'refused prepare');
    assert.equal(dry.body.allowed, false, `the dry run allowed what prepare refused: ${JSON.stringify(prepared.body)}`);
    assert.deepEqual(dry.body.violations, errorOf(prepared).details, 'the dry run names the same violations');
    assert.equal(after, before, 'a refused prepare stores nothing');
  }
  return prepared;
}

/** The exact 403 body of a refusal. */
function deniedBody(violations: { rule_id: string; type: string; message: string }[]) {
  return {
    error: {
      code: 'policy_denied',
      message: POLICY_DENIED_MESSAGE,
      details: violations,
      hint: "Change the request to fit the owner's rules named in details (GET /api/wallets/{address}/policy lists those that apply to you) or ask the owner to change them; nothing was stored and the owner was not asked.",
    },
  };
}

const native = (amount: bigint, to = randomAddress()) => ({ kind: 'native', to_address: to, amount: amount.toString() });
const ruleOf = (policy: PolicyBody, type: string) => policy.rules.find((r) => r.type === type)!;

describe('each rule type at prepare, and the dry run agrees', () => {
  test('max_per_transaction', async () => {
    const t = await tenant();
    const policy = await setRules(t, [{ type: 'max_per_transaction', asset: 'native', amount: ETH.toString() }]);
    expectStatus(await prepareChecked(t, native(ETH)), 202, 'at the limit');
    const refused = await prepareChecked(t, native(ETH + 1n));
    assert.deepEqual(refused.body, deniedBody([{ rule_id: ruleOf(policy, 'max_per_transaction').id, type: 'max_per_transaction', message: 'sends 1.000000000000000001 ETH; at most 1 ETH per transaction is allowed' }]));
  });

  test('rolling_limit: pending requests count; a token limit counts a transfer inside a multicall', async () => {
    const t = await tenant();
    const policy = await setRules(t, [
      { type: 'rolling_limit', asset: 'native', amount: ETH.toString(), window: '24h' },
      { type: 'rolling_limit', asset: token, amount: '1000', window: '1d' },
    ]);
    const [nativeRule, tokenRule] = policy.rules;
    expectStatus(await prepareChecked(t, native((6n * ETH) / 10n)), 202, '0.6 of 1');
    const refused = await prepareChecked(t, native(ETH / 2n));
    assert.deepEqual(refused.body, deniedBody([{ rule_id: nativeRule!.id, type: 'rolling_limit', message: 'sends 0.5 ETH, but 0.6 ETH of the 1 ETH allowed per 24 hours is already used or reserved' }]));
    expectStatus(await prepareChecked(t, native((4n * ETH) / 10n)), 202, 'exactly up to the limit');

    expectStatus(await prepareChecked(t, { kind: 'erc20', token_address: token, to_address: randomAddress(), amount: '600' }), 202, 'tokens');
    const inner = [erc20.encodeFunctionData('transfer', [randomAddress(), 300n]), erc20.encodeFunctionData('transfer', [randomAddress(), 200n])];
    const batch = await prepareChecked(t, { kind: 'contract_call', contract_address: token, data: swapIface.encodeFunctionData('multicall', [inner]) });
    assert.equal(errorOf(batch).code, 'policy_denied');
    assert.deepEqual(errorOf(batch).details, [
      { rule_id: tokenRule!.id, type: 'rolling_limit', message: `sends 500 base units of token ${token}, but 600 of the 1,000 allowed per day is already used or reserved` },
    ]);
  });

  test('allowed_recipients: native and ERC-20 recipients', async () => {
    const t = await tenant();
    const friend = randomAddress();
    const stranger = randomAddress();
    const policy = await setRules(t, [{ type: 'allowed_recipients', addresses: [friend] }]);
    expectStatus(await prepareChecked(t, native(1n, friend)), 202, 'to the friend');
    expectStatus(await prepareChecked(t, { kind: 'erc20', token_address: token, to_address: friend.toUpperCase().replace('0X', '0x'), amount: '5' }), 202, 'tokens to the friend');
    const refused = await prepareChecked(t, { kind: 'erc20', token_address: token, to_address: stranger, amount: '5' });
    assert.deepEqual(refused.body, deniedBody([{ rule_id: ruleOf(policy, 'allowed_recipients').id, type: 'allowed_recipients', message: `recipient ${checksum(stranger)} is not on this wallet's list of allowed recipients` }]));
  });

  test('allowed_contracts: address and function', async () => {
    const t = await tenant();
    const policy = await setRules(t, [{ type: 'allowed_contracts', contracts: [{ address: token, functions: ['transfer(address,uint256)'] }] }]);
    const id = ruleOf(policy, 'allowed_contracts').id;
    expectStatus(await prepareChecked(t, { kind: 'erc20', token_address: token, to_address: randomAddress(), amount: '5' }), 202, 'transfer');
    const approve = await prepareChecked(t, { kind: 'contract_call', contract_address: token, data: erc20.encodeFunctionData('approve', [randomAddress(), 5n]) });
    assert.deepEqual(approve.body, deniedBody([{ rule_id: id, type: 'allowed_contracts', message: `calls function 0x095ea7b3 of ${token}, which is not among its allowed functions` }]));
    const elsewhere = await prepareChecked(t, { kind: 'contract_call', contract_address: reverter, data: '0x12345678' });
    assert.deepEqual(elsewhere.body, deniedBody([{ rule_id: id, type: 'allowed_contracts', message: `calls ${reverter}, which is not an allowed contract` }]));
  });

  test('deny_unlimited_approvals: an unlimited allowance, also inside a multicall', async () => {
    const t = await tenant();
    const policy = await setRules(t, [{ type: 'deny_unlimited_approvals' }]);
    const id = ruleOf(policy, 'deny_unlimited_approvals').id;
    const spender = randomAddress();
    expectStatus(await prepareChecked(t, { kind: 'contract_call', contract_address: token, data: erc20.encodeFunctionData('approve', [spender, 1000n]) }), 202, 'a bounded allowance');
    const unlimited = await prepareChecked(t, { kind: 'contract_call', contract_address: token, data: erc20.encodeFunctionData('approve', [spender, MaxUint256]) });
    const message = `grants ${checksum(spender)} an unlimited allowance of token ${token}`;
    assert.deepEqual(unlimited.body, deniedBody([{ rule_id: id, type: 'deny_unlimited_approvals', message }]));
    const hidden = await prepareChecked(t, { kind: 'contract_call', contract_address: swap, data: swapIface.encodeFunctionData('multicall', [[erc20.encodeFunctionData('approve', [spender, MaxUint256])]]) });
    assert.deepEqual(hidden.body, deniedBody([{ rule_id: id, type: 'deny_unlimited_approvals', message: `grants ${checksum(spender)} an unlimited allowance of token ${swap}` }]));
  });

  test('allowed_chains', async () => {
    const t = await tenant();
    const policy = await setRules(t, [{ type: 'allowed_chains', chain_ids: [31337] }]);
    expectStatus(await prepareChecked(t, native(1n)), 202, 'on 31337');
    const refused = await prepareChecked(t, { ...native(1n), chain_id: OTHER_CHAIN });
    assert.deepEqual(refused.body, deniedBody([{ rule_id: ruleOf(policy, 'allowed_chains').id, type: 'allowed_chains', message: `chain ${OTHER_CHAIN} is not among the chains this wallet may use (31337)` }]));
  });

  test('max_requests, per agent', async () => {
    const t = await tenant();
    const second = await newAgent(app.url, t.owner, [t.wallet]);
    const policy = await setRules(t, [{ type: 'max_requests', count: 2, window: '1h' }]);
    expectStatus(await prepareChecked(t, native(1n)), 202, 'first');
    expectStatus(await prepareChecked(t, native(1n)), 202, 'second');
    const refused = await prepareChecked(t, native(1n));
    assert.deepEqual(refused.body, deniedBody([{ rule_id: ruleOf(policy, 'max_requests').id, type: 'max_requests', message: 'this agent has already made 2 requests from this wallet in the last hour; at most 2 are allowed' }]));
    expectStatus(await prepareChecked({ ...t, agent: second }, native(1n)), 202, 'another agent has its own count');
  });

  test('frozen: one agent, then the whole wallet', async () => {
    const t = await tenant();
    const second = await newAgent(app.url, t.owner, [t.wallet]);
    const agentRule = await setRules(t, [{ type: 'frozen', agent_id: t.agent.agentId.toUpperCase() }]);
    assert.equal(agentRule.rules[0]!.agent_id, t.agent.agentId, 'stored lowercase');
    assert.deepEqual((await prepareChecked(t, native(1n))).body, deniedBody([{ rule_id: agentRule.rules[0]!.id, type: 'frozen', message: 'the owner has frozen this agent for this wallet' }]));
    expectStatus(await prepareChecked({ ...t, agent: second }, native(1n)), 202, 'the other agent is not frozen');
    const wallet = await setRules(t, [{ type: 'frozen' }]);
    assert.deepEqual((await prepareChecked({ ...t, agent: second }, native(1n))).body, deniedBody([{ rule_id: wallet.rules[0]!.id, type: 'frozen', message: 'the owner has frozen this wallet: no agent may propose from it' }]));
  });

  test('a refusal is recorded, audited, shown to the owner, and starts nothing', async () => {
    const t = await tenant();
    await setRules(t, [{ type: 'max_per_transaction', asset: 'native', amount: '10' }]);
    const refused = await prepareChecked(t, native(11n));
    expectStatus(refused, 403, 'refused');
    const audit = await app.database.db('audit_events').where({ action: 'policy.denied', actor_id: t.agent.agentId }).select('data');
    assert.equal(audit.length, 1);
    assert.equal((audit[0]!.data as { stage: string }).stage, 'prepare');
    const view = await call<PolicyBody>(app.url, 'GET', `/api/wallets/${t.wallet}/policy`, { token: t.owner.token });
    assert.equal(view.body.refusals?.last_24h, 1);
    const inbox = await call<{ transactions: unknown[] }>(app.url, 'GET', `/api/transactions?wallet=${t.wallet}`, { token: t.owner.token });
    assert.deepEqual(inbox.body.transactions, [], 'the owner is not asked');
    assert.equal(await app.database.db('transaction_events').whereIn('transaction_id', app.database.db('transactions').where({ from_address: t.wallet.toLowerCase() }).select('id')).count('* as c').then((r) => Number((r[0] as { c: string }).c)), 0);
  });

  test('the policy is checked before the simulation: a forbidden request is policy_denied even when doomed; a doomed one that the policy allows is simulation_failed and counts for nothing', async () => {
    const t = await tenant();
    const policy = await setRules(t, [{ type: 'max_per_transaction', asset: 'native', amount: '1000' }]);
    const doomed = { kind: 'contract_call', contract_address: reverter, data: '0xa9cc4718' };
    const forbidden = await prepareChecked(t, { ...doomed, value: '5000' });
    assert.deepEqual(forbidden.body, deniedBody([{ rule_id: ruleOf(policy, 'max_per_transaction').id, type: 'max_per_transaction', message: 'sends 0.000000000000005 ETH; at most 0.000000000000001 ETH per transaction is allowed' }]));
    const spendBefore = await app.database.db('policy_spend').where({ wallet_id: await walletId(t) }).count<{ c: string }[]>('* as c');
    const allowed = await call(app.url, 'POST', '/api/prepare_transaction', { apiKey: t.agent.apiKey, body: { wallet_address: t.wallet, ...doomed, value: '10' } });
    expectStatus(allowed, 422, 'allowed by the policy, refused by the simulation');
    assert.equal(errorOf(allowed).code, 'simulation_failed');
    assert.equal(await storedCount(t.wallet), 0, 'nothing stored');
    const spendAfter = await app.database.db('policy_spend').where({ wallet_id: await walletId(t) }).count<{ c: string }[]>('* as c');
    assert.equal(spendAfter[0]!.c, spendBefore[0]!.c, 'nothing counted toward a limit');
    const view = await call<PolicyBody>(app.url, 'GET', `/api/wallets/${t.wallet}/policy`, { token: t.owner.token });
    assert.equal(view.body.refusals?.last_24h, 1, 'only the policy refusal is one');
    // With allow_simulation_failure the policy still decides first.
    const insisted = await call(app.url, 'POST', '/api/prepare_transaction', { apiKey: t.agent.apiKey, body: { wallet_address: t.wallet, ...doomed, value: '5000', allow_simulation_failure: true } });
    assert.equal(errorOf(insisted).code, 'policy_denied');
  });

  test('the owner dry-runs as one of their agents, or for every agent; an agent only as itself', async () => {
    const t = await tenant();
    await setRules(t, [{ type: 'frozen', agent_id: t.agent.agentId }]);
    const body = { wallet_address: t.wallet, ...native(1n) };
    const asAgent = await call<{ allowed: boolean }>(app.url, 'POST', '/api/policy/check', { token: t.owner.token, body: { ...body, agent_id: t.agent.agentId } });
    assert.equal(asAgent.body.allowed, false);
    const forAll = await call<{ allowed: boolean }>(app.url, 'POST', '/api/policy/check', { token: t.owner.token, body });
    assert.equal(forAll.body.allowed, true);
    const other = await tenant();
    expectStatus(await call(app.url, 'POST', '/api/policy/check', { token: t.owner.token, body: { ...body, agent_id: other.agent.agentId } }), 404, "someone else's agent");
    expectStatus(await call(app.url, 'POST', '/api/policy/check', { apiKey: t.agent.apiKey, body: { ...body, agent_id: other.agent.agentId } }), 404, 'an agent naming another');
    expectStatus(await call(app.url, 'POST', '/api/policy/check', { apiKey: other.agent.apiKey, body }), 404, 'a wallet not granted');
    assert.equal(await storedCount(t.wallet), 0, 'dry runs store nothing');
  });
});

describe('changing a policy', () => {
  test('needs a fresh TOTP step: a wrong or replayed code changes nothing', async () => {
    const t = await tenant();
    const first = await setRules(t, [{ type: 'max_per_transaction', asset: 'native', amount: '100' }]);
    const wrong = await call(app.url, 'PUT', `/api/wallets/${t.wallet}/policy`, { token: t.owner.token, body: { rules: [], mfa_code: '000000' } });
    expectStatus(wrong, 403, 'wrong code');
    assert.equal(errorOf(wrong).code, 'mfa_invalid');
    const code = await t.owner.nextCode();
    expectStatus(await call(app.url, 'PUT', `/api/wallets/${t.wallet}/policy`, { token: t.owner.token, body: { rules: [{ type: 'frozen' }], mfa_code: code } }), 200, 'with the code');
    const replay = await call(app.url, 'PUT', `/api/wallets/${t.wallet}/policy`, { token: t.owner.token, body: { rules: [], mfa_code: code } });
    expectStatus(replay, 403, 'replayed code');
    assert.equal(errorOf(replay).code, 'mfa_code_used');
    const now = await call<PolicyBody>(app.url, 'GET', `/api/wallets/${t.wallet}/policy`, { token: t.owner.token });
    assert.equal(now.body.version, first.version + 1);
    assert.deepEqual(now.body.rules.map((r) => r.type), ['frozen']);
  });

  test('every change is in the audit chain with the old and new rules', async () => {
    const t = await tenant();
    const v1 = await setRules(t, [{ type: 'max_per_transaction', asset: 'native', amount: '100' }]);
    const v2 = await setRules(t, [{ type: 'allowed_chains', chain_ids: [31337] }]);
    const entries = await app.database.db('audit_events').where({ action: 'policy.changed', actor_id: t.owner.userId }).orderBy('id').select('data');
    assert.equal(entries.length, 2);
    const [first, second] = entries.map((e) => e.data as { from_version: number; to_version: number; old_rules: RuleView[]; new_rules: RuleView[] });
    assert.deepEqual([first!.from_version, first!.to_version, first!.old_rules, first!.new_rules.map((r) => r.id)], [0, 1, [], v1.rules.map((r) => r.id)]);
    assert.deepEqual([second!.old_rules.map((r) => r.id), second!.new_rules.map((r) => r.id), second!.to_version], [v1.rules.map((r) => r.id), v2.rules.map((r) => r.id), 2]);
    const [{ c: total }] = (await app.database.db('audit_events').count('* as c')) as [{ c: string }];
    assert.deepEqual(await verifyChain(app.database.db, app.config.AUDIT_HMAC_KEY!), { ok: true, count: Number(total) });
  });

  test('unknown or foreign wallets and agents are 404 before the TOTP step is used', async () => {
    const t = await tenant();
    const other = await tenant();
    const code = await t.owner.nextCode();
    for (const [path, rules] of [
      [`/api/wallets/${other.wallet}/policy`, []],
      [`/api/wallets/${randomAddress()}/policy`, []],
      [`/api/wallets/${t.wallet}/policy`, [{ type: 'frozen', agent_id: other.agent.agentId }]],
      [`/api/wallets/${t.wallet}/policy`, [{ type: 'frozen', agent_id: randomUUID() }]],
    ] as const) {
      const answer = await call(app.url, 'PUT', path, { token: t.owner.token, body: { rules, mfa_code: code } });
      expectStatus(answer, 404, path);
    }
    expectStatus(await call(app.url, 'PUT', `/api/wallets/${t.wallet}/policy`, { token: t.owner.token, body: { rules: [], mfa_code: code } }), 200, 'the code still works');
    assert.equal((await call<PolicyBody>(app.url, 'GET', `/api/wallets/${other.wallet}/policy`, { token: other.owner.token })).body.version, 0, 'the other wallet untouched');
  });
});

describe('what an agent may see', () => {
  test('its own effective rules for a wallet it is granted; never another wallet’s; never a change', async () => {
    const t = await tenant();
    const sibling = await newAgent(app.url, t.owner, [t.wallet]);
    await setRules(t, [
      { type: 'max_per_transaction', asset: 'native', amount: '100' },
      { type: 'frozen', agent_id: sibling.agentId },
      { type: 'max_requests', count: 5, window: '1h', agent_id: t.agent.agentId },
    ]);
    const own = await call<PolicyBody>(app.url, 'GET', `/api/wallets/${t.wallet}/policy`, { apiKey: t.agent.apiKey });
    expectStatus(own, 200, 'agent reads');
    assert.deepEqual(own.body.rules.map((r) => r.type).sort(), ['max_per_transaction', 'max_requests']);
    assert.ok(!JSON.stringify(own.body).includes(sibling.agentId), "nothing about the sibling agent's rules");
    assert.equal(own.body.refusals, null);

    const other = await tenant();
    const foreign = await call(app.url, 'GET', `/api/wallets/${other.wallet}/policy`, { apiKey: t.agent.apiKey });
    const unknown = await call(app.url, 'GET', `/api/wallets/${randomAddress()}/policy`, { apiKey: t.agent.apiKey });
    expectStatus(foreign, 404, 'another wallet');
    assert.deepEqual(foreign.body, unknown.body);
    const change = await call(app.url, 'PUT', `/api/wallets/${t.wallet}/policy`, { apiKey: t.agent.apiKey, body: { rules: [], mfa_code: '123456' } });
    expectStatus(change, 403, 'agent changing rules');
    assert.equal(errorOf(change).code, 'wrong_principal');
  });

  test("the address book: the owner's whole book; an agent only its wallets' labels; labels that look like addresses are refused", async () => {
    const t = await tenant();
    const spare = await newWallet(app.url, t.owner, 0n);
    const friend = randomAddress();
    const save = async (address: string, label: string) => call(app.url, 'POST', '/api/address_book', { token: t.owner.token, body: { address, label, mfa_code: await t.owner.nextCode() } });
    expectStatus(await save(friend, 'Friend'), 201, 'label a friend');
    expectStatus(await save(t.wallet, 'Hot wallet'), 201, 'label the granted wallet');
    expectStatus(await save(spare, 'Savings'), 201, 'label a wallet not granted');
    for (const bad of ['0x1234 lookalike', 'deadbeefcafe', 'Аlice', 'tab\there']) {
      const refused = await call(app.url, 'POST', '/api/address_book', { token: t.owner.token, body: { address: friend, label: bad, mfa_code: '000000' } });
      expectStatus(refused, 400, `label ${JSON.stringify(bad)}`);
    }
    const book = await call<{ entries: { address: string; label: string }[] }>(app.url, 'GET', '/api/address_book', { token: t.owner.token });
    assert.deepEqual(book.body.entries.map((e) => e.label), ['Friend', 'Hot wallet', 'Savings']);
    const seen = await call<{ entries: { address: string; label: string }[] }>(app.url, 'GET', '/api/address_book', { apiKey: t.agent.apiKey });
    assert.deepEqual(seen.body.entries, [{ ...book.body.entries.find((e) => e.label === 'Hot wallet')! }]);
    expectStatus(await call(app.url, 'POST', '/api/address_book', { apiKey: t.agent.apiKey, body: { address: friend, label: 'x', mfa_code: '123456' } }), 403, 'agent writing');

    // Labels beside the addresses on the owner's views; the agent's carry its own wallet's label only.
    const prepared = await call<{ transaction_id: string }>(app.url, 'POST', '/api/prepare_transaction', { apiKey: t.agent.apiKey, body: { wallet_address: t.wallet, ...native(5n, friend) } });
    expectStatus(prepared, 202, 'prepare');
    const ownerView = await call<{ labels: { address: string; label: string }[] }>(app.url, 'GET', `/api/transactions/${prepared.body.transaction_id}`, { token: t.owner.token });
    assert.deepEqual(ownerView.body.labels.map((l) => l.label).sort(), ['Friend', 'Hot wallet']);
    assert.ok(ownerView.body.labels.every((l) => /^0x[0-9a-fA-F]{40}$/.test(l.address)), 'each label comes with its address');
    const agentView = await call<{ labels: unknown[] }>(app.url, 'GET', `/api/transactions/${prepared.body.transaction_id}`, { apiKey: t.agent.apiKey });
    assert.deepEqual(agentView.body.labels, [{ address: checksum(t.wallet), label: 'Hot wallet' }]);
    const agentList = await call<{ transactions: { labels: unknown[] }[] }>(app.url, 'GET', `/api/transactions?wallet=${t.wallet}`, { apiKey: t.agent.apiKey });
    assert.deepEqual(agentList.body.transactions[0]!.labels, [{ address: checksum(t.wallet), label: 'Hot wallet' }]);
    // A second agent of the same owner, not granted this wallet, sees no label of it in its own request's view.
    const spareAgent = await newAgent(app.url, t.owner, [spare]);
    await fund(spare, ETH);
    const fromSpare = await call<{ transaction_id: string }>(app.url, 'POST', '/api/prepare_transaction', { apiKey: spareAgent.apiKey, body: { wallet_address: spare, ...native(5n, t.wallet) } });
    expectStatus(fromSpare, 202, 'prepare from the spare wallet');
    const spareView = await call<{ labels: unknown[] }>(app.url, 'GET', `/api/transactions/${fromSpare.body.transaction_id}`, { apiKey: spareAgent.apiKey });
    assert.deepEqual(spareView.body.labels, [{ address: checksum(spare), label: 'Savings' }], "the recipient is another wallet's, not this agent's");

    const code = await t.owner.nextCode();
    expectStatus(await call(app.url, 'DELETE', `/api/address_book/${randomAddress()}`, { token: t.owner.token, body: { mfa_code: code } }), 404, 'not in the book');
    expectStatus(await call(app.url, 'DELETE', `/api/address_book/${friend}`, { token: t.owner.token, body: { mfa_code: code } }), 204, 'delete, with the same (unused) code');
    const audit = await app.database.db('audit_events').whereIn('action', ['address_book.saved', 'address_book.deleted']).andWhere({ actor_id: t.owner.userId }).count<{ c: string }[]>('* as c');
    assert.equal(Number(audit[0]!.c), 4);
  });

  test('the owner’s views show the limits a waiting request counts toward', async () => {
    const t = await tenant();
    const policy = await setRules(t, [
      { type: 'rolling_limit', asset: 'native', amount: ETH.toString(), window: '24h' },
      { type: 'max_per_transaction', asset: 'native', amount: ETH.toString() },
    ]);
    const first = await call<{ transaction_id: string }>(app.url, 'POST', '/api/prepare_transaction', { apiKey: t.agent.apiKey, body: { wallet_address: t.wallet, ...native((2n * ETH) / 10n) } });
    const second = await call<{ transaction_id: string }>(app.url, 'POST', '/api/prepare_transaction', { apiKey: t.agent.apiKey, body: { wallet_address: t.wallet, ...native((3n * ETH) / 10n) } });
    expectStatus(second, 202, 'second');
    const list = await call<{ transactions: { transaction_id: string; limits: unknown[] }[] }>(app.url, 'GET', `/api/transactions?wallet=${t.wallet}`, { token: t.owner.token });
    const limits = list.body.transactions.find((tx) => tx.transaction_id === second.body.transaction_id)!.limits;
    assert.deepEqual(limits, [
      { rule_id: policy.rules[0]!.id, type: 'rolling_limit', asset: 'native', amount: ((3n * ETH) / 10n).toString(), limit: ETH.toString(), used: ((5n * ETH) / 10n).toString(), window: '24h' },
      { rule_id: policy.rules[1]!.id, type: 'max_per_transaction', asset: 'native', amount: ((3n * ETH) / 10n).toString(), limit: ETH.toString(), used: null, window: null },
    ]);
    const agentView = await call<{ limits: unknown[] }>(app.url, 'GET', `/api/transactions/${first.body.transaction_id}`, { apiKey: t.agent.apiKey });
    assert.deepEqual(agentView.body.limits, []);
    const usage = await call<PolicyBody>(app.url, 'GET', `/api/wallets/${t.wallet}/policy`, { token: t.owner.token });
    assert.deepEqual(usage.body.usage, [{ rule_id: policy.rules[0]!.id, used: ((5n * ETH) / 10n).toString() }]);
  });
});

async function walletId(t: Tenant): Promise<string> {
  return ((await app.database.db('wallets').where({ address: t.wallet.toLowerCase() }).first('id')) as { id: string }).id;
}

/** EIP-55, as the API returns addresses. */
const checksum = (address: string) => getAddress(address);
