/**
 * The HTTP layer's `Authenticator`: who is calling.
 *
 * * Users: a JWT that verifies (HS256 only, iss/aud/exp/iat/jti/sub checked
 *   against the injected clock), whose session a login recorded
 *   (`user_sessions`), and that is not revoked in PostgreSQL — neither its
 *   `jti` (logout, a revoked session, a password or MFA change) nor
 *   everything issued up to the user's `tokens_valid_after`. Checked on every
 *   request, so it holds across replicas.
 * * Agents: API keys (domains/agents).
 * * The CSRF token of a cookie session is derived from its `jti` (tokens.ts).
 */
import type { Db } from '../../lib/db';
import type { Clock } from '../../lib/clock';
import type { Config } from '../../config/env';
import type { Authenticator } from '../../lib/principal';
import { createApiKeyVerifier } from '../agents';
import { createTokenService, type TokenService } from './tokens';
import { tokenStanding, touchSession } from './dal';
import { issuedAfterValidFrom } from './sessions';

/** `last_seen_at` of a session moves at most this often (one write a minute, not one per request). */
export const LAST_SEEN_RESOLUTION_MS = 60_000;

export interface AuthenticatorDeps {
  db: Db;
  clock: Clock;
  config: Pick<Config, 'JWT_SECRET_KEY' | 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'JWT_ACCESS_TOKEN_EXPIRES' | 'API_KEY_HMAC_KEY'>;
  tokens?: TokenService;
}

export function createAuthenticator(deps: AuthenticatorDeps): Authenticator {
  const tokens = deps.tokens ?? createTokenService({ config: deps.config, clock: deps.clock });
  const keys = createApiKeyVerifier(deps);
  return {
    async verifyUserToken(token) {
      const claims = await tokens.verify(token);
      if (!claims) return undefined;
      const standing = await tokenStanding(deps.db, claims.userId, claims.jti);
      if (!standing || standing.revoked || !standing.session) return undefined;
      if (!issuedAfterValidFrom(claims.issuedAt, standing.tokensValidAfter)) return undefined;
      const now = deps.clock.now();
      const seen = standing.session.lastSeenAt;
      if (!seen || now.getTime() - seen.getTime() >= LAST_SEEN_RESOLUTION_MS) await touchSession(deps.db, claims.jti, now, LAST_SEEN_RESOLUTION_MS);
      return { type: 'user', userId: claims.userId, jti: claims.jti, expiresAt: claims.expiresAt };
    },
    verifyApiKey: (key) => keys.verifyApiKey(key),
    csrfToken: (jti) => tokens.csrfToken(jti),
  };
}
