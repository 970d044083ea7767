/**
 * The policy engine: the checks the custody path calls, in the caller's
 * database transaction.
 *
 *  - checkPrepare (the API, before anything is stored; and the dry run, which
 *    calls the very same function and then stores nothing): lock the wallet's
 *    policy row, count what is already used or reserved, evaluate.
 *  - checkSigning (the worker, inside the signing transaction, after the
 *    request row is locked and before the nonce is allocated): lock the same
 *    row, count what is already signed, evaluate the current rules — so a rule
 *    added or tightened after approval still stops the signature.
 *
 * Because both hold the wallet's policy row until their transaction commits,
 * concurrent prepares and signings on one wallet are checked one after the
 * other against what the previous ones wrote: together they can never exceed a
 * rolling limit or a request count.
 *
 * A policy can only refuse: no function here approves, skips a TOTP step or
 * signs; a verdict's only effect is to stop a request.
 */
import type { Clock } from '../../lib/clock';
import type { Db, DbOrTx } from '../../lib/db';
import type { Logger } from '../../lib/logger';
import { requestOrigin, type AuditLog, type RequestMeta } from '../audit';
import { insertRefusal, insertSpend, lockExistingPolicy, lockPolicy, requestCounts, rollingUsage, type RollingQuery } from './dal';
import { factsOf, type RawRequest, type RequestFacts } from './facts';
import { appliesTo, evaluate } from './rules';
import type { PolicyRow } from './rows';
import { POLICY_AUDIT, type OnPolicyRefusal, type RefusalStage, type Rule, type Verdict } from './types';
import { windowSeconds } from './windows';

export interface PolicyEngineDeps {
  db: Db;
  clock: Clock;
  logger: Pick<Logger, 'error'>;
  audit: Pick<AuditLog, 'append'>;
  /**
   * The longest a request can live before it is signed (APPROVAL_TTL_MAX +
   * EXECUTION_WINDOW, seconds): older requests can no longer count, so the
   * usage queries need not read them.
   */
  requestLifetimeSeconds: number;
  /** Told of every refusal once it is recorded (the owner notification channel plugs in here). */
  onRefused?: OnPolicyRefusal | undefined;
}

/** A request at prepare, as built (frozen columns) but not stored. */
export interface PrepareCheck extends RawRequest {
  walletId: string;
}

export interface PrepareVerdict extends Verdict {
  /** What the request does, for recordSpend. */
  facts: RequestFacts;
}

/** The columns of a stored request the signing check reads (a transactions row has them all). */
export interface SigningRequest {
  id: string;
  seq: string;
  wallet_id: string;
  user_id: string;
  agent_id: string | null;
  chain_id: number;
  to_address: string;
  value: string;
  data: string;
  created_at: Date;
}

export interface RefusalRecord {
  stage: RefusalStage;
  walletId: string;
  userId: string;
  agentId: string | null;
  transactionId: string | null;
  verdict: Verdict;
  meta?: RequestMeta | undefined;
}

const HOUR_MS = 3_600_000;

