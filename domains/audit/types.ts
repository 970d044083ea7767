import type { DbOrTx } from '../../lib/db';

/** Where a request came from: every audit entry written on a caller's behalf carries it. */
export interface RequestMeta {
  ip?: string | undefined;
  requestId?: string | undefined;
}

/** The audit fields of a request's origin (one helper, so no entry forgets them). */
export const requestOrigin = (meta: RequestMeta = {}): Pick<AuditEvent, 'ip' | 'requestId'> => ({ ip: meta.ip, requestId: meta.requestId });

export type AuditActorType = 'user' | 'agent' | 'system' | 'anonymous' | 'operator';

/**
 * One fact for the audit trail. `data` is free-form JSON for context — ids,
 * reasons, digests — and never a secret (no password, code, key or token).
 */
export interface AuditEvent {
  action: string;
  actorType: AuditActorType;
  actorId?: string | undefined;
  subjectType?: string | undefined;
  subjectId?: string | undefined;
  ip?: string | undefined;
  requestId?: string | undefined;
  data?: Record<string, unknown> | undefined;
}

export interface AuditLog {
  /**
   * Appends one event to the HMAC chain. With `trx` the event commits or rolls
   * back with the caller's work (and the chain stays locked until then); without
   * it the event gets its own transaction.
   */
  append(event: AuditEvent, trx?: DbOrTx): Promise<void>;
  /** Appends several events, in order, under one chain lock and one insert (same `trx` rules). */
  appendMany(events: readonly AuditEvent[], trx?: DbOrTx): Promise<void>;
}

/** A row of `audit_events` as read back for verification. */
export interface AuditRow {
  id: string;
  created_at: Date;
  action: string;
  actor_type: string;
  actor_id: string | null;
  subject_type: string | null;
  subject_id: string | null;
  ip: string | null;
  request_id: string | null;
  data: unknown;
  prev_hmac: string;
  hmac: string;
}

export type ChainBreak = 'prev_mismatch' | 'hmac_mismatch';

export type ChainVerification = { ok: true; count: number } | { ok: false; brokenId: string; reason: ChainBreak; count: number };
