/**
 * Adapter between key rotation and the audit log.
 *
 * NOT CONNECTED YET — RECORDS NOTHING. The audit domain
 * (domains/audit/service.ts, `appendAudit(db, event)`) did not exist when the
 * key store was written, and a hand-written INSERT here would bypass the HMAC
 * chain and its advisory lock. Once `appendAudit` exists, this function is the
 * one place to connect: map `KeyRotationAuditEvent` onto its event shape.
 * `npm run keys:rotate` prints the same facts to stdout meanwhile.
 */
import type { Db } from '../../lib/db';
import type { KeyRotationAuditEvent } from './rotation';

export const ROTATION_AUDIT_CONNECTED = false;

export function createRotationAudit(db: Db): (event: KeyRotationAuditEvent) => Promise<void> {
  void db;
  return async () => {};
}