export function createPolicyEngine(deps: PolicyEngineDeps) {
  const lifetimeMs = deps.requestLifetimeSeconds * 1000;

  /** The rolling rules this request can be refused by: those that apply to its agent, for an asset it moves. */
  function rollingRulesFor(rules: readonly Rule[], facts: RequestFacts) {
    return rules.filter((rule): rule is Extract<Rule, { type: 'rolling_limit' }> => rule.type === 'rolling_limit' && appliesTo(rule, facts.agentId) && facts.outflows.has(rule.asset));
  }
  function countRulesFor(rules: readonly Rule[], facts: RequestFacts) {
    return rules.filter((rule): rule is Extract<Rule, { type: 'max_requests' }> => rule.type === 'max_requests' && appliesTo(rule, facts.agentId));
  }

  /** No request older than this can count toward any of `rules` now. */
  function oldestCounted(rules: readonly { window: string }[], now: Date): Date {
    const longest = Math.max(0, ...rules.map((rule) => windowSeconds(rule.window) * 1000));
    return new Date(now.getTime() - longest - lifetimeMs - HOUR_MS);
  }

  async function usageOf(
    db: DbOrTx,
    policy: PolicyRow,
    facts: RequestFacts,
    now: Date,
    mode: RollingQuery['mode'],
    before?: { createdAt: Date; seq: string },
  ): Promise<Map<string, bigint>> {
    const usage = new Map<string, bigint>();
    const rolling = rollingRulesFor(policy.rules, facts);
    const counting = facts.agentId === null ? [] : countRulesFor(policy.rules, facts);
    const [amounts, counts] = await Promise.all([
      rollingUsage(db, {
        walletId: policy.wallet_id,
        now,
        oldest: oldestCounted(rolling, now),
        mode,
        rules: rolling.map((rule) => ({ asset: rule.asset, agentId: rule.agent_id, windowStart: new Date(now.getTime() - windowSeconds(rule.window) * 1000) })),
      }),
      facts.agentId === null
        ? Promise.resolve([] as bigint[])
        : requestCounts(db, {
            walletId: policy.wallet_id,
            agentId: facts.agentId,
            // At signing a request's count is the one it had when it was proposed: the requests before it, in the window that ended then.
            windows: counting.map((rule) => ({ since: new Date((before?.createdAt ?? now).getTime() - windowSeconds(rule.window) * 1000) })),
            ...(before ? { before } : {}),
          }),
    ]);
    rolling.forEach((rule, i) => usage.set(rule.id, amounts[i]!));
    counting.forEach((rule, i) => usage.set(rule.id, counts[i]!));
    return usage;
  }

  /**
   * At prepare and in the dry run: locks the wallet's policy row for the rest
   * of `trx` (the caller inserts the request, if allowed, before committing).
   */
  async function checkPrepare(trx: DbOrTx, request: PrepareCheck): Promise<PrepareVerdict> {
    const policy = await lockPolicy(trx, request.walletId);
    const facts = factsOf(request);
    if (policy.rules.length === 0) return { allowed: true, violations: [], version: policy.version, facts };
    const now = deps.clock.now();
    const usage = await usageOf(trx, policy, facts, now, { kind: 'prepare' });
    const violations = evaluate(policy.rules, facts, usage);
    return { allowed: violations.length === 0, violations, version: policy.version, facts };
  }

  /** What a stored request counts toward rolling limits, in the transaction that stores it. */
  async function recordSpend(trx: DbOrTx, args: { transactionId: string; walletId: string; agentId: string | null; facts: RequestFacts; at: Date }): Promise<void> {
    await insertSpend(
      trx,
      [...args.facts.outflows.entries()].map(([asset, amount]) => ({
        transaction_id: args.transactionId,
        wallet_id: args.walletId,
        agent_id: args.agentId,
        asset,
        amount: amount.toString(),
        created_at: args.at,
      })),
    );
  }

  /**
   * In the signing transaction, after the request row is locked: the current
   * rules against what is already signed. An owner's own transfer (no agent)
   * is not an agent request: policies neither check nor count it.
   */
  async function checkSigning(trx: DbOrTx, request: SigningRequest, now: Date): Promise<Verdict> {
    if (request.agent_id === null) return { allowed: true, violations: [], version: 0 };
    const policy = await lockExistingPolicy(trx, request.wallet_id);
    if (!policy || policy.rules.length === 0) return { allowed: true, violations: [], version: policy?.version ?? 0 };
    const facts = factsOf({ chainId: request.chain_id, agentId: request.agent_id, to: request.to_address, value: request.value, data: request.data });
    const usage = await usageOf(trx, policy, facts, now, { kind: 'signing', transactionId: request.id }, { createdAt: request.created_at, seq: request.seq });
    const violations = evaluate(policy.rules, facts, usage);
    return { allowed: violations.length === 0, violations, version: policy.version };
  }

  /**
   * A refusal, recorded on its own (the refused work rolled back): a
   * `policy_refusals` row and a `policy.denied` audit entry in one transaction,
   * then the notification hook.
   */
  async function recordRefusal(record: RefusalRecord): Promise<void> {
    const at = deps.clock.now();
    await deps.db.transaction(async (trx) => {
      await insertRefusal(trx, {
        wallet_id: record.walletId,
        user_id: record.userId,
        agent_id: record.agentId,
        stage: record.stage,
        transaction_id: record.transactionId,
        policy_version: record.verdict.version,
        violations: record.verdict.violations,
        created_at: at,
      });
      await deps.audit.append(
        {
          action: POLICY_AUDIT.denied,
          ...(record.stage === 'prepare' && record.agentId ? { actorType: 'agent' as const, actorId: record.agentId } : { actorType: 'system' as const }),
          subjectType: 'wallet',
          subjectId: record.walletId,
          ...requestOrigin(record.meta),
          data: { stage: record.stage, transaction_id: record.transactionId, agent_id: record.agentId, policy_version: record.verdict.version, violations: record.verdict.violations },
        },
        trx,
      );
    });
    try {
      await deps.onRefused?.({
        stage: record.stage,
        walletId: record.walletId,
        userId: record.userId,
        agentId: record.agentId,
        transactionId: record.transactionId,
        violations: record.verdict.violations,
        policyVersion: record.verdict.version,
      });
    } catch (err) {
      deps.logger.error({ walletId: record.walletId, err: err instanceof Error ? err.name : 'unknown' }, 'policy refusal notification failed');
    }
  }

  return { checkPrepare, recordSpend, checkSigning, recordRefusal, usageOf };
}

export type PolicyEngine = ReturnType<typeof createPolicyEngine>;
