/**
 * Accounts: registration, login, re-authentication by password, logout.
 *
 * Security invariants kept here:
 * * Every login failure — unknown user, wrong password, locked account — is
 *   the same 401 `invalid_credentials` body, and each path spends one argon2
 *   verification (a dummy hash for unknown and locked), so neither the answer
 *   nor its timing tells them apart.
 * * Failures are counted per account in PostgreSQL (lockout.ts), so the
 *   limit holds across replicas and across concurrent requests.
 * * Re-authentication (`verifyPassword`) counts against the same limit.
 * * No password, hash or token ever reaches an error, a log or the audit log.
 */
import { randomUUID } from 'node:crypto';
import { AppError } from '../../lib/errors';
import { createPasswordHasher } from './password';
import { createTokenService, type IssuedToken } from './tokens';
import { clearedState, reserveAttempt, type AttemptDecision } from './lockout';
import { normalizeUsername, passwordProblem, USERNAME_PATTERN } from './policy';
import {
  findUserById,
  findUserByUsername,
  insertUser,
  lockUserRow,
  pruneRevokedTokens,
  revokeToken,
  setLoginState,
  setTokensValidAfter,
  updatePasswordHash,
} from './dal';
import { USER_AUDIT, type RequestMeta, type UserRow, type UserServiceDeps } from './types';

const invalidCredentials = () => new AppError('invalid_credentials', 'invalid username or password');
const wrongPassword = () => new AppError('password_invalid', 'the password is not correct');

export type UserService = ReturnType<typeof createUserService>;

export function createUserService(deps: UserServiceDeps) {
  const { db, clock, config, audit } = deps;
  const hasher = deps.hasher ?? createPasswordHasher();
  const tokens = deps.tokens ?? createTokenService({ config, clock });
  const policy = { maxFailures: config.LOGIN_MAX_FAILURES, lockSeconds: config.LOGIN_LOCK_DURATION };

  /** Counts this attempt before the password is looked at (see lockout.ts). */
  async function reserve(userId: string): Promise<AttemptDecision | undefined> {
    return db.transaction(async (trx) => {
      const row = await lockUserRow(trx, userId);
      if (!row) return undefined;
      const now = clock.now();
      const decision = reserveAttempt({ failedLogins: row.failed_logins, lockedUntil: row.locked_until }, now, policy);
      await setLoginState(trx, userId, { ...decision.next, now });
      return decision;
    });
  }

  async function settleSuccess(user: UserRow, password: string): Promise<void> {
    const now = clock.now();
    const cleared = clearedState();
    await setLoginState(db, user.id, { ...cleared, now });
    // Hashes from a weaker policy are upgraded while the plaintext is at hand.
    if (hasher.needsRehash(user.password_hash)) await updatePasswordHash(db, user.id, await hasher.hash(password), now);
  }

  /**
   * Checks a user's password against the shared failure counter. Returns the
   * user when it is right; otherwise records the failure and returns undefined.
   */
  async function checkPassword(user: UserRow, password: string, meta: RequestMeta, context: 'login' | 'reauth'): Promise<boolean> {
    const decision = await reserve(user.id);
    const failedAction = context === 'login' ? USER_AUDIT.loginFailed : USER_AUDIT.passwordCheckFailed;
    const base = { actorType: 'user' as const, actorId: user.id, subjectType: 'user', subjectId: user.id, ip: meta.ip, requestId: meta.requestId };
    if (!decision || !decision.allowed) {
      await hasher.verifyDummy(password);
      await audit.append({ ...base, action: failedAction, data: { reason: 'locked' } });
      if (decision?.locksOnFailure) await audit.append({ ...base, action: USER_AUDIT.lockedOut, data: { until: decision.next.lockedUntil } });
      return false;
    }
    if (await hasher.verify(user.password_hash, password)) {
      await settleSuccess(user, password);
      return true;
    }
    await audit.append({ ...base, action: failedAction, data: { reason: 'wrong_password', failures: decision.next.failedLogins } });
    if (decision.locksOnFailure) await audit.append({ ...base, action: USER_AUDIT.lockedOut, data: { until: decision.next.lockedUntil } });
    return false;
  }

  return {
    /** 201: the new user's id. 403 password_invalid for a common password, 409 username_taken. */
    async register(input: { username: string; password: string }, meta: RequestMeta = {}): Promise<{ userId: string }> {
      const username = normalizeUsername(input.username);
      const problem = passwordProblem(input.password, username);
      if (problem === 'common') throw new AppError('password_invalid', 'this password is too common; choose another');
      if (problem === 'same_as_username') throw new AppError('password_invalid', 'the password must not be the username');
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

    /** An access token, or 401 invalid_credentials — one body for every failure. */
    async login(input: { username: string; password: string }, meta: RequestMeta = {}): Promise<IssuedToken & { userId: string }> {
      const user = USERNAME_PATTERN.test(input.username) ? await findUserByUsername(db, normalizeUsername(input.username)) : undefined;
      if (!user) {
        await hasher.verifyDummy(input.password);
        // The attempted name is not recorded: people type passwords into the username field.
        await audit.append({ action: USER_AUDIT.loginFailed, actorType: 'anonymous', ip: meta.ip, requestId: meta.requestId, data: { reason: 'unknown_user' } });
        throw invalidCredentials();
      }
      if (!(await checkPassword(user, input.password, meta, 'login'))) throw invalidCredentials();
      const issued = await tokens.issue(user.id);
      await audit.append({ action: USER_AUDIT.loginSucceeded, actorType: 'user', actorId: user.id, subjectType: 'user', subjectId: user.id, ip: meta.ip, requestId: meta.requestId, data: { jti: issued.jti } });
      return { ...issued, userId: user.id };
    },

    /**
     * Re-authentication for sensitive actions: resolves when the password is
     * right, else 403 password_invalid. Counts toward the login lock-out.
     */
    async verifyPassword(userId: string, password: string, meta: RequestMeta = {}): Promise<void> {
      const user = await findUserById(db, userId);
      if (!user) {
        await hasher.verifyDummy(password);
        throw wrongPassword();
      }
      if (!(await checkPassword(user, password, meta, 'reauth'))) throw wrongPassword();
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

    /** Every token issued before now stops working (e.g. after a password change). */
    async revokeAllTokens(userId: string): Promise<void> {
      await setTokensValidAfter(db, userId, clock.now());
    },

    async getUser(userId: string): Promise<{ id: string; username: string } | undefined> {
      const user = await findUserById(db, userId);
      return user ? { id: user.id, username: user.username } : undefined;
    },
  };
}
