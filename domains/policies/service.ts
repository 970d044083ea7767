/**
 * The policy use cases of the API: read a wallet's policy (its owner; a
 * granted agent, only the rules that apply to it), replace it (the owner,
 * behind a fresh TOTP step, audited with the old and the new rules), and the
 * limit notes and labels of the owner's transaction views. The checks of the
 * custody path are the engine's (engine.ts), included here for the API.
 *
 * Nothing here can approve, skip a TOTP step or sign: a policy change only
 * changes what is refused.
 */
import { checksumAddress } from '../chain';
import { notFound } from '../../lib/errors';
import type { Principal } from '../../lib/principal';
import { findOwnAgent } from '../agents';
import { requestOrigin, type RequestMeta } from '../audit';
import type { MfaService } from '../mfa';
import { findWalletForAgent, findWalletForUser } from '../wallets';
import { findPolicy, listLabels, lockPolicy, recentRefusals, requestCounts, rollingUsage, savePolicy, spendOf } from './dal';
import { createPolicyEngine, type PolicyEngineDeps } from './engine';
import { normalizeRules } from './normalize';
import { appliesTo } from './rules';
import type { PolicyRow } from './rows';
import type { PolicyView, ReplacePolicyBody, RuleView } from './schemas';
import { POLICY_AUDIT, type Asset, type Rule } from './types';
import { windowSeconds } from './windows';

export interface PolicyServiceDeps extends PolicyEngineDeps {
  mfa: Pick<MfaService, 'verifyAndConsume'>;
}

/** What an owner's transaction view shows of policies: labels of its addresses, the limits a live request sits under. */
export interface ViewNotes {
  labels: { address: string; label: string }[];
  limits: LimitNote[];
}
export interface LimitNote {
  rule_id: string;
  type: 'rolling_limit' | 'max_per_transaction';
  /** "native" or the token (EIP-55). */
  asset: string;
  /** What this request counts, base units. */
  amount: string;
  limit: string;
  /** rolling_limit: counted now, this request included; null for max_per_transaction. */
  used: string | null;
  window: string | null;
}

/** The columns of a transaction row the notes read. */
export interface NotedRow {
  id: string;
  wallet_id: string;
  agent_id: string | null;
  status: string;
  from_address: string;
  to_address: string;
  recipient: string | null;
  token_address: string | null;
}

const LIVE = new Set(['pending_approval', 'approved']);
const assetView = (asset: Asset) => (asset === 'native' ? 'native' : checksumAddress(asset));

export function toRuleView(rule: Rule): RuleView {
  const base = { id: rule.id, agent_id: rule.agent_id };
  switch (rule.type) {
    case 'max_per_transaction':
      return { ...base, type: rule.type, asset: assetView(rule.asset), amount: rule.amount };
    case 'rolling_limit':
      return { ...base, type: rule.type, asset: assetView(rule.asset), amount: rule.amount, window: rule.window };
    case 'allowed_recipients':
      return { ...base, type: rule.type, addresses: rule.addresses.map(checksumAddress) };
    case 'allowed_contracts':
      return { ...base, type: rule.type, contracts: rule.contracts.map((c) => ({ address: checksumAddress(c.address), functions: c.functions })) };
    case 'deny_unlimited_approvals':
      return { ...base, type: rule.type, max_amount: rule.max_amount };
    case 'allowed_chains':
      return { ...base, type: rule.type, chain_ids: rule.chain_ids };
    case 'max_requests':
      return { ...base, type: rule.type, count: rule.count, window: rule.window };
    case 'frozen':
      return { ...base, type: rule.type };
  }
}

