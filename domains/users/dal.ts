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

export async function lockUserRow(db: DbOrTx, id: string): Promise<Pick<UserRow, 'failed_logins' | 'locked_until'> | undefined> {
  return (await db('users').select('failed_logins', 'locked_until').where({ id }).forNoKeyUpdate().first()) as Pick<UserRow, 'failed_logins' | 'locked_until'> | undefined;
}

export async function setLoginState(db: DbOrTx, id: string, state: { failedLogins: number; lockedUntil: Date | null; now: Date }): Promise<void> {
  await db('users').where({ id }).update({ failed_logins: state.failedLogins, locked_until: state.lockedUntil, updated_at: state.now });
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

/** Revocations of tokens that have expired anyway are dead weight. */
export async function pruneRevokedTokens(db: DbOrTx, now: Date): Promise<void> {
  await db('revoked_tokens').where('expires_at', '<', now).delete();
}

/** What the authenticator needs to accept a verified token: does the user exist, and is this token revoked. */
export async function tokenStanding(db: DbOrTx, userId: string, jti: string): Promise<{ tokensValidAfter: Date | null; revoked: boolean } | undefined> {
  const row = (await db('users')
    .select('tokens_valid_after', db.raw('EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = ?) AS revoked', [jti]))
    .where({ id: userId })
    .first()) as { tokens_valid_after: Date | null; revoked: boolean } | undefined;
  return row ? { tokensValidAfter: row.tokens_valid_after, revoked: row.revoked } : undefined;
}
