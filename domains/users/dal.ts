/** Data access for users and revoked tokens. Every function takes an optional transaction. */
import type { DbOrTx } from '../../lib/db';
import type { UserRow } from './types';

const UNIQUE_VIOLATION = '23505';

/** Inserts a user; `false` when the (case-insensitive) username is taken. */
export async function insertUser(db: DbOrTx, user: { id: string; username: string; passwordHash: string; now: Date }): Promise<boolean> {
  try {
    await db('users').insert({ id: user.id, username: user.username, password_hash: user.passwordHash, created_at: user.now, updated_at: user.now });
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === UNIQUE_VIOLATION) return false;
    throw err;
  }
}

export async function findUserByUsername(db: DbOrTx, username: string): Promise<UserRow | undefined> {
  // Matches the unique index on lower(username).
  return (await db('users').whereRaw('lower(username) = lower(?)', [username]).first()) as UserRow | undefined;
}

export async function findUserById(db: DbOrTx, id: string): Promise<UserRow | undefined> {
  return (await db('users').where({ id }).first()) as UserRow | undefined;
}

/**
 * Locks the user's row for the rest of the transaction. Sessions are created,
 * and passwords changed, under this lock, so a login that checked the old
 * password cannot add a session after a password change revoked the others.
 */
export async function lockUserRow(db: DbOrTx, id: string): Promise<Pick<UserRow, 'password_hash'> | undefined> {
  return (await db('users').select('password_hash').where({ id }).forNoKeyUpdate().first()) as Pick<UserRow, 'password_hash'> | undefined;
}

// ---- login throttling, per (user, source) ----

interface ThrottleRow {
  failures: number;
  next_attempt_at: Date | null;
  last_failure_at: Date;
}

/** The pair's row, created if missing and locked for the rest of the transaction (`undefined`: the user is gone). */
export async function lockThrottle(trx: DbOrTx, userId: string, source: string, now: Date): Promise<ThrottleRow | undefined> {
  // A row to lock even on the pair's first attempt, so concurrent first attempts queue too.
  await trx('login_throttles').insert({ user_id: userId, source, failures: 0, next_attempt_at: null, last_failure_at: now }).onConflict(['user_id', 'source']).ignore();
  return (await trx('login_throttles').select('failures', 'next_attempt_at', 'last_failure_at').where({ user_id: userId, source }).forUpdate().first()) as ThrottleRow | undefined;
}

/** Failures of every pair of this user since `since` (the account-wide count). */
export async function recentAccountFailures(db: DbOrTx, userId: string, since: Date): Promise<number> {
  const row = (await db('login_throttles').where({ user_id: userId }).andWhere('last_failure_at', '>', since).sum({ n: 'failures' }).first()) as { n: string | number | null } | undefined;
  return Number(row?.n ?? 0);
}

export async function setThrottle(db: DbOrTx, userId: string, source: string, state: { failures: number; nextAttemptAt: Date | null; lastFailureAt: Date }): Promise<void> {
  await db('login_throttles').where({ user_id: userId, source }).update({ failures: state.failures, next_attempt_at: state.nextAttemptAt, last_failure_at: state.lastFailureAt });
}

export async function clearThrottle(db: DbOrTx, userId: string, source: string): Promise<void> {
  await db('login_throttles').where({ user_id: userId, source }).delete();
}

/** Pairs that forgot their failures are dead weight (an attacker's addresses pile up otherwise). */
export async function pruneThrottles(db: DbOrTx, userId: string, before: Date): Promise<void> {
  await db('login_throttles').where({ user_id: userId }).andWhere('last_failure_at', '<=', before).delete();
}

// ---- sessions (issued access tokens) ----

export interface SessionRow {
  jti: string;
  user_id: string;
  created_at: Date;
  expires_at: Date;
  last_seen_at: Date | null;
  ip: string | null;
  user_agent: string | null;
}

export async function insertSession(db: DbOrTx, row: SessionRow): Promise<void> {
  await db('user_sessions').insert(row);
}

