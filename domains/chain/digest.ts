/**
 * The approval digest (docs/http-contract.md): what the approver approves and what the
 * sign activity recomputes from the frozen request before it decrypts a key.
 */
import { createHash } from 'node:crypto';
import { canonicalApprovalJson, type ApprovalFields } from './canonical';

export { APPROVAL_DIGEST_VERSION, canonicalApprovalJson, type ApprovalFields } from './canonical';

/** "0x" + hex(SHA-256(UTF-8(RFC 8785 canonical JSON))). */
export function approvalDigest(fields: ApprovalFields): string {
  const canonical = canonicalApprovalJson(fields);
  return `0x${createHash('sha256').update(canonical, 'utf8').digest('hex')}`;
}

const DIGEST = /^0x[0-9a-f]{64}$/;

/** True when a digest submitted by a client is well formed and equal (any hex case). */
export function digestsEqual(expected: string, submitted: string): boolean {
  const a = expected.toLowerCase();
  const b = submitted.toLowerCase();
  return DIGEST.test(a) && DIGEST.test(b) && a === b;
}
