/**
 * The HTTP layer's `Authenticator`: who is calling.
 *
 * * Users: a JWT that verifies (HS256 only, iss/aud/exp/iat/jti/sub checked
 *   against the injected clock) *and* is not revoked in PostgreSQL — neither
 *   its `jti` (logout) nor everything issued up to the user's
 *   `tokens_valid_after`. Checked on every request, so it holds across replicas.
 * * Agents: API keys (domains/agents).
 */
import type { Db } from '../../lib/db';
import type { Clock } from '../../lib/clock';
import type { Config } from '../../config/env';
import type { Authenticator } from '../../lib/principal';
import { createApiKeyVerifier } from '../agents';
import { createTokenService, type TokenService } from './tokens';
import { tokenStanding } from './dal';

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
      if (!standing || standing.revoked) return undefined;
      // iat has whole-second precision: a token from the revocation's own second is refused too.
      if (standing.tokensValidAfter && claims.issuedAt.getTime() < Math.ceil(standing.tokensValidAfter.getTime() / 1000) * 1000) return undefined;
      return { type: 'user', userId: claims.userId, jti: claims.jti, expiresAt: claims.expiresAt };
    },
    verifyApiKey: (key) => keys.verifyApiKey(key),
  };
}
