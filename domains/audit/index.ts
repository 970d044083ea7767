export { createAuditLog, verifyChain, type AuditLogDeps } from './service';
export { GENESIS_HMAC, canonicalJson, canonicalRow, chainHmac } from './chain';
export { requestOrigin, type AuditActorType, type AuditEvent, type AuditLog, type ChainVerification, type RequestMeta } from './types';
export { wellFormed } from './chain';
