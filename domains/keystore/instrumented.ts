/**
 * Key store calls timed into `countersign_keystore_duration_seconds` (by
 * operation, purpose, outcome). Only the timing is added: arguments and
 * results pass through untouched, and nothing about them is recorded.
 */
import { keystoreDuration, timed } from '../../lib/metrics';
import type { ClosableKeyStore } from './types';

export function instrumentKeyStore<T extends ClosableKeyStore>(store: T): T {
  const wrapped: ClosableKeyStore = {
    encrypt: (purpose, subjectId, plaintext) => timed(keystoreDuration, { operation: 'encrypt', purpose }, () => store.encrypt(purpose, subjectId, plaintext)),
    decrypt: (purpose, subjectId, ciphertext) => timed(keystoreDuration, { operation: 'decrypt', purpose }, () => store.decrypt(purpose, subjectId, ciphertext)),
    ping: () => timed(keystoreDuration, { operation: 'ping', purpose: 'none' }, () => store.ping()),
    describe: () => store.describe(),
    close: () => store.close(),
  };
  if (store.rewrap) {
    const rewrap = store.rewrap.bind(store);
    wrapped.rewrap = (purpose, subjectId, ciphertext) => timed(keystoreDuration, { operation: 'rewrap', purpose }, () => rewrap(purpose, subjectId, ciphertext));
  }
  return Object.assign(Object.create(store) as T, wrapped);
}