/** The user's sessions that have not expired and are not revoked by id (valid-after is the caller's to apply). */
export async function listLiveSessions(db: DbOrTx, userId: string, now: Date): Promise<SessionRow[]> {
  return (await db('user_sessions as s')
    .select('s.*')
    .where('s.user_id', userId)
    .andWhere('s.expires_at', '>', now)
    .whereNotExists((q) => q.select(db.raw('1')).from('revoked_tokens as r').whereRaw('r.jti = s.jti'))
    .orderBy('s.created_at', 'desc')
    .orderBy('s.jti')) as SessionRow[];
}

/**
 * Revokes, by id, every live session of the user but `keep` (all of them when
 * `keep` is undefined). Returns the ids newly revoked.
 */
export async function revokeSessions(db: DbOrTx, userId: string, now: Date, options: { keep?: string; only?: string } = {}): Promise<string[]> {
  const select = db('user_sessions')
    .select('jti', 'user_id', 'expires_at', db.raw('?::timestamptz AS revoked_at', [now]))
    .where({ user_id: userId })
    .andWhere('expires_at', '>', now)
    .modify((q) => {
      if (options.keep) q.whereNot('jti', options.keep);
      if (options.only) q.where('jti', options.only);
    });
  const rows = (await db
    .into(db.raw('revoked_tokens (jti, user_id, expires_at, revoked_at)'))
    .insert(select)
    .onConflict('jti')
    .ignore()
    .returning('jti')) as { jti: string }[];
  return rows.map((r) => r.jti);
}

/** `last_seen_at`, at most once per `resolutionMs` (a read-mostly path should not write on every request). */
export async function touchSession(db: DbOrTx, jti: string, now: Date, resolutionMs: number): Promise<void> {
  await db('user_sessions')
    .where({ jti })
    .andWhere((q) => q.whereNull('last_seen_at').orWhere('last_seen_at', '<', new Date(now.getTime() - resolutionMs)))
    .update({ last_seen_at: now });
}

export async function updatePasswordHash(db: DbOrTx, id: string, passwordHash: string, now: Date): Promise<void> {
  await db('users').where({ id }).update({ password_hash: passwordHash, updated_at: now });
}

export async function setTokensValidAfter(db: DbOrTx, id: string, at: Date): Promise<void> {
  await db('users').where({ id }).update({ tokens_valid_after: at, updated_at: at });
}

export async function revokeToken(db: DbOrTx, token: { jti: string; userId: string; expiresAt: Date; now: Date }): Promise<void> {
  await db('revoked_tokens')
    .insert({ jti: token.jti, user_id: token.userId, expires_at: token.expiresAt, revoked_at: token.now })
    .onConflict('jti')
    .ignore();
}

/** Revocations and sessions of tokens that have expired anyway are dead weight. */
export async function pruneRevokedTokens(db: DbOrTx, now: Date): Promise<void> {
  await db('revoked_tokens').where('expires_at', '<', now).delete();
  await db('user_sessions').where('expires_at', '<', now).delete();
}

export interface TokenStanding {
  tokensValidAfter: Date | null;
  revoked: boolean;
  /** The session row of this token; a token without one was never issued by a login (or predates sessions). */
  session: { lastSeenAt: Date | null } | undefined;
}

/** What the authenticator needs to accept a verified token, in one query: the user, the token's session, its revocation. */
export async function tokenStanding(db: DbOrTx, userId: string, jti: string): Promise<TokenStanding | undefined> {
  const row = (await db('users as u')
    .leftJoin('user_sessions as s', (j) => j.on('s.user_id', 'u.id').andOn('s.jti', db.raw('?', [jti])))
    .select('u.tokens_valid_after', 's.jti as session_jti', 's.last_seen_at', db.raw('EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = ?) AS revoked', [jti]))
    .where('u.id', userId)
    .first()) as { tokens_valid_after: Date | null; session_jti: string | null; last_seen_at: Date | null; revoked: boolean } | undefined;
  if (!row) return undefined;
  return { tokensValidAfter: row.tokens_valid_after, revoked: row.revoked, session: row.session_jti ? { lastSeenAt: row.last_seen_at } : undefined };
}
