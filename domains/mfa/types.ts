import type { Db, DbOrTx } from '../../lib/db';
import type { Clock } from '../../lib/clock';
import type { Config } from '../../config/env';
import type { KeyStore } from '../keystore';
import type { AuditLog } from '../audit';

export type FactorState = 'pending' | 'active';

export interface FactorRow {
  id: string;
  user_id: string;
  state: FactorState;
  secret_ciphertext: string;
  created_at: Date;
  confirmed_at: Date | null;
}

/** Where a request came from (domains/audit: one definition for every domain). */
import type { RequestMeta } from '../audit';
export type { RequestMeta };

export interface MfaServiceDeps {
  db: Db;
  keystore: Pick<KeyStore, 'encrypt' | 'decrypt'>;
  clock: Clock;
  config: Pick<Config, 'MFA_MAX_FAILURES' | 'MFA_FAILURE_WINDOW' | 'MFA_LOCK_DURATION'>;
  audit: Pick<AuditLog, 'append'>;
  /**
   * Where failures and replays are recorded (a pool separate from `db`, see
   * service.ts). Default: a 2-connection pool the service opens on `db`'s URL
   * and closes in `close()`.
   */
  failureDb?: Db;
}

export interface VerifyAndConsumeInput {
  userId: string;
  /** The 6-digit code as typed. */
  code: string;
  /** What the code authorises, recorded on the `mfa_uses` row (e.g. `approve_transactions`). */
  purpose: string;
  /**
   * The caller's transaction: the step is consumed only if it commits. Call the
   * gate before appending audit events or touching the user's row in `trx`
   * (failures are recorded on another connection and must not wait for it).
   * READ COMMITTED (the default) only.
   */
  trx?: DbOrTx | undefined;
  meta?: RequestMeta | undefined;
}

export interface MfaUse {
  /** `mfa_uses.id`: approvals point at it. */
  mfaUseId: string;
  /** The accepted RFC 6238 time step. */
  step: number;
}

export interface MfaEnrollment {
  mfaUri: string;
  /** Base32, 160 bits: shown once, for typing into an authenticator by hand. */
  secret: string;
  /** A PNG data URL of `mfaUri`. */
  qrCode: string;
}

export const MFA_AUDIT = {
  setupStarted: 'mfa.setup_started',
  confirmed: 'mfa.confirmed',
  failed: 'mfa.failed',
  lockedOut: 'mfa.locked_out',
  replayRefused: 'mfa.replay_refused',
} as const;
