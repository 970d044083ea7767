/**
 * Access tokens: JWT, HS256 and nothing else.
 *
 * Invariants: the algorithm is pinned on both sides (a token with `alg: none`
 * or any other algorithm is refused before its claims are read); `iss`, `aud`,
 * `exp`, `iat`, `jti` and `sub` are required and checked against the injected
 * clock. Revocation (per `jti`, and per user via `tokens_valid_after`) lives in
 * PostgreSQL and is checked by the authenticator, so it holds on every replica.
 */
import { randomUUID } from 'node:crypto';
import { isUuid } from '../../lib/schemas';
import { SignJWT, jwtVerify } from 'jose';
import type { Config } from '../../config/env';
import { unixSeconds, type Clock } from '../../lib/clock';

export const JWT_ALGORITHM = 'HS256';

export type TokenConfig = Pick<Config, 'JWT_SECRET_KEY' | 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'JWT_ACCESS_TOKEN_EXPIRES'>;

export interface IssuedToken {
  token: string;
  jti: string;
  /** Whole seconds, as `expires_in` says. */
  expiresIn: number;
  expiresAt: Date;
}

export interface VerifiedToken {
  userId: string;
  jti: string;
  issuedAt: Date;
  expiresAt: Date;
}

export interface TokenService {
  issue(userId: string): Promise<IssuedToken>;
  /** The verified claims, or undefined for anything forged, expired, mis-addressed or malformed. Revocation is not checked here. */
  verify(token: string): Promise<VerifiedToken | undefined>;
}

export function createTokenService(deps: { config: TokenConfig; clock: Clock }): TokenService {
  const { config, clock } = deps;
  if (!config.JWT_SECRET_KEY || Buffer.byteLength(config.JWT_SECRET_KEY) < 32) {
    throw new Error('JWT_SECRET_KEY must be at least 32 bytes (256 bits)');
  }
  const key = new TextEncoder().encode(config.JWT_SECRET_KEY);
  const lifetime = Math.max(1, Math.floor(config.JWT_ACCESS_TOKEN_EXPIRES));

  return {
    async issue(userId) {
      const now = clock.now();
      const iat = unixSeconds(now);
      const jti = randomUUID();
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: JWT_ALGORITHM, typ: 'JWT' })
        .setSubject(userId)
        .setIssuer(config.JWT_ISSUER)
        .setAudience(config.JWT_AUDIENCE)
        .setIssuedAt(iat)
        .setExpirationTime(iat + lifetime)
        .setJti(jti)
        .sign(key);
      return { token, jti, expiresIn: lifetime, expiresAt: new Date((iat + lifetime) * 1000) };
    },

    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: [JWT_ALGORITHM],
          issuer: config.JWT_ISSUER,
          audience: config.JWT_AUDIENCE,
          requiredClaims: ['iss', 'aud', 'exp', 'iat', 'jti', 'sub'],
          currentDate: clock.now(),
        });
        const { sub, jti, iat, exp } = payload;
        if (typeof sub !== 'string' || !isUuid(sub)) return undefined;
        if (typeof jti !== 'string' || !isUuid(jti)) return undefined;
        if (typeof iat !== 'number' || typeof exp !== 'number') return undefined;
        // A token "issued" in the future was not issued by this clock (small skew allowed between replicas).
        if (iat > unixSeconds(clock.now()) + 60) return undefined;
        return { userId: sub, jti, issuedAt: new Date(iat * 1000), expiresAt: new Date(exp * 1000) };
      } catch {
        return undefined;
      }
    },
  };
}
