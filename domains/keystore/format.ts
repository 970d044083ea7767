/** Pure helpers shared by both key stores: contexts, ciphertext versions. */
import { KEY_PURPOSES, type KeyPurpose } from './types';

const SUBJECT_ID = /^[\x21-\x7e]{1,256}$/;
const CIPHERTEXT_VERSION = /^(vault|local):v([1-9]\d{0,8}):/;

export function assertPurpose(purpose: unknown): asserts purpose is KeyPurpose {
  if (!KEY_PURPOSES.includes(purpose as KeyPurpose)) throw new TypeError('unknown key purpose');
}

/**
 * The context bound into every ciphertext: `wallet:<id>`, `mfa:<user id>`,
 * `webhook:<id>`, `history:<data key id>`. The purpose is a fixed prefix, so two different
 * (purpose, subject) pairs never yield the same context.
 */
export function keyContext(purpose: KeyPurpose, subjectId: string): string {
  assertPurpose(purpose);
  if (typeof subjectId !== 'string' || !SUBJECT_ID.test(subjectId)) {
    throw new TypeError('subject id must be 1-256 printable ASCII characters');
  }
  return `${purpose}:${subjectId}`;
}

/** `vault:v3:…` → { kind: 'vault', version: 3 }; anything else → undefined. */
export function parseCiphertextVersion(ciphertext: string): { kind: 'vault' | 'local'; version: number } | undefined {
  const match = CIPHERTEXT_VERSION.exec(ciphertext);
  if (!match) return undefined;
  return { kind: match[1] as 'vault' | 'local', version: Number(match[2]) };
}
