export { createAuditLog, verifyChain, type AuditLogDeps } from './service';
export { GENESIS_HMAC, canonicalJson, canonicalRow, chainHmac } from './chain';
export type { AuditActorType, AuditEvent, AuditLog, ChainVerification } from './types';
