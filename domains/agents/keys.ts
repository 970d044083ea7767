/**
 * Agent API keys: `cs_<key_id>_<secret>`.
 *
 * * key_id: 96 random bits, 24 lowercase hex characters — finds the row, is
 *   not secret (it may appear in logs and the audit trail).
 * * secret: 256 random bits, base64url (43 characters) — shown once, stored
 *   only as HMAC-SHA256(API_KEY_HMAC_KEY, secret), compared in constant time.
 *   A database dump alone cannot be turned back into working keys.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** API keys are recognisable by their prefix (`cs_<id>_<secret>`); anything else in a Bearer header is a JWT. */
export const API_KEY_PREFIX = 'cs_';

const KEY_ID_BYTES = 12;
const SECRET_BYTES = 32;
export const API_KEY_PATTERN = /^cs_([0-9a-f]{24})_([A-Za-z0-9_-]{43})$/;

export interface NewApiKey {
  apiKey: string;
  keyId: string;
  secret: string;
}

export function generateApiKey(): NewApiKey {
  const keyId = randomBytes(KEY_ID_BYTES).toString('hex');
  const secret = randomBytes(SECRET_BYTES).toString('base64url');
  return { apiKey: `${API_KEY_PREFIX}${keyId}_${secret}`, keyId, secret };
}

export function parseApiKey(apiKey: string): { keyId: string; secret: string } | undefined {
  const match = API_KEY_PATTERN.exec(apiKey);
  return match ? { keyId: match[1]!, secret: match[2]! } : undefined;
}

export function digestSecret(hmacKey: string, secret: string): Buffer {
  return createHmac('sha256', Buffer.from(hmacKey, 'utf8')).update(secret, 'utf8').digest();
}

export function digestMatches(stored: Buffer, presented: Buffer): boolean {
  return stored.length === presented.length && timingSafeEqual(stored, presented);
}
