/**
 * The ONE TOTP gate. Every MFA-protected action — confirming a factor,
 * replacing it, creating an agent, approving or initiating a transaction —
 * passes `verifyAndConsume`, and nothing else accepts a code.
 *
 * Invariants (docs/architecture.md, "One TOTP gate"):
 * * A code is accepted for the current or the previous 30-second step only.
 * * A step is accepted at most once per user: the compare-and-set
 *   `UPDATE users SET mfa_last_step = :step WHERE … mfa_last_step < :step`
 *   plus an `mfa_uses` row unique per (user, step), both in the caller's
 *   transaction. Gate calls for one user are serialised on the user's row for
 *   the length of that transaction, so of two concurrent requests with one code
 *   exactly one wins; the other sees the step taken (403 mfa_code_used).
 * * A wrong code is recorded once per request, on its own connection, so it
 *   survives the caller's rollback; MFA_MAX_FAILURES of them within
 *   MFA_FAILURE_WINDOW lock every MFA-protected action for MFA_LOCK_DURATION
 *   (429 mfa_locked with Retry-After). Because calls are serialised and each
 *   failure commits before the next call reads the count, parallel guessing
 *   gains nothing.
 * * Activating a factor (confirm_mfa) and replacing one (setup_mfa with proof)
 *   revoke every other session of the user, in the same transaction.
 * * Time comes from the injected clock. Codes and secrets never reach a log,
 *   an error or the audit trail; the decrypted secret is zeroed after use.
 */
import { randomUUID } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import QRCode from 'qrcode';
import type { Db, DbOrTx } from '../../lib/db';
import { AppError, unavailable } from '../../lib/errors';
import { unixSeconds } from '../../lib/clock';
import { isKeyStoreError } from '../keystore';
import type { UserService } from '../users';
import { activateFactor, advanceLastStep, clearFailures, failureStanding, findFactors, insertFailure, insertUse, lockGate, replacePendingFactor } from './dal';
import { matchStep, newTotpSecret, totpUri } from './totp';
import { MFA_AUDIT, type FactorRow, type MfaEnrollment, type MfaServiceDeps, type MfaUse, type RequestMeta, type VerifyAndConsumeInput } from './types';

const notEnrolled = () => new AppError('mfa_not_enrolled', 'set up MFA first (POST /api/setup_mfa)');
const invalidCode = () => new AppError('mfa_invalid', 'the MFA code is not valid');
const codeUsed = () => new AppError('mfa_code_used', 'this MFA code has already been used; wait for the next one');
const locked = (retryAfterSeconds: number) =>
  new AppError('mfa_locked', 'too many wrong MFA codes; MFA-protected actions are locked for a while', {
    headers: { 'Retry-After': String(retryAfterSeconds) },
  });

const LOCK_NOT_AVAILABLE = '55P03';

const replaceNeedsProof = (code: 'password_invalid' | 'mfa_invalid' = 'password_invalid') =>
  new AppError(code, 'MFA is already active: replacing it needs your password and a code from the current authenticator');

const isTransaction = (db: DbOrTx | undefined): db is Knex.Transaction =>
  db !== undefined && 'isTransaction' in db && (db as Knex.Transaction).isTransaction === true;

export type MfaService = ReturnType<typeof createMfaService>;

/** What replacing a factor needs from the accounts domain (re-authentication, counted as a login failure when wrong). */
export type PasswordCheck = Pick<UserService, 'verifyPassword'>;

/**
 * Failures and replays are written while the caller's transaction holds a
 * pooled connection (and the user's row). Writing them through that same pool
 * could starve it — every connection held by a gate call waiting for a second
 * one — so they go through a small pool of their own, whose statements never
 * wait for anything a gate call holds (a foreign-key KEY SHARE lock does not
 * conflict with FOR NO KEY UPDATE).
 */
function sidePool(db: Db): { side: Db; owned: boolean } {
  const config = db.client.config as Knex.Config;
  if (config.client !== 'pg' || !config.connection) return { side: db, owned: false };
  // Same connection settings (timeouts included); idle connections close within a second or two,
  // so an unclosed service never holds a process open for long.
  const side = knexFactory({ client: 'pg', connection: config.connection, pool: { min: 0, max: 2, idleTimeoutMillis: 1_000, reapIntervalMillis: 500 } });
  return { side, owned: true };
}

