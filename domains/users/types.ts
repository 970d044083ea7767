import type { Db } from '../../lib/db';
import type { Clock } from '../../lib/clock';
import type { Config } from '../../config/env';
import type { AuditLog } from '../audit';
import type { PasswordHasher } from './password';
import type { TokenService } from './tokens';

export interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  failed_logins: number;
  locked_until: Date | null;
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
  'LOGIN_MAX_FAILURES' | 'LOGIN_LOCK_DURATION' | 'JWT_SECRET_KEY' | 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'JWT_ACCESS_TOKEN_EXPIRES'
>;

export interface UserServiceDeps {
  db: Db;
  clock: Clock;
  config: UserServiceConfig;
  audit: Pick<AuditLog, 'append'>;
  /** Defaults to argon2id with the shared semaphore; tests may pass their own. */
  hasher?: PasswordHasher;
  tokens?: TokenService;
}

export const USER_AUDIT = {
  registered: 'user.registered',
  loginSucceeded: 'user.login_succeeded',
  loginFailed: 'user.login_failed',
  lockedOut: 'user.locked_out',
  loggedOut: 'user.logged_out',
  passwordCheckFailed: 'user.password_check_failed',
} as const;
