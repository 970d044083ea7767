/**
 * Sessions: every access token a login issued, by its `jti`.
 *
 * Invariants:
 * * A token is accepted only while its session row exists (authenticator.ts),
 *   so this list is complete: every token that can act for the user is in it,
 *   and revoking "every other session" names each one in `revoked_tokens` —
 *   the revocation table the authenticator already checks on every request,
 *   on every replica. No second mechanism.
 * * A session is listed exactly when the authenticator would accept its token
 *   (`isLive`): not expired, not revoked, issued after `tokens_valid_after`.
 * * Revocations run under the user's row lock (`lockUserRow`), like the insert
 *   at login, so a login racing a password change cannot slip a session past it.
 * * Another user's session id answers 404 exactly like an unknown one.
 * * Every revocation is audited, with the ids (a jti is not a credential).
 */
import type { Db, DbOrTx } from '../../lib/db';
import { notFound } from '../../lib/errors';
import type { Clock } from '../../lib/clock';
import type { AuditLog } from '../audit';
import { listLiveSessions, lockUserRow, revokeSessions, type SessionRow } from './dal';
import { USER_AUDIT, type RequestMeta } from './types';

export interface SessionView {
  id: string;
  created_at: string;
  last_seen_at?: string;
  ip?: string;
  user_agent?: string;
  current: boolean;
}

/** Why other sessions were revoked (recorded in the audit trail). */
export type RevokeReason = 'password_changed' | 'mfa_replaced';

/** What the MFA domain needs: revoke the user's other sessions inside its own transaction. */
export interface OtherSessionsRevoker {
  revokeOthers(trx: DbOrTx, input: { userId: string; keep: string; reason: RevokeReason; meta?: RequestMeta | undefined }): Promise<number>;
}

export const USER_AGENT_MAX = 256;

/** The User-Agent as stored and shown: control characters out, capped (it is the client's free text). */
export function cleanUserAgent(raw: string | undefined): string | null {
  if (!raw) return null;
  // eslint-disable-next-line no-control-regex -- stripping control characters is the point
  const cleaned = [...raw.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '')].slice(0, USER_AGENT_MAX).join('');
  return cleaned.length > 0 ? cleaned : null;
}

/** The authenticator's rule for `tokens_valid_after`: iat has whole seconds, so a token of the revocation's own second is refused too. */
export function issuedAfterValidFrom(issuedAt: Date, tokensValidAfter: Date | null): boolean {
  if (!tokensValidAfter) return true;
  return issuedAt.getTime() >= Math.ceil(tokensValidAfter.getTime() / 1000) * 1000;
}

export function toSessionView(row: SessionRow, currentJti: string | undefined): SessionView {
  return {
    id: row.jti,
    created_at: row.created_at.toISOString(),
    ...(row.last_seen_at ? { last_seen_at: row.last_seen_at.toISOString() } : {}),
    ...(row.ip ? { ip: row.ip } : {}),
    ...(row.user_agent ? { user_agent: row.user_agent } : {}),
    current: row.jti === currentJti,
  };
}

export interface SessionServiceDeps {
  db: Db;
  clock: Clock;
  audit: Pick<AuditLog, 'append'>;
}

export type SessionService = ReturnType<typeof createSessionService>;

export function createSessionService(deps: SessionServiceDeps) {
  const { db, clock, audit } = deps;
  const base = (userId: string, meta: RequestMeta = {}) => ({ actorType: 'user' as const, actorId: userId, subjectType: 'user', subjectId: userId, ip: meta.ip, requestId: meta.requestId });

  async function liveSessions(trx: DbOrTx, userId: string): Promise<SessionRow[]> {
    const user = (await trx('users').select('tokens_valid_after').where({ id: userId }).first()) as { tokens_valid_after: Date | null } | undefined;
    if (!user) return [];
    return (await listLiveSessions(trx, userId, clock.now())).filter((row) => issuedAfterValidFrom(row.created_at, user.tokens_valid_after));
  }

  const revoker: OtherSessionsRevoker = {
    /** Every session of the user but `keep`; in the caller's transaction, under the user's row lock. */
    async revokeOthers(trx, input) {
      await lockUserRow(trx, input.userId);
      const revoked = await revokeSessions(trx, input.userId, clock.now(), { keep: input.keep });
      // The change itself is audited by its own domain; this records which sessions it ended, if any.
      if (revoked.length > 0) await audit.append({ ...base(input.userId, input.meta), action: USER_AUDIT.sessionsRevoked, data: { reason: input.reason, kept: input.keep, revoked } }, trx);
      return revoked.length;
    },
  };

  return {
    ...revoker,

    /** `GET /api/sessions`: newest first; `current` marks the caller's. */
    async list(userId: string, currentJti: string): Promise<SessionView[]> {
      return (await liveSessions(db, userId)).map((row) => toSessionView(row, currentJti));
    },

    /** `DELETE /api/sessions/:id`: 404 for an unknown, foreign, expired or already revoked id. */
    async revoke(userId: string, sessionId: string, currentJti: string, meta: RequestMeta = {}): Promise<void> {
      await db.transaction(async (trx) => {
        await lockUserRow(trx, userId);
        const live = (await liveSessions(trx, userId)).some((row) => row.jti === sessionId);
        if (!live) throw notFound('session');
        await revokeSessions(trx, userId, clock.now(), { only: sessionId });
        await audit.append({ ...base(userId, meta), action: USER_AUDIT.sessionRevoked, data: { session_id: sessionId, current: sessionId === currentJti } }, trx);
      });
    },

    /** `POST /api/logout_all`: every session, the caller's included. */
    async revokeAll(userId: string, meta: RequestMeta = {}): Promise<number> {
      return db.transaction(async (trx) => {
        await lockUserRow(trx, userId);
        const revoked = await revokeSessions(trx, userId, clock.now());
        await audit.append({ ...base(userId, meta), action: USER_AUDIT.loggedOutEverywhere, data: { revoked } }, trx);
        return revoked.length;
      });
    },
  };
}
