/**
 * What owner-set policies cost at prepare: POST /api/prepare_transaction at a
 * fixed concurrency on a wallet with no rules and on one with 20 rules (every
 * type; none refuses the bench's requests, so each is evaluated in full),
 * alternating the two for several rounds so drift on a shared machine falls
 * on both. Target (issue 14): with 20 rules, throughput within 10 % of none.
 */
import { loadPrepare, type LoadFigures } from './api-load';
import { codeFor, expect, http, randomAddress, takeStep, type BenchUser } from './lib/actors';

export interface PolicyBenchResult {
  rules: number;
  rounds: number;
  secondsPerRound: number;
  connections: number;
  plain: LoadFigures[];
  ruled: LoadFigures[];
  /** Mean req/s over the rounds. */
  plainPerSecond: number;
  ruledPerSecond: number;
  /** ruled / plain. */
  ratio: number;
  /** PostgreSQL round trips per prepare (the API's probe), when available. */
  queriesPerPrepare: { plain?: number; ruled?: number };
}

const HUGE = (10n ** 27n).toString();

/** Twenty rules for `agentId`'s requests to `to`, of every type, none of which refuses a 1000-wei native transfer. */
export function benchRules(args: { agentId: string; to: string; chainId: number }) {
  const token = randomAddress();
  const other = randomAddress();
  return [
    ...['1h', '24h', '7d', '30d'].map((window) => ({ type: 'rolling_limit', asset: 'native', amount: HUGE, window })),
    ...['1h', '24h'].map((window) => ({ type: 'rolling_limit', asset: 'native', amount: HUGE, window, agent_id: args.agentId })),
    { type: 'rolling_limit', asset: token, amount: HUGE, window: '24h' },
    { type: 'rolling_limit', asset: other, amount: HUGE, window: '7d' },
    { type: 'max_per_transaction', asset: 'native', amount: HUGE },
    { type: 'max_per_transaction', asset: token, amount: HUGE },
    { type: 'allowed_recipients', addresses: [args.to, ...Array.from({ length: 49 }, randomAddress)] },
    { type: 'allowed_contracts', contracts: [{ address: token, functions: ['transfer(address,uint256)', 'approve(address,uint256)'] }, { address: other }] },
    { type: 'deny_unlimited_approvals' },
    { type: 'deny_unlimited_approvals', max_amount: HUGE, agent_id: args.agentId },
    { type: 'allowed_chains', chain_ids: [args.chainId] },
    { type: 'allowed_chains', chain_ids: [args.chainId], agent_id: args.agentId },
    ...['1h', '24h', '7d'].map((window) => ({ type: 'max_requests', count: 100_000, window })),
    { type: 'max_requests', count: 100_000, window: '30d', agent_id: args.agentId },
  ];
}

export async function runPolicyBench(options: {
  apiUrl: string;
  plain: BenchUser;
  ruled: BenchUser;
  chainId: number;
  connections: number;
  secondsPerRound: number;
  rounds: number;
  /** The API's cumulative PostgreSQL query count (bench/lib/probe.mjs), if measured. */
  queries?: () => number | undefined;
  note: (message: string) => void;
}): Promise<PolicyBenchResult> {
  const to = randomAddress();
  const rules = benchRules({ agentId: options.ruled.agentId, to, chainId: options.chainId });
  const wallet = options.ruled.wallets[0]!;
  const step = await takeStep(options.ruled);
  const put = expect(
    await http<{ rules: unknown[] }>(options.apiUrl, 'PUT', `/api/wallets/${wallet}/policy`, { token: options.ruled.token, body: { rules, mfa_code: await codeFor(options.ruled, step) } }),
    200,
    'PUT policy',
  );
  if (put.rules.length !== 20) throw new Error(`the bench policy has ${put.rules.length} rules, not 20`);

  const plain: LoadFigures[] = [];
  const ruled: LoadFigures[] = [];
  const queries: { plain: number[]; ruled: number[] } = { plain: [], ruled: [] };
  const run = async (who: 'plain' | 'ruled') => {
    const user = who === 'plain' ? options.plain : options.ruled;
    const before = options.queries?.();
    const figures = await loadPrepare({ apiUrl: options.apiUrl, apiKey: user.apiKey, walletAddresses: [user.wallets[0]!], to, connections: options.connections, durationSeconds: options.secondsPerRound });
    const after = options.queries?.();
    if (figures.non2xx > 0 || figures.errors > 0) throw new Error(`prepare (${who}): ${figures.non2xx} non-2xx answers, ${figures.errors} errors`);
    if (before !== undefined && after !== undefined && figures.requests > 0) queries[who].push((after - before) / figures.requests);
    (who === 'plain' ? plain : ruled).push(figures);
    options.note(`  ${who === 'plain' ? 'no rules' : '20 rules'}: ${figures.requestsPerSecond.toFixed(1)} req/s, p50 ${figures.latencyMs.p50} ms`);
  };
  for (let round = 0; round < options.rounds; round++) {
    // Alternate which goes first, so a trend over time does not favour one side.
    const order: ('plain' | 'ruled')[] = round % 2 === 0 ? ['plain', 'ruled'] : ['ruled', 'plain'];
    for (const who of order) await run(who);
  }
  const mean = (list: LoadFigures[]) => list.reduce((sum, f) => sum + f.requestsPerSecond, 0) / list.length;
  const avg = (list: number[]) => (list.length ? list.reduce((a, b) => a + b, 0) / list.length : undefined);
  const plainPerSecond = mean(plain);
  const ruledPerSecond = mean(ruled);
  return {
    rules: 20,
    rounds: options.rounds,
    secondsPerRound: options.secondsPerRound,
    connections: options.connections,
    plain,
    ruled,
    plainPerSecond,
    ruledPerSecond,
    ratio: plainPerSecond > 0 ? ruledPerSecond / plainPerSecond : 0,
    queriesPerPrepare: { plain: avg(queries.plain), ruled: avg(queries.ruled) },
  };
}
