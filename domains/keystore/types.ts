/**
 * The key store: envelope encryption of wallet keys, MFA secrets, webhook
 * secrets and the Temporal history data keys, by Vault/OpenBao transit or by a
 * local AES-256-GCM master key.
 *
 * Security invariants kept by every implementation:
 * * Each purpose has its own key and its own context prefix (`wallet:<id>`,
 *   `mfa:<user id>`, `webhook:<id>`), bound into the authenticated data, so a
 *   ciphertext copied onto another subject (or another purpose) fails to decrypt.
 * * A failure is always a `KeyStoreError`: a machine code and a fixed, safe
 *   message. It never carries the underlying error as `cause` — node-vault's
 *   axios errors hold the token (request headers) and the plaintext (request
 *   body), and whatever an error carries ends up in logs and Temporal failures.
 */

/**
 * `history` wraps the data keys of the Temporal payload codec (domains/history): the API and
 * the worker may both encrypt and decrypt with it. It is not a wallet key and opens none.
 */
export type KeyPurpose = 'wallet' | 'mfa' | 'webhook' | 'history';

export const KEY_PURPOSES: readonly KeyPurpose[] = ['wallet', 'mfa', 'webhook', 'history'];

export interface KeyStore {
  /** Encrypts under the purpose's latest key version, bound to `<purpose>:<subjectId>`. The caller owns (and zeroes) `plaintext`. */
  encrypt(purpose: KeyPurpose, subjectId: string, plaintext: Buffer): Promise<string>;
  /** The caller must zero the returned buffer once done with it. */
  decrypt(purpose: KeyPurpose, subjectId: string, ciphertext: string): Promise<Buffer>;
  /** Re-encrypts under the latest key version (Vault: transit rewrap, the plaintext never leaves Vault). */
  rewrap?(purpose: KeyPurpose, subjectId: string, ciphertext: string): Promise<string>;
  /** Readiness: resolves when the store can serve requests, else throws a KeyStoreError. */
  ping(): Promise<void>;
  describe(): { kind: 'vault' | 'local' };
}

/** A key's versions, as Vault's `transit/keys/<name>` reports them (the local store fills the first three). */
export interface KeyInfo {
  purpose: KeyPurpose;
  latestVersion: number;
  minDecryptionVersion: number;
  /** Vault only: the key's name and the settings Countersign requires of it. */
  name?: string;
  type?: string;
  derived?: boolean;
  exportable?: boolean;
  allowPlaintextBackup?: boolean;
  deletionAllowed?: boolean;
}

/** Operator operations (Vault: the operator policy — rotate, config, rewrap, read). */
export interface KeyAdmin {
  rotateKey(purpose: KeyPurpose): Promise<KeyInfo>;
  setMinDecryptionVersion(purpose: KeyPurpose, version: number): Promise<KeyInfo>;
  readKeyInfo(purpose: KeyPurpose): Promise<KeyInfo>;
  rewrap(purpose: KeyPurpose, subjectId: string, ciphertext: string): Promise<string>;
}

/** What the factories return: a key store that can also be closed (timers, cached key material). */
export interface ClosableKeyStore extends KeyStore {
  close(): Promise<void>;
}

export type AdminKeyStore = ClosableKeyStore & KeyAdmin;

export type KeyStoreErrorCode = 'unavailable' | 'forbidden' | 'decrypt_failed' | 'wrong_passphrase' | 'sealed';

const RETRYABLE: Record<KeyStoreErrorCode, boolean> = {
  unavailable: true,
  sealed: true,
  forbidden: false,
  decrypt_failed: false,
  wrong_passphrase: false,
};

/**
 * The only error a key store throws for a runtime failure (programming errors
 * such as an empty subject id are TypeErrors). Deliberately has no `cause`:
 * see the file comment. `status` is Vault's HTTP status when there was one.
 */
export class KeyStoreError extends Error {
  override name = 'KeyStoreError';
  readonly retryable: boolean;

  constructor(
    readonly code: KeyStoreErrorCode,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.retryable = RETRYABLE[code];
  }

  toJSON(): { name: string; code: KeyStoreErrorCode; message: string; status?: number; retryable: boolean } {
    return { name: this.name, code: this.code, message: this.message, ...(this.status === undefined ? {} : { status: this.status }), retryable: this.retryable };
  }
}

export function isKeyStoreError(error: unknown): error is KeyStoreError {
  return error instanceof KeyStoreError;
}
