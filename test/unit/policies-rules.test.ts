/**
 * The policy engine's pure parts: what a request does (facts from the bytes,
 * batches included), each rule's verdict and message, rule normalisation and
 * ids, labels — and two properties (fast-check): a policy can only refuse
 * (adding rules never turns a refusal into an approval), and on a model of
 * the ledger driven by the same evaluator, the sum signed within any window
 * never exceeds a rolling limit.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AbiCoder, Interface, MaxUint256, solidityPacked } from 'ethers';
import { factsOf, type RequestFacts } from '../../domains/policies/facts';
import { evaluate, type Usage } from '../../domains/policies/rules';
import { normalizeRule, normalizeRules, selectorOf } from '../../domains/policies/normalize';
import { describeRule } from '../../domains/policies/describe';
import { isValidLabel } from '../../domains/policies/labels';
import { windowSeconds, windowText, WINDOW_PATTERN } from '../../domains/policies/windows';
import { ruleInputSchema, type RuleInput } from '../../domains/policies/schemas';
import type { Rule } from '../../domains/policies/types';

const WALLET = '0x1111111111111111111111111111111111111111';
const ALICE = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
const BOB = '0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc';
const TOKEN = '0x5fbdb2315678afecb367f032d93f642f64180aa3';
const ROUTER = '0xe592427a0aece92de3edee1f18e0157c05861564';
const SAFE = '0x2222222222222222222222222222222222222222';
const AGENT = '6f1c0b52-8a52-4a0c-9b3e-2f1e5d1f7a10';
const OTHER_AGENT = '0b7f2a43-1d2e-4f5a-8b6c-7d8e9f0a1b2c';
const ETH = 10n ** 18n;

const erc20 = new Interface([
  'function transfer(address to, uint256 amount)',
  'function approve(address spender, uint256 amount)',
  'function increaseAllowance(address spender, uint256 addedValue)',
  'function transferFrom(address from, address to, uint256 amount)',
  'function setApprovalForAll(address operator, bool approved)',
]);
const batches = new Interface([
  'function multicall(bytes[] data)',
  'function aggregate3Value((address target, bool allowFailure, uint256 value, bytes callData)[] calls)',
  'function multiSend(bytes transactions)',
]);
const swap = new Interface(['function exactInputSingle((address,address,uint24,address,uint256,uint256,uint160) params)']);

const req = (to: string, data = '0x', value: bigint = 0n, agentId: string | null = AGENT, chainId = 31337) => factsOf({ chainId, agentId, to, value, data });
const rule = (input: RuleInput): Rule => normalizeRule(input);
const none: Usage = new Map();
const verdict = (rules: Rule[], facts: RequestFacts, usage: Usage = none) => evaluate(rules, facts, usage);

describe('what a request does, read from its bytes', () => {
  test('a native transfer: value out, the recipient, no contract call', () => {
    const facts = req(ALICE, '0x', 3n * ETH);
    assert.deepEqual([...facts.outflows], [['native', 3n * ETH]]);
    assert.deepEqual(facts.counterparties, [{ address: ALICE, role: 'recipient' }]);
    assert.deepEqual(facts.contractCalls, []);
    assert.equal(facts.opaque, false);
  });

  test('ERC-20 transfer and transferFrom count for their token; approve is a grant to a spender', () => {
    const transfer = req(TOKEN, erc20.encodeFunctionData('transfer', [ALICE, 250n]));
    assert.deepEqual([...transfer.outflows], [[TOKEN, 250n]]);
    assert.deepEqual(transfer.contractCalls, [{ address: TOKEN, selector: '0xa9059cbb' }]);
    const from = req(TOKEN, erc20.encodeFunctionData('transferFrom', [WALLET, BOB, 7n]));
    assert.deepEqual([...from.outflows], [[TOKEN, 7n]]);
    assert.deepEqual(from.counterparties, [{ address: BOB, role: 'recipient' }]);
    const approve = req(TOKEN, erc20.encodeFunctionData('approve', [BOB, MaxUint256]));
    assert.deepEqual(approve.grants, [{ token: TOKEN, spender: BOB, amount: MaxUint256, unlimited: true }]);
    assert.deepEqual(approve.counterparties, [{ address: BOB, role: 'spender' }]);
    assert.equal(approve.outflows.size, 0);
  });

  test('inside a multicall: the transfer counts, the allowance is an allowance, every inner call is a contract call', () => {
    const inner = [erc20.encodeFunctionData('transfer', [ALICE, 10n]), erc20.encodeFunctionData('approve', [BOB, MaxUint256])];
    const facts = req(TOKEN, batches.encodeFunctionData('multicall', [inner]));
    assert.deepEqual([...facts.outflows], [[TOKEN, 10n]]);
    assert.deepEqual(facts.grants.map((g) => [g.spender, g.unlimited]), [[BOB, true]]);
    assert.deepEqual(
      facts.contractCalls.map((c) => c.selector),
      [selectorOf('multicall(bytes[])'), selectorOf('transfer(address,uint256)'), selectorOf('approve(address,uint256)')],
    );
  });

  test('a batch counts the larger of its own value and its calls’ values (Multicall3 aggregate3Value, a Safe paying from itself)', () => {
    const calls = [
      [ALICE, false, 2n * ETH, '0x'],
      [BOB, false, 1n * ETH, '0x'],
    ];
    assert.equal(req(ROUTER, batches.encodeFunctionData('aggregate3Value', [calls]), 3n * ETH).outflows.get('native'), 3n * ETH);
    assert.equal(req(ROUTER, batches.encodeFunctionData('aggregate3Value', [calls]), 0n).outflows.get('native'), 3n * ETH);
    assert.deepEqual(
      req(ROUTER, batches.encodeFunctionData('aggregate3Value', [calls]), 0n).counterparties.map((c) => c.address),
      [ALICE, BOB],
    );
  });

  test('a Safe multiSend with a delegatecall, or a batch cut short, is opaque', () => {
    const packed = (operation: number, to: string, data: string) => solidityPacked(['uint8', 'address', 'uint256', 'uint256', 'bytes'], [operation, to, 0n, (data.length - 2) / 2, data]);
    const transfer = erc20.encodeFunctionData('transfer', [ALICE, 1n]);
    assert.equal(req(SAFE, batches.encodeFunctionData('multiSend', [packed(0, TOKEN, transfer)])).opaque, false);
    assert.equal(req(SAFE, batches.encodeFunctionData('multiSend', [packed(1, TOKEN, transfer)])).opaque, true);
    const many = Array.from({ length: 40 }, () => transfer);
    assert.equal(req(TOKEN, batches.encodeFunctionData('multicall', [many])).opaque, true);
  });

  test('a call whose function is not a recognised token call is recorded as unknown (the agent’s ABI plays no part)', () => {
    const facts = req(ROUTER, swap.encodeFunctionData('exactInputSingle', [[TOKEN, ALICE, 3000, WALLET, 1n, 0n, 0n]]), 5n);
    assert.deepEqual([...facts.unknownCalls], [ROUTER]);
    assert.equal(facts.outflows.get('native'), 5n);
    assert.deepEqual(facts.counterparties, [], 'a contract call is not a recipient (allowed_contracts governs it)');
  });
});

describe('each rule', () => {
  test('max_per_transaction: at the limit passes, above it refuses with the amounts', () => {
    const r = rule({ type: 'max_per_transaction', asset: 'native', amount: String(ETH) });
    assert.deepEqual(verdict([r], req(ALICE, '0x', ETH)), []);
    assert.deepEqual(verdict([r], req(ALICE, '0x', ETH + 1n)), [
      { rule_id: r.id, type: 'max_per_transaction', message: 'sends 1.000000000000000001 ETH; at most 1 ETH per transaction is allowed' },
    ]);
  });

  test('a token limit refuses a call into the token it cannot count, and counts a transfer inside a batch', () => {
    const r = rule({ type: 'max_per_transaction', asset: TOKEN, amount: '100' });
    assert.match(verdict([r], req(TOKEN, '0xdeadbeef'))[0]!.message, /not a transfer, so the amount it moves cannot be counted/);
    const batch = req(TOKEN, batches.encodeFunctionData('multicall', [[erc20.encodeFunctionData('transfer', [ALICE, 60n]), erc20.encodeFunctionData('transfer', [BOB, 60n])]]));
    assert.equal(verdict([r], batch)[0]!.message, 'sends 120 base units of token 0x5FbDB2315678afecb367f032d93F642f64180aa3; at most 100 per transaction is allowed');
    assert.deepEqual(verdict([r], req(ALICE, '0x', 10n ** 30n)), [], 'native value is not this token');
  });

  test('rolling_limit: what is counted plus this request against the limit; a request without the asset passes even over a tightened limit', () => {
    const r = rule({ type: 'rolling_limit', asset: 'native', amount: String(ETH), window: '24h' });
    const used = new Map([[r.id, (7n * ETH) / 10n]]);
    assert.deepEqual(verdict([r], req(ALICE, '0x', (3n * ETH) / 10n), used), []);
    assert.deepEqual(verdict([r], req(ALICE, '0x', (3n * ETH) / 10n + 1n), used), [
      { rule_id: r.id, type: 'rolling_limit', message: 'sends 0.300000000000000001 ETH, but 0.7 ETH of the 1 ETH allowed per 24 hours is already used or reserved' },
    ]);
    assert.deepEqual(verdict([r], req(TOKEN, erc20.encodeFunctionData('transfer', [ALICE, 1n])), new Map([[r.id, 5n * ETH]])), []);
  });

  test('allowed_recipients: recipients and spenders, inside batches too; a contract call is not a recipient', () => {
    const r = rule({ type: 'allowed_recipients', addresses: [ALICE.toUpperCase().replace('0X', '0x')] });
    assert.deepEqual(verdict([r], req(ALICE, '0x', 1n)), []);
    assert.deepEqual(verdict([r], req(BOB, '0x', 1n)), [
      { rule_id: r.id, type: 'allowed_recipients', message: "recipient 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC is not on this wallet's list of allowed recipients" },
    ]);
    const approveInBatch = req(TOKEN, batches.encodeFunctionData('multicall', [[erc20.encodeFunctionData('transfer', [ALICE, 1n]), erc20.encodeFunctionData('approve', [BOB, 1n])]]));
    assert.equal(verdict([r], approveInBatch)[0]!.message, "spender 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC is not on this wallet's list of allowed recipients");
    assert.deepEqual(verdict([r], req(ROUTER, '0x12345678')), []);
  });

  test('allowed_contracts: every call with calldata, outer and inner, by address and (if listed) function', () => {
    const r = rule({ type: 'allowed_contracts', contracts: [{ address: TOKEN, functions: ['transfer(address, uint256)'] }] });
    assert.deepEqual(verdict([r], req(TOKEN, erc20.encodeFunctionData('transfer', [BOB, 1n]))), []);
    assert.deepEqual(verdict([r], req(BOB, '0x', 1n)), [], 'a plain native transfer calls no contract');
    assert.equal(
      verdict([r], req(TOKEN, erc20.encodeFunctionData('approve', [BOB, 1n])))[0]!.message,
      'calls function 0x095ea7b3 of 0x5FbDB2315678afecb367f032d93F642f64180aa3, which is not among its allowed functions',
    );
    assert.equal(verdict([r], req(ROUTER, '0x12345678'))[0]!.message, 'calls 0xE592427A0AEce92De3Edee1F18E0157C05861564, which is not an allowed contract');
    const listed = rule({ type: 'allowed_contracts', contracts: [{ address: TOKEN, functions: ['multicall(bytes[])', 'transfer(address,uint256)'] }] });
    const inner = (fn: string) => req(TOKEN, batches.encodeFunctionData('multicall', [[erc20.encodeFunctionData(fn, [ALICE, 1n])]]));
    assert.deepEqual(verdict([listed], inner('transfer')), []);
    assert.match(verdict([listed], inner('approve'))[0]!.message, /0x095ea7b3/);
    const anyFunction = rule({ type: 'allowed_contracts', contracts: [{ address: ROUTER }] });
    assert.deepEqual(verdict([anyFunction], req(ROUTER, '0x12345678')), []);
    const delegating = req(SAFE, batches.encodeFunctionData('multiSend', [solidityPacked(['uint8', 'address', 'uint256', 'uint256', 'bytes'], [1, ROUTER, 0n, 0n, '0x'])]));
    assert.match(verdict([rule({ type: 'allowed_contracts', contracts: [{ address: SAFE }, { address: ROUTER }] })], delegating)[0]!.message, /cannot be read in full/);
  });

  test('deny_unlimited_approvals: the unlimited sentinels by default, or above an amount; setApprovalForAll(true) always', () => {
    const r = rule({ type: 'deny_unlimited_approvals' });
    assert.deepEqual(verdict([r], req(TOKEN, erc20.encodeFunctionData('approve', [BOB, 10n ** 20n]))), []);
    for (const amount of [MaxUint256, (1n << 255n), (1n << 96n) - 1n, (1n << 128n) - 1n]) {
      assert.equal(verdict([r], req(TOKEN, erc20.encodeFunctionData('approve', [BOB, amount])))[0]?.type, 'deny_unlimited_approvals', String(amount));
    }
    assert.equal(
      verdict([r], req(TOKEN, erc20.encodeFunctionData('increaseAllowance', [BOB, MaxUint256])))[0]!.message,
      'grants 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC an unlimited allowance of token 0x5FbDB2315678afecb367f032d93F642f64180aa3',
    );
    assert.match(verdict([r], req(TOKEN, erc20.encodeFunctionData('setApprovalForAll', [BOB, true])))[0]!.message, /every token/);
    assert.deepEqual(verdict([r], req(TOKEN, erc20.encodeFunctionData('setApprovalForAll', [BOB, false]))), [], 'revoking is fine');
    const capped = rule({ type: 'deny_unlimited_approvals', max_amount: '1000' });
    assert.deepEqual(verdict([capped], req(TOKEN, erc20.encodeFunctionData('approve', [BOB, 1000n]))), []);
    assert.match(verdict([capped], req(TOKEN, batches.encodeFunctionData('multicall', [[erc20.encodeFunctionData('approve', [BOB, 1001n])]])))[0]!.message, /1,001 base units/);
  });

  test('allowed_chains, max_requests, frozen', () => {
    const chains = rule({ type: 'allowed_chains', chain_ids: [1, 31337] });
    assert.deepEqual(verdict([chains], req(ALICE, '0x', 1n)), []);
    assert.equal(verdict([chains], req(ALICE, '0x', 1n, AGENT, 10))[0]!.message, 'chain 10 is not among the chains this wallet may use (1, 31337)');
    const count = rule({ type: 'max_requests', count: 3, window: '1h' });
    assert.deepEqual(verdict([count], req(ALICE), new Map([[count.id, 2n]])), []);
    assert.equal(
      verdict([count], req(ALICE), new Map([[count.id, 3n]]))[0]!.message,
      'this agent has already made 3 requests from this wallet in the last hour; at most 3 are allowed',
    );
    const frozen = rule({ type: 'frozen', agent_id: OTHER_AGENT });
    assert.deepEqual(verdict([frozen], req(ALICE)), [], 'another agent’s freeze');
    assert.equal(verdict([frozen], req(ALICE, '0x', 0n, OTHER_AGENT))[0]!.message, 'the owner has frozen this agent for this wallet');
    assert.equal(verdict([rule({ type: 'frozen' })], req(ALICE))[0]!.message, 'the owner has frozen this wallet: no agent may propose from it');
  });

  test('a dry run without an agent meets only the rules for every agent', () => {
    const mine = rule({ type: 'frozen', agent_id: AGENT });
    assert.deepEqual(verdict([mine], req(ALICE, '0x', 0n, null)), []);
  });
});

describe('rules as stored', () => {
  test('normalised (lowercase, sorted, deduplicated) with an id from the content: the same rule has the same id', () => {
    const a = rule({ type: 'allowed_recipients', addresses: [BOB, ALICE.toUpperCase().replace('0X', '0x'), BOB] });
    const b = rule({ type: 'allowed_recipients', addresses: [ALICE, BOB], id: 'whatever the client sent' });
    assert.deepEqual(a, b);
    assert.deepEqual(a.type === 'allowed_recipients' && a.addresses, [BOB, ALICE].sort());
    assert.match(a.id, /^r_[0-9a-f]{16}$/);
    assert.notEqual(rule({ type: 'frozen' }).id, rule({ type: 'frozen', agent_id: AGENT }).id);
    assert.equal(normalizeRules([{ type: 'frozen' }, { type: 'frozen', agent_id: null }]).length, 1);
    const merged = rule({ type: 'allowed_contracts', contracts: [{ address: TOKEN, functions: ['approve(address,uint256)'] }, { address: TOKEN, functions: ['transfer(address,uint256)'] }] });
    assert.deepEqual(merged.type === 'allowed_contracts' && merged.contracts, [{ address: TOKEN, functions: ['approve(address,uint256)', 'transfer(address,uint256)'] }]);
  });

  test('windows: 1h to 720h or 1d to 30d', () => {
    for (const ok of ['1h', '24h', '720h', '1d', '30d']) assert.ok(WINDOW_PATTERN.test(ok), ok);
    for (const bad of ['0h', '721h', '31d', '1m', '01h', '1.5h', 'h', '24']) assert.ok(!WINDOW_PATTERN.test(bad), bad);
    assert.equal(windowSeconds('24h'), 86_400);
    assert.equal(windowText('24h'), '24 hours');
    assert.equal(windowText('1d'), 'day');
    assert.equal(windowText('7d'), '7 days');
  });

  test('plain-language descriptions', () => {
    const ctx = { amount: (asset: string, units: string) => (asset === 'native' ? `${BigInt(units) / ETH} ETH` : `${units} units`), address: (a: string) => (a === ALICE ? 'Alice' : a), agent: () => 'bot', chain: String };
    assert.equal(describeRule({ type: 'rolling_limit', asset: 'native', amount: String(ETH), window: '24h' }, ctx), 'At most 1 ETH in any 24 hours (requests waiting for you count too)');
    assert.equal(describeRule({ type: 'allowed_recipients', addresses: [ALICE], agent_id: AGENT }, ctx), 'For agent “bot”: sends and token allowances only to this address: Alice');
  });

  test('labels: printable ASCII, nothing that looks like an address', () => {
    for (const ok of ['Alice', 'Mom & Dad', 'Oxford office', 'Savings (cold)', 'Uniswap router v3', 'x']) assert.ok(isValidLabel(ok), ok);
    for (const bad of ['0x70997970', '0xAbc', 'Ox1234 wallet', 'deadbeefcafe', 'pay 12345678', 'Вася', 'Ａlice', 'bob\u202e', ' padded', 'trailing ', '', 'a'.repeat(65)]) assert.ok(!isValidLabel(bad), bad);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const chainIds = [1, 31337];
const schema = ruleInputSchema(chainIds);
const addresses = [ALICE, BOB, TOKEN, ROUTER, SAFE];
const arbAddress = fc.constantFrom(...addresses);
const arbAsset = fc.constantFrom<'native' | string>('native', TOKEN);
const arbAmount = fc.bigInt({ min: 1n, max: 10n * ETH }).map(String);
const arbWindow = fc.constantFrom('1h', '24h', '7d');
const arbAgent = fc.constantFrom<string | null>(null, AGENT, OTHER_AGENT);
const arbRule: fc.Arbitrary<RuleInput> = fc.oneof(
  fc.record({ type: fc.constant('max_per_transaction' as const), asset: arbAsset, amount: arbAmount, agent_id: arbAgent }),
  fc.record({ type: fc.constant('rolling_limit' as const), asset: arbAsset, amount: arbAmount, window: arbWindow, agent_id: arbAgent }),
  fc.record({ type: fc.constant('allowed_recipients' as const), addresses: fc.uniqueArray(arbAddress, { minLength: 1 }), agent_id: arbAgent }),
  fc.record({ type: fc.constant('allowed_contracts' as const), contracts: fc.uniqueArray(arbAddress, { minLength: 1 }).map((list) => list.map((address) => ({ address }))), agent_id: arbAgent }),
  fc.record({ type: fc.constant('deny_unlimited_approvals' as const), max_amount: fc.option(arbAmount, { nil: null }), agent_id: arbAgent }),
  fc.record({ type: fc.constant('allowed_chains' as const), chain_ids: fc.uniqueArray(fc.constantFrom(...chainIds), { minLength: 1 }), agent_id: arbAgent }),
  fc.record({ type: fc.constant('max_requests' as const), count: fc.integer({ min: 1, max: 5 }), window: arbWindow, agent_id: arbAgent }),
  fc.record({ type: fc.constant('frozen' as const), agent_id: arbAgent }),
);
const arbFacts = fc.oneof(
  fc.record({ to: arbAddress, value: fc.bigInt({ min: 0n, max: 20n * ETH }) }).map(({ to, value }) => req(to, '0x', value)),
  fc.record({ to: arbAddress, amount: fc.bigInt({ min: 0n, max: MaxUint256 }), fn: fc.constantFrom('transfer', 'approve') }).map(({ to, amount, fn }) =>
    req(TOKEN, erc20.encodeFunctionData(fn, [to, amount])),
  ),
  fc.record({ to: arbAddress, amount: fc.bigInt({ min: 0n, max: 10n * ETH }) }).map(({ to, amount }) =>
    req(ROUTER, batches.encodeFunctionData('multicall', [[erc20.encodeFunctionData('transfer', [to, amount]), AbiCoder.defaultAbiCoder().encode(['uint256'], [amount])]])),
  ),
  fc.record({ agent: arbAgent, chain: fc.constantFrom(1, 10, 31337) }).map(({ agent, chain }) => req(ALICE, '0x', 1n, agent, chain)),
);
const arbUsage = (rules: Rule[]) => fc.array(fc.bigInt({ min: 0n, max: 20n * ETH }), { minLength: rules.length, maxLength: rules.length }).map((used) => new Map(rules.map((r, i) => [r.id, used[i]!])));

describe('properties', () => {
  test('every generated rule is one the API schema accepts', () => {
    fc.assert(fc.property(arbRule, (input) => schema.safeParse(input).success), { numRuns: 500 });
  });

  test('a policy can only refuse: more rules never allow what fewer refuse, and never remove a violation', () => {
    fc.assert(
      fc.property(
        fc
          .tuple(fc.array(arbRule, { maxLength: 6 }), fc.array(arbRule, { maxLength: 6 }))
          .chain(([few, extra]) => {
            const small = normalizeRules(few);
            const large = normalizeRules([...few, ...extra]);
            return fc.tuple(fc.constant(small), fc.constant(large), arbFacts, arbUsage(large));
          }),
        ([small, large, facts, usage]) => {
          const fewer = verdict(small, facts, usage).map((v) => v.rule_id);
          const more = verdict(large, facts, usage).map((v) => v.rule_id);
          for (const id of fewer) assert.ok(more.includes(id), `violation ${id} vanished when rules were added`);
          if (more.length === 0) assert.equal(fewer.length, 0);
        },
      ),
      { numRuns: 400 },
    );
  });

  test('on a ledger model driven by the evaluator, the sum signed within any window never exceeds a rolling limit', () => {
    type Op = { kind: 'prepare'; amount: bigint } | { kind: 'sign' } | { kind: 'reject' } | { kind: 'wait'; minutes: number };
    const arbOp: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('prepare' as const), amount: fc.bigInt({ min: 1n, max: 6n * ETH }) }),
      fc.constant({ kind: 'sign' as const }),
      fc.constant({ kind: 'reject' as const }),
      fc.record({ kind: fc.constant('wait' as const), minutes: fc.integer({ min: 1, max: 600 }) }),
    );
    fc.assert(
      fc.property(arbAmount, arbWindow, fc.array(arbOp, { maxLength: 60 }), (limit, window, ops) => {
        const r = rule({ type: 'rolling_limit', asset: 'native', amount: limit, window });
        const span = windowSeconds(window) * 1000;
        let now = 0;
        const pending: bigint[] = [];
        const signed: { at: number; amount: bigint }[] = [];
        const inWindow = () => signed.filter((s) => s.at > now - span).reduce((sum, s) => sum + s.amount, 0n);
        for (const op of ops) {
          if (op.kind === 'wait') now += op.minutes * 60_000;
          if (op.kind === 'prepare') {
            const reserved = pending.reduce((sum, a) => sum + a, 0n) + inWindow();
            if (verdict([r], req(ALICE, '0x', op.amount), new Map([[r.id, reserved]])).length === 0) pending.push(op.amount);
          }
          if (op.kind === 'reject') pending.shift();
          if (op.kind === 'sign' && pending.length > 0) {
            const amount = pending.shift()!;
            if (verdict([r], req(ALICE, '0x', amount), new Map([[r.id, inWindow()]])).length === 0) signed.push({ at: now, amount });
          }
          // Every window ending at a signature holds at most the limit.
          for (const end of signed) {
            const sum = signed.filter((s) => s.at > end.at - span && s.at <= end.at).reduce((acc, s) => acc + s.amount, 0n);
            assert.ok(sum <= BigInt(limit), `${sum} signed in the window ending at ${end.at}, limit ${limit}`);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