export function createMfaService(deps: MfaServiceDeps) {
  const { db, keystore, clock, config, audit } = deps;
  const { side, owned } = deps.failureDb ? { side: deps.failureDb, owned: false } : sidePool(db);

  async function withSecret<T>(userId: string, factor: FactorRow, use: (secret: string) => Promise<T>): Promise<T> {
    let plaintext: Buffer;
    try {
      plaintext = await keystore.decrypt('mfa', userId, factor.secret_ciphertext);
    } catch (err) {
      if (isKeyStoreError(err) && err.retryable) throw unavailable();
      throw err;
    }
    try {
      return await use(plaintext.toString('utf8'));
    } finally {
      plaintext.fill(0);
    }
  }

  async function recordFailure(input: VerifyAndConsumeInput, now: Date, recentBefore: number): Promise<void> {
    const failures = recentBefore + 1;
    const locksUntil = failures >= config.MFA_MAX_FAILURES ? new Date(now.getTime() + config.MFA_LOCK_DURATION * 1000) : null;
    // Own connection, own commit: the caller's transaction is about to roll back.
    await insertFailure(side, { userId: input.userId, purpose: input.purpose, now, locksUntil });
    const base = { actorType: 'user' as const, actorId: input.userId, subjectType: 'user', subjectId: input.userId, ip: input.meta?.ip, requestId: input.meta?.requestId };
    await audit.append({ ...base, action: MFA_AUDIT.failed, data: { purpose: input.purpose, failures } }, side);
    if (locksUntil) await audit.append({ ...base, action: MFA_AUDIT.lockedOut, data: { purpose: input.purpose, until: locksUntil } }, side);
  }

  /** `keepSession`: the caller's session, kept when activating a factor revokes the others (confirm_mfa). */
  async function gate(input: VerifyAndConsumeInput, prefer: 'active' | 'pending', keepSession?: string): Promise<MfaUse & { activated: boolean }> {
    const run = async (trx: Knex.Transaction) => {
      const user = await lockGate(trx, input.userId).catch((err: unknown) => {
        // Another request of this user held the gate past lock_timeout: busy, not broken.
        if ((err as { code?: string }).code === LOCK_NOT_AVAILABLE) throw unavailable('another MFA check for this account is in progress; try again', 1);
        throw err;
      });
      if (!user) throw notEnrolled();
      const factors = await findFactors(trx, input.userId);
      const factor = prefer === 'pending' ? (factors.pending ?? factors.active) : (factors.active ?? factors.pending);
      if (!factor) throw notEnrolled();

      const now = clock.now();
      const standing = await failureStanding(trx, input.userId, new Date(now.getTime() - config.MFA_FAILURE_WINDOW * 1000));
      if (standing.lockedUntil && standing.lockedUntil.getTime() > now.getTime()) {
        throw locked(Math.max(1, Math.ceil((standing.lockedUntil.getTime() - now.getTime()) / 1000)));
      }

      const epoch = unixSeconds(now);
      const lastStep = user.mfa_last_step === null ? undefined : Number(user.mfa_last_step);
      const { step, replayed } = await withSecret(input.userId, factor, async (secret) => {
        const fresh = await matchStep(secret, input.code, epoch, lastStep);
        if (fresh !== undefined) return { step: fresh, replayed: false };
        return { step: undefined, replayed: lastStep !== undefined && (await matchStep(secret, input.code, epoch)) !== undefined };
      });

      if (step === undefined) {
        if (replayed) {
          // A used code is not a guess: it does not count toward the lock, but it is worth knowing about.
          await audit.append({ action: MFA_AUDIT.replayRefused, actorType: 'user', actorId: input.userId, subjectType: 'user', subjectId: input.userId, ip: input.meta?.ip, requestId: input.meta?.requestId, data: { purpose: input.purpose } }, side);
          throw codeUsed();
        }
        await recordFailure(input, now, standing.recent);
        throw invalidCode();
      }

      if (!(await advanceLastStep(trx, input.userId, step))) throw codeUsed();
      const mfaUseId = randomUUID();
      await insertUse(trx, { id: mfaUseId, userId: input.userId, step, purpose: input.purpose, now });
      await clearFailures(trx, input.userId, now);
      const activated = factor.state === 'pending';
      if (activated) {
        // A pending factor becomes the active one on its first successful use.
        await activateFactor(trx, factor.id, input.userId, now);
        await audit.append(
          { action: MFA_AUDIT.confirmed, actorType: 'user', actorId: input.userId, subjectType: 'user', subjectId: input.userId, ip: input.meta?.ip, requestId: input.meta?.requestId, data: { factor_id: factor.id, purpose: input.purpose } },
          trx,
        );
        // A new factor ends every other session (a thief's session must not outlive the owner's reset).
        if (keepSession) await deps.sessions.revokeOthers(trx, { userId: input.userId, keep: keepSession, reason: 'mfa_replaced', meta: input.meta });
      }
      return { mfaUseId, step, activated };
    };
    if (isTransaction(input.trx)) return run(input.trx);
    return (input.trx ?? db).transaction(run);
  }

  /**
   * `POST /api/setup_mfa`: a fresh 160-bit secret, stored encrypted (key store
   * purpose `mfa`, subject the user id) as the pending factor. With a factor
   * already active, use `replaceActive`, which checks the current factor first.
   */
  async function beginEnrollment(input: { userId: string; username: string; meta?: RequestMeta; trx?: DbOrTx; replacing?: boolean }): Promise<MfaEnrollment> {
    const secret = newTotpSecret();
    const plaintext = Buffer.from(secret, 'utf8');
    let ciphertext: string;
    try {
      ciphertext = await keystore.encrypt('mfa', input.userId, plaintext);
    } catch (err) {
      if (isKeyStoreError(err) && err.retryable) throw unavailable();
      throw err;
    } finally {
      plaintext.fill(0);
    }
    const mfaUri = totpUri(input.username, secret);
    const qrCode = await QRCode.toDataURL(mfaUri, { errorCorrectionLevel: 'M', margin: 2, width: 256 });
    const factorId = randomUUID();
    const write = async (trx: DbOrTx) => {
      // Re-checked under the user's row lock: a pending factor confirmed later replaces the active one,
      // so it may only be created over an active factor through replaceActive.
      await lockGate(trx, input.userId);
      if (!input.replacing && (await findFactors(trx, input.userId)).active) throw replaceNeedsProof();
      await replacePendingFactor(trx, { id: factorId, userId: input.userId, ciphertext, now: clock.now() });
      await audit.append(
        { action: MFA_AUDIT.setupStarted, actorType: 'user', actorId: input.userId, subjectType: 'user', subjectId: input.userId, ip: input.meta?.ip, requestId: input.meta?.requestId, data: { factor_id: factorId, replacing: input.replacing ?? false } },
        trx,
      );
    };
    if (isTransaction(input.trx)) await write(input.trx);
    else await (input.trx ?? db).transaction(write);
    return { mfaUri, secret, qrCode };
  }

  /**
   * Replacing an active factor: the current password and a fresh code of the
   * current factor, then the new pending factor — the step is consumed only if
   * the new factor is stored. The active factor keeps working until the new
   * one is confirmed.
   */
  async function replaceActive(
    input: { userId: string; username: string; password?: string | undefined; mfaCode?: string | undefined; keepSession: string; meta?: RequestMeta },
    passwords: PasswordCheck,
  ): Promise<MfaEnrollment> {
    if (input.password === undefined) throw replaceNeedsProof();
    if (input.mfaCode === undefined) throw replaceNeedsProof('mfa_invalid');
    await passwords.verifyPassword(input.userId, input.password, input.meta);
    const code = input.mfaCode;
    return db.transaction(async (trx) => {
      await gate({ userId: input.userId, code, purpose: 'replace_mfa', trx, meta: input.meta }, 'active');
      const enrollment = await beginEnrollment({ userId: input.userId, username: input.username, meta: input.meta, trx, replacing: true });
      // Proven with password and code: the other sessions end now, and again when the new factor is confirmed.
      await deps.sessions.revokeOthers(trx, { userId: input.userId, keep: input.keepSession, reason: 'mfa_replaced', meta: input.meta });
      return enrollment;
    });
  }

  return {
    /**
     * The gate: `{ mfaUseId, step }` when `code` is a fresh code of the user's
     * factor; otherwise 403 mfa_not_enrolled / mfa_invalid / mfa_code_used or
     * 429 mfa_locked. Pass `trx` to consume the step atomically with your writes.
     */
    async verifyAndConsume(input: VerifyAndConsumeInput): Promise<MfaUse> {
      const { mfaUseId, step } = await gate(input, 'active');
      return { mfaUseId, step };
    },

    /**
     * `POST /api/confirm_mfa`: the pending factor's first code (or, with none pending, a code of the active one).
     * Activating a factor revokes every session of the user but `keepSession` (the caller's).
     */
    async confirm(input: { userId: string; code: string; keepSession: string; meta?: RequestMeta }): Promise<void> {
      await gate({ userId: input.userId, code: input.code, meta: input.meta, purpose: 'confirm_mfa' }, 'pending', input.keepSession);
    },

    /** Is a factor active (replacing it needs the password and a current code)? */
    async status(userId: string): Promise<{ active: boolean; pending: boolean }> {
      const factors = await findFactors(db, userId);
      return { active: factors.active !== undefined, pending: factors.pending !== undefined };
    },

    /**
     * `POST /api/setup_mfa` in one call: a first (or re-started pending) enrolment
     * needs nothing more; replacing an active factor needs `password` and `mfaCode`.
     */
    async setup(
      input: { userId: string; username: string; password?: string | undefined; mfaCode?: string | undefined; keepSession: string; meta?: RequestMeta },
      passwords: PasswordCheck,
    ): Promise<MfaEnrollment> {
      const { active } = await findFactors(db, input.userId);
      if (active) return replaceActive(input, passwords);
      return beginEnrollment({ userId: input.userId, username: input.username, meta: input.meta });
    },

    beginEnrollment,
    replaceActive,

    /** Closes the failure pool (when the service made its own). */
    async close(): Promise<void> {
      if (owned) await side.destroy();
    },
  };
}