export function createPolicyService(deps: PolicyServiceDeps) {
  const { db } = deps;
  const engine = createPolicyEngine(deps);
  const now = () => deps.clock.now();
  const lifetimeMs = deps.requestLifetimeSeconds * 1000;

  const emptyPolicy = (walletId: string): PolicyRow => ({ wallet_id: walletId, version: 0, rules: [], updated_by: null, updated_at: new Date(0) });

  /**
   * Per rule: rolling_limit → what is counted now (signed in the window plus
   * what may still be signed), for the rule's agent or the whole wallet;
   * max_requests → the requests of `agentId` (or of the rule's agent) in the
   * window, null when neither names one.
   */
  async function usageView(walletId: string, rules: readonly Rule[], agentId: string | null): Promise<PolicyView['usage']> {
    const at = now();
    const rolling = rules.filter((r): r is Extract<Rule, { type: 'rolling_limit' }> => r.type === 'rolling_limit');
    const longest = Math.max(0, ...rolling.map((r) => windowSeconds(r.window) * 1000));
    const amounts = await rollingUsage(db, {
      walletId,
      now: at,
      oldest: new Date(at.getTime() - longest - lifetimeMs - 3_600_000),
      mode: { kind: 'prepare' },
      rules: rolling.map((r) => ({ asset: r.asset, agentId: r.agent_id, windowStart: new Date(at.getTime() - windowSeconds(r.window) * 1000) })),
    });
    const out: PolicyView['usage'] = rolling.map((rule, i) => ({ rule_id: rule.id, used: amounts[i]!.toString() }));
    for (const rule of rules) {
      if (rule.type !== 'max_requests') continue;
      const whose = rule.agent_id ?? agentId;
      if (whose === null) {
        out.push({ rule_id: rule.id, used: null });
        continue;
      }
      const [count] = await requestCounts(db, { walletId, agentId: whose, windows: [{ since: new Date(at.getTime() - windowSeconds(rule.window) * 1000) }] });
      out.push({ rule_id: rule.id, used: String(count ?? 0n) });
    }
    return out;
  }

  async function view(address: string, policy: PolicyRow, rules: readonly Rule[], agentId: string | null, withRefusals: boolean): Promise<PolicyView> {
    const [usage, refusals] = await Promise.all([
      usageView(policy.wallet_id, rules, agentId),
      withRefusals ? recentRefusals(db, policy.wallet_id, new Date(now().getTime() - 86_400_000), 10) : Promise.resolve(undefined),
    ]);
    return {
      wallet_address: checksumAddress(address),
      version: policy.version,
      updated_at: policy.version === 0 ? null : policy.updated_at.toISOString(),
      rules: rules.map(toRuleView),
      usage,
      refusals: refusals
        ? {
            last_24h: refusals.count,
            recent: refusals.recent.map((r) => ({
              at: r.created_at.toISOString(),
              stage: r.stage,
              agent_id: r.agent_id,
              transaction_id: r.transaction_id,
              policy_version: r.policy_version,
              violations: r.violations,
            })),
          }
        : null,
    };
  }

  /** GET /api/wallets/:address/policy — the owner's whole policy; a granted agent's effective rules, nothing about other agents. */
  async function getPolicy(principal: Principal, address: string): Promise<PolicyView> {
    const wallet = principal.type === 'user' ? await findWalletForUser(db, principal.userId, address) : await findWalletForAgent(db, principal.agentId, address);
    if (!wallet) throw notFound('wallet');
    const policy = (await findPolicy(db, wallet.id)) ?? emptyPolicy(wallet.id);
    if (principal.type === 'user') return view(wallet.address, policy, policy.rules, null, true);
    return view(wallet.address, policy, policy.rules.filter((rule) => appliesTo(rule, principal.agentId)), principal.agentId, false);
  }

  /**
   * PUT /api/wallets/:address/policy — the whole rule set at once. Unknown or
   * foreign wallets and agents are 404 before the TOTP step is used; the step,
   * the new version and the audit entry (old and new rules) commit together.
   */
  async function replacePolicy(userId: string, address: string, body: ReplacePolicyBody, meta: RequestMeta): Promise<PolicyView> {
    const wallet = await findWalletForUser(db, userId, address);
    if (!wallet) throw notFound('wallet');
    const agentIds = [...new Set(body.rules.flatMap((rule) => (rule.agent_id ? [rule.agent_id] : [])))];
    for (const agentId of agentIds) if (!(await findOwnAgent(db, userId, agentId))) throw notFound('agent');
    const rules = normalizeRules(body.rules);
    const saved = await db.transaction(async (trx) => {
      await deps.mfa.verifyAndConsume({ userId, code: body.mfa_code, purpose: 'change_policy', trx, meta });
      const current = await lockPolicy(trx, wallet.id);
      const version = current.version + 1;
      const at = now();
      await savePolicy(trx, { walletId: wallet.id, version, rules, userId, at });
      await deps.audit.append(
        {
          action: POLICY_AUDIT.changed,
          actorType: 'user',
          actorId: userId,
          subjectType: 'wallet',
          subjectId: wallet.id,
          ...requestOrigin(meta),
          data: { wallet: wallet.address, from_version: current.version, to_version: version, old_rules: current.rules, new_rules: rules },
        },
        trx,
      );
      return { ...current, version, rules, updated_by: userId, updated_at: at };
    });
    return view(wallet.address, saved, saved.rules, null, true);
  }

  /**
   * For an owner's transaction views: the labels of every address a request
   * names, and for requests still waiting (pending or approved) the limits
   * they count toward — "0.3 of 1 ETH in the last day", this request included.
   */
  async function notesFor(userId: string, rows: readonly NotedRow[]): Promise<Map<string, ViewNotes>> {
    const notes = new Map<string, ViewNotes>(rows.map((row) => [row.id, { labels: [], limits: [] }]));
    if (rows.length === 0) return notes;
    const addressesOf = (row: NotedRow) => [...new Set([row.from_address, row.to_address, row.recipient, row.token_address].filter((a): a is string => a !== null).map((a) => a.toLowerCase()))];
    const labels = new Map((await listLabels(db, userId, [...new Set(rows.flatMap(addressesOf))])).map((entry) => [entry.address, entry.label]));
    for (const row of rows) {
      notes.get(row.id)!.labels = addressesOf(row).flatMap((address) => (labels.has(address) ? [{ address: checksumAddress(address), label: labels.get(address)! }] : []));
    }

    const live = rows.filter((row) => row.agent_id !== null && LIVE.has(row.status));
    if (live.length === 0) return notes;
    const spend = new Map<string, Map<Asset, string>>();
    for (const s of await spendOf(db, live.map((row) => row.id))) {
      const perAsset = spend.get(s.transaction_id) ?? new Map<Asset, string>();
      perAsset.set(s.asset, s.amount);
      spend.set(s.transaction_id, perAsset);
    }
    const walletIds = [...new Set(live.map((row) => row.wallet_id))];
    const policies = new Map((await Promise.all(walletIds.map((id) => findPolicy(db, id)))).flatMap((p) => (p ? [[p.wallet_id, p] as const] : [])));
    const at = now();
    for (const walletId of walletIds) {
      const policy = policies.get(walletId);
      if (!policy) continue;
      const rolling = policy.rules.filter((r): r is Extract<Rule, { type: 'rolling_limit' }> => r.type === 'rolling_limit');
      const longest = Math.max(0, ...rolling.map((r) => windowSeconds(r.window) * 1000));
      const used = await rollingUsage(db, {
        walletId,
        now: at,
        oldest: new Date(at.getTime() - longest - lifetimeMs - 3_600_000),
        mode: { kind: 'prepare' },
        rules: rolling.map((r) => ({ asset: r.asset, agentId: r.agent_id, windowStart: new Date(at.getTime() - windowSeconds(r.window) * 1000) })),
      });
      const usedBy = new Map(rolling.map((rule, i) => [rule.id, used[i]!]));
      for (const row of live.filter((r) => r.wallet_id === walletId)) {
        const amounts = spend.get(row.id) ?? new Map<Asset, string>();
        for (const rule of policy.rules) {
          if ((rule.type !== 'rolling_limit' && rule.type !== 'max_per_transaction') || !appliesTo(rule, row.agent_id) || !amounts.has(rule.asset)) continue;
          notes.get(row.id)!.limits.push({
            rule_id: rule.id,
            type: rule.type,
            asset: assetView(rule.asset),
            amount: amounts.get(rule.asset)!,
            limit: rule.amount,
            used: rule.type === 'rolling_limit' ? (usedBy.get(rule.id) ?? 0n).toString() : null,
            window: rule.type === 'rolling_limit' ? rule.window : null,
          });
        }
      }
    }
    return notes;
  }

  return { ...engine, getPolicy, replacePolicy, notesFor };
}

export type PolicyService = ReturnType<typeof createPolicyService>;
