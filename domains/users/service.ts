/**
 * Accounts: registration, login, re-authentication by password, password
 * change, logout.
 *
 * Security invariants kept here:
 * * Every login failure — unknown user, wrong password, a source in its
 *   back-off — is the same 401 `invalid_credentials` body, and each path
 *   spends one argon2 verification (a dummy hash for unknown and throttled),
 *   so neither the answer nor its timing tells them apart.
 * * Failures are throttled per (account, source address) in PostgreSQL
 *   (throttle.ts): the limit holds across replicas and concurrent requests,
 *   and failures from one address never stop the owner at another. The
 *   account as a whole only slows down; it is never shut.
 * * Re-authentication (`verifyPassword`) counts against the same pair.
 * * A session is created under the user's row lock and only if the password
 *   hash is still the one just verified: a login racing a password change
 *   either lands before it (and is revoked by it) or fails.
 * * Changing the password needs the current one and a fresh TOTP code, and
 *   revokes every other session of the user in the same transaction; the
 *   caller's session stays valid.
 * * No password, hash or token ever reaches an error, a log or the audit log.
 */
import { randomUUID } from 'node:crypto';
import { AppError } from '../../lib/errors';
import type { DbOrTx } from '../../lib/db';
import { createPasswordHasher } from './password';
import { createTokenService, type IssuedToken } from './tokens';
import { reserveAttempt, throttleSource, type AttemptDecision, type ThrottlePolicy } from './throttle';
import { normalizeUsername, passwordProblem, USERNAME_PATTERN } from './policy';
import { cleanUserAgent, createSessionService } from './sessions';
import {
  clearThrottle,
  findUserById,
  findUserByUsername,
  insertSession,
  insertUser,
  lockThrottle,
  lockUserRow,
  pruneRevokedTokens,
  pruneThrottles,
  recentAccountFailures,
  revokeToken,
  setThrottle,
  setTokensValidAfter,
  updatePasswordHash,
} from './dal';
import { USER_AUDIT, type RequestMeta, type UserRow, type UserServiceDeps } from './types';

const invalidCredentials = () => new AppError('invalid_credentials', 'invalid username or password');
const wrongPassword = () => new AppError('password_invalid', 'the password is not correct');

function newPasswordProblem(password: string, username: string): AppError | undefined {
  const problem = passwordProblem(password, username);
  if (problem === 'common') return new AppError('password_invalid', 'this password is too common; choose another');
  if (problem === 'same_as_username') return new AppError('password_invalid', 'the password must not be the username');
  return undefined;
}

/** The one TOTP gate, as a password change needs it (domains/mfa). */
export interface MfaGate {
  verifyAndConsume(input: { userId: string; code: string; purpose: string; trx?: DbOrTx; meta?: RequestMeta }): Promise<unknown>;
}

export type UserService = ReturnType<typeof createUserService>;

