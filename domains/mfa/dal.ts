/** Data access for TOTP factors, accepted steps and failures. Every function takes an optional transaction. */
import type { DbOrTx } from '../../lib/db';
import type { FactorRow } from './types';

/**
 * Serialises gate calls per user for the length of the caller's transaction.
 * FOR NO KEY UPDATE: the failure insert made meanwhile on another connection
 * only needs a KEY SHARE lock for its foreign key, so it is not blocked.
 */
export async function lockGate(trx: DbOrTx, userId: string): Promise<{ mfa_last_step: string | null } | undefined> {
  return (await trx('users').select('mfa_last_step').where({ id: userId }).forNoKeyUpdate().first()) as { mfa_last_step: string | null } | undefined;
}

/**
 * The compare-and-set at the heart of the one TOTP gate: the user's last
 * accepted step only moves forward, so a step is accepted at most once.
 */
export async function advanceLastStep(trx: DbOrTx, userId: string, step: number): Promise<boolean> {
  const { rows } = await trx.raw(
    'UPDATE users SET mfa_last_step = ? WHERE id = ? AND (mfa_last_step IS NULL OR mfa_last_step < ?) RETURNING id',
    [step, userId, step],
  );
  return (rows as unknown[]).length === 1;
}

export async function insertUse(trx: DbOrTx, use: { id: string; userId: string; step: number; purpose: string; now: Date }): Promise<void> {
  await trx('mfa_uses').insert({ id: use.id, user_id: use.userId, step: use.step, purpose: use.purpose, created_at: use.now });
}

export async function findFactors(db: DbOrTx, userId: string): Promise<{ active?: FactorRow; pending?: FactorRow }> {
  const rows = (await db('mfa_factors').where({ user_id: userId })) as FactorRow[];
  const active = rows.find((row) => row.state === 'active');
  const pending = rows.find((row) => row.state === 'pending');
  return { ...(active ? { active } : {}), ...(pending ? { pending } : {}) };
}

/** A new pending factor replaces any earlier pending one; the active one stays until this one is confirmed. */
export async function replacePendingFactor(trx: DbOrTx, factor: { id: string; userId: string; ciphertext: string; now: Date }): Promise<void> {
  await trx('mfa_factors').where({ user_id: factor.userId, state: 'pending' }).delete();
  await trx('mfa_factors').insert({ id: factor.id, user_id: factor.userId, state: 'pending', secret_ciphertext: factor.ciphertext, created_at: factor.now });
}

export async function activateFactor(trx: DbOrTx, factorId: string, userId: string, now: Date): Promise<void> {
  await trx('mfa_factors').where({ user_id: userId, state: 'active' }).whereNot({ id: factorId }).delete();
  await trx('mfa_factors').where({ id: factorId, user_id: userId }).update({ state: 'active', confirmed_at: now });
}

/** The lock in force (if any) and the failures counted toward the next one. */
export async function failureStanding(db: DbOrTx, userId: string, windowStart: Date): Promise<{ lockedUntil: Date | null; recent: number }> {
  const { rows } = await db.raw(
    `WITH last_lock AS (
       SELECT created_at, locks_until FROM mfa_failures
        WHERE user_id = ? AND locks_until IS NOT NULL
        ORDER BY created_at DESC LIMIT 1)
     SELECT (SELECT locks_until FROM last_lock) AS locked_until,
            (SELECT count(*) FROM mfa_failures f
              WHERE f.user_id = ? AND f.created_at > ?
                AND f.created_at > COALESCE((SELECT created_at FROM last_lock), '-infinity'::timestamptz))::int AS recent`,
    [userId, userId, windowStart],
  );
  const row = (rows as { locked_until: Date | null; recent: number }[])[0]!;
  return { lockedUntil: row.locked_until, recent: row.recent };
}

export async function insertFailure(db: DbOrTx, failure: { userId: string; purpose: string; now: Date; locksUntil: Date | null }): Promise<void> {
  await db('mfa_failures').insert({ user_id: failure.userId, purpose: failure.purpose, created_at: failure.now, locks_until: failure.locksUntil });
}

/** A correct code wipes the slate (the lock, if any, has already been served). */
export async function clearFailures(trx: DbOrTx, userId: string, now: Date): Promise<void> {
  await trx('mfa_failures').where({ user_id: userId }).andWhere('created_at', '<=', now).delete();
}
