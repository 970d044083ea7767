import type { Db } from '../../lib/db';
import type { Clock } from '../../lib/clock';
import type { Config } from '../../config/env';
import type { AuditLog } from '../audit';
import type { PasswordHasher } from './password';
import type { TokenService } from './tokens';
import type { SessionService } from './sessions';

export interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  mfa_last_step: string | null;
  mfa_locked_until: Date | null;
  tokens_valid_after: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** Where a request came from (domains/audit: one definition for every domain). */
export type { RequestMeta } from '../audit';

export type UserServiceConfig = Pick<
  Config,
  'LOGIN_FREE_FAILURES' | 'LOGIN_BACKOFF_MAX' | 'LOGIN_FAILURE_WINDOW' | 'LOGIN_ACCOUNT_SLOWDOWN' | 'JWT_SECRET_KEY' | 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'JWT_ACCESS_TOKEN_EXPIRES'
>;

export interface UserServiceDeps {
  db: Db;
  clock: Clock;
  config: UserServiceConfig;
  audit: Pick<AuditLog, 'append'>;
  /** Defaults to argon2id with the shared semaphore; tests may pass their own. */
  hasher?: PasswordHasher;
  tokens?: TokenService;
  /** Defaults to one on `db`; compose shares it with the MFA domain. */
  sessions?: SessionService;
}

export const USER_AUDIT = {
  registered: 'user.registered',
  loginSucceeded: 'user.login_succeeded',
  loginFailed: 'user.login_failed',
  /** A (user, source) pair entered its back-off; the account stays open to other sources. */
  throttled: 'user.login_throttled',
  loggedOut: 'user.logged_out',
  passwordCheckFailed: 'user.password_check_failed',
  passwordChanged: 'user.password_changed',
  sessionRevoked: 'user.session_revoked',
  sessionsRevoked: 'user.sessions_revoked',
  loggedOutEverywhere: 'user.logged_out_everywhere',
} as const;