export function createUserService(deps: UserServiceDeps) {
  const { db, clock, config, audit } = deps;
  const hasher = deps.hasher ?? createPasswordHasher();
  const tokens = deps.tokens ?? createTokenService({ config, clock });
  const sessions = deps.sessions ?? createSessionService({ db, clock, audit });
  const policy: ThrottlePolicy = {
    freeFailures: config.LOGIN_FREE_FAILURES,
    maxBackoffSeconds: config.LOGIN_BACKOFF_MAX,
    windowSeconds: config.LOGIN_FAILURE_WINDOW,
    accountSlowdownAfter: config.LOGIN_ACCOUNT_SLOWDOWN,
  };
  const windowStart = (now: Date) => new Date(now.getTime() - policy.windowSeconds * 1000);

  /** Counts this attempt for its (user, source) pair before the password is looked at (see throttle.ts). */
  async function reserve(userId: string, source: string): Promise<AttemptDecision | undefined> {
    const now = clock.now();
    const decision = await db.transaction(async (trx) => {
      const row = await lockThrottle(trx, userId, source, now);
      if (!row) return undefined;
      const accountFailures = await recentAccountFailures(trx, userId, windowStart(now));
      const state = row.failures > 0 ? { failures: row.failures, nextAttemptAt: row.next_attempt_at, lastFailureAt: row.last_failure_at } : undefined;
      const decided = reserveAttempt(state, accountFailures, now, policy);
      if (decided.allowed) await setThrottle(trx, userId, source, decided.next);
      return decided;
    });
    await pruneThrottles(db, userId, windowStart(now));
    return decision;
  }

  /** After a correct password: hashes from a weaker policy are upgraded while the plaintext is at hand. */
  async function upgradeHash(user: UserRow, password: string): Promise<void> {
    if (hasher.needsRehash(user.password_hash)) await updatePasswordHash(db, user.id, await hasher.hash(password), clock.now());
  }

  /**
   * Checks a user's password against its (user, source) pair. True when it
   * is right (the pair starts afresh); otherwise the failure is recorded.
   */
  async function checkPassword(user: UserRow, password: string, meta: RequestMeta, context: 'login' | 'reauth'): Promise<boolean> {
    const source = throttleSource(meta.ip);
    const decision = await reserve(user.id, source);
    const failedAction = context === 'login' ? USER_AUDIT.loginFailed : USER_AUDIT.passwordCheckFailed;
    const base = { actorType: 'user' as const, actorId: user.id, subjectType: 'user', subjectId: user.id, ip: meta.ip, requestId: meta.requestId };
    if (!decision || !decision.allowed) {
      await hasher.verifyDummy(password);
      await audit.append({ ...base, action: failedAction, data: { reason: 'throttled', source, wait_until: decision?.allowed === false ? decision.waitUntil : null } });
      return false;
    }
    if (await hasher.verify(user.password_hash, password)) {
      await clearThrottle(db, user.id, source);
      return true;
    }
    await audit.append({
      ...base,
      action: failedAction,
      data: { reason: 'wrong_password', source, failures: decision.failures, wait_until: decision.next.nextAttemptAt, account_slowed: decision.accountSlowed },
    });
    if (decision.startsBackoff) {
      await audit.append({ ...base, action: USER_AUDIT.throttled, data: { source, failures: decision.failures, until: decision.next.nextAttemptAt, account_slowed: decision.accountSlowed } });
    }
    return false;
  }

  /** The session row for a fresh token, under the user's row lock; refused if the password changed meanwhile. */
  async function openSession(user: UserRow, issued: IssuedToken, meta: RequestMeta): Promise<void> {
    await db.transaction(async (trx) => {
      const row = await lockUserRow(trx, user.id);
      if (!row || row.password_hash !== user.password_hash) throw invalidCredentials();
      await insertSession(trx, {
        jti: issued.jti,
        user_id: user.id,
        created_at: issued.issuedAt,
        expires_at: issued.expiresAt,
        last_seen_at: null,
        ip: meta.ip ? meta.ip.slice(0, 64) : null,
        user_agent: cleanUserAgent(meta.userAgent),
      });
      await audit.append({ action: USER_AUDIT.loginSucceeded, actorType: 'user', actorId: user.id, subjectType: 'user', subjectId: user.id, ip: meta.ip, requestId: meta.requestId, data: { jti: issued.jti } }, trx);
    });
  }

  return {
    /** 201: the new user's id. 403 password_invalid for a common password, 409 username_taken. */
    async register(input: { username: string; password: string }, meta: RequestMeta = {}): Promise<{ userId: string }> {
      const username = normalizeUsername(input.username);
      const problem = newPasswordProblem(input.password, username);
      if (problem) throw problem;
      // Hash before looking at the username, so a taken name answers no faster.
      const passwordHash = await hasher.hash(input.password);
      const userId = randomUUID();
      await db.transaction(async (trx) => {
        if (!(await insertUser(trx, { id: userId, username, passwordHash, now: clock.now() }))) {
          throw new AppError('username_taken', 'this username is taken');
        }
        await audit.append({ action: USER_AUDIT.registered, actorType: 'user', actorId: userId, subjectType: 'user', subjectId: userId, ip: meta.ip, requestId: meta.requestId, data: { username } }, trx);
      });
      return { userId };
    },

    /** An access token (and its session's CSRF token), or 401 invalid_credentials — one body for every failure. */
    async login(input: { username: string; password: string }, meta: RequestMeta = {}): Promise<IssuedToken & { userId: string; csrfToken: string }> {
      const user = USERNAME_PATTERN.test(input.username) ? await findUserByUsername(db, normalizeUsername(input.username)) : undefined;
      if (!user) {
        await hasher.verifyDummy(input.password);
        // The attempted name is not recorded: people type passwords into the username field.
        await audit.append({ action: USER_AUDIT.loginFailed, actorType: 'anonymous', ip: meta.ip, requestId: meta.requestId, data: { reason: 'unknown_user' } });
        throw invalidCredentials();
      }
      if (!(await checkPassword(user, input.password, meta, 'login'))) throw invalidCredentials();
      const issued = await tokens.issue(user.id);
      await openSession(user, issued, meta);
      await upgradeHash(user, input.password);
      return { ...issued, userId: user.id, csrfToken: tokens.csrfToken(issued.jti) };
    },

    /**
     * Re-authentication for sensitive actions: resolves when the password is
     * right, else 403 password_invalid. Counts toward the same (user, source)
     * back-off as logins.
     */
    async verifyPassword(userId: string, password: string, meta: RequestMeta = {}): Promise<void> {
      const user = await findUserById(db, userId);
      if (!user) {
        await hasher.verifyDummy(password);
        throw wrongPassword();
      }
      if (!(await checkPassword(user, password, meta, 'reauth'))) throw wrongPassword();
      await upgradeHash(user, password);
    },

    /**
     * `POST /api/change_password`: the current password (403 password_invalid,
     * throttled like a login), an acceptable new one (403 password_invalid),
     * then a fresh TOTP code (the one gate) — and in that code's transaction
     * the new hash and the revocation of every session but `keepSession`.
     */
    async changePassword(
      input: { userId: string; currentPassword: string; newPassword: string; mfaCode: string; keepSession: string },
      mfa: MfaGate,
      meta: RequestMeta = {},
    ): Promise<{ revokedSessions: number }> {
      const user = await findUserById(db, input.userId);
      if (!user) {
        await hasher.verifyDummy(input.currentPassword);
        throw wrongPassword();
      }
      if (!(await checkPassword(user, input.currentPassword, meta, 'reauth'))) throw wrongPassword();
      const problem = newPasswordProblem(input.newPassword, user.username);
      if (problem) throw problem;
      const newHash = await hasher.hash(input.newPassword);
      return db.transaction(async (trx) => {
        // The gate first: it takes the user's row itself and records failures on its own connection.
        await mfa.verifyAndConsume({ userId: user.id, code: input.mfaCode, purpose: 'change_password', trx, meta });
        const row = await lockUserRow(trx, user.id);
        // Changed by a concurrent request since we checked it: the current password is no longer this one.
        if (!row || row.password_hash !== user.password_hash) throw wrongPassword();
        await updatePasswordHash(trx, user.id, newHash, clock.now());
        await audit.append({ action: USER_AUDIT.passwordChanged, actorType: 'user', actorId: user.id, subjectType: 'user', subjectId: user.id, ip: meta.ip, requestId: meta.requestId, data: { kept_session: input.keepSession } }, trx);
        const revokedSessions = await sessions.revokeOthers(trx, { userId: user.id, keep: input.keepSession, reason: 'password_changed', meta });
        return { revokedSessions };
      });
    },

    /** Revokes one token at once, on every replica. */
    async logout(token: { userId: string; jti: string; expiresAt: Date }, meta: RequestMeta = {}): Promise<void> {
      const now = clock.now();
      await db.transaction(async (trx) => {
        await revokeToken(trx, { ...token, now });
        await audit.append({ action: USER_AUDIT.loggedOut, actorType: 'user', actorId: token.userId, subjectType: 'user', subjectId: token.userId, ip: meta.ip, requestId: meta.requestId, data: { jti: token.jti } }, trx);
      });
      await pruneRevokedTokens(db, now);
    },

    /** Every token issued before now stops working (operator use; `POST /api/logout_all` revokes by id). */
    async revokeAllTokens(userId: string): Promise<void> {
      await setTokensValidAfter(db, userId, clock.now());
    },

    async getUser(userId: string): Promise<{ id: string; username: string } | undefined> {
      const user = await findUserById(db, userId);
      return user ? { id: user.id, username: user.username } : undefined;
    },

    /** The CSRF token bound to a session (api/http/authenticate.ts checks it). */
    csrfToken: (jti: string) => tokens.csrfToken(jti),

    sessions,
  };
}
