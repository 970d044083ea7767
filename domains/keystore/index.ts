/**
 * The key store, chosen by configuration (KEYSTORE=vault|local). Services
 * depend on the `KeyStore` interface, usually as `Pick<KeyStore, 'encrypt'>`
 * (API) or `Pick<KeyStore, 'decrypt'>` (worker); what a process may actually
 * do with Vault is decided by its credential's policy.
 */
import { readFileSync } from 'node:fs';
import type { Config } from '../../config/env';
import type { Logger } from '../../lib/logger';
import { createLocalKeyStore } from './local';
import type { AdminKeyStore, ClosableKeyStore } from './types';
import { createVaultKeyStore, type VaultKeyStoreOptions } from './vault';

export * from './types';
export { keyContext, parseCiphertextVersion } from './format';
export { createVaultKeyStore, classifyVaultError, type VaultKeyStoreOptions, type VaultKeyStore } from './vault';
export { createLocalKeyStore, generateKeyFile, LOCAL_SCRYPT, type LocalKeyStoreOptions, type LocalKeyStore } from './local';

export type KeyStoreConfig = Pick<
  Config,
  | 'KEYSTORE'
  | 'VAULT_ADDR'
  | 'VAULT_TOKEN'
  | 'VAULT_ROLE_ID'
  | 'VAULT_SECRET_ID'
  | 'VAULT_TRANSIT_MOUNT'
  | 'VAULT_WALLET_KEY'
  | 'VAULT_MFA_KEY'
  | 'VAULT_WEBHOOK_KEY'
  | 'VAULT_HISTORY_KEY'
  | 'VAULT_TIMEOUT_MS'
  | 'VAULT_CACERT'
  | 'KEYSTORE_PASSPHRASE'
  | 'KEYSTORE_KEY_FILE'
  | 'KEYSTORE_DIR'
>;

export interface KeyStoreDeps {
  logger?: Pick<Logger, 'warn'>;
}

export function vaultOptionsFromConfig(config: KeyStoreConfig, deps: KeyStoreDeps = {}): VaultKeyStoreOptions {
  if (!config.VAULT_ADDR) throw new TypeError('VAULT_ADDR is required when KEYSTORE=vault');
  return {
    addr: config.VAULT_ADDR,
    ...(config.VAULT_ROLE_ID !== undefined || config.VAULT_SECRET_ID !== undefined
      ? { roleId: config.VAULT_ROLE_ID, secretId: config.VAULT_SECRET_ID }
      : { token: config.VAULT_TOKEN }),
    mount: config.VAULT_TRANSIT_MOUNT,
    keys: { wallet: config.VAULT_WALLET_KEY, mfa: config.VAULT_MFA_KEY, webhook: config.VAULT_WEBHOOK_KEY, history: config.VAULT_HISTORY_KEY },
    timeoutMs: config.VAULT_TIMEOUT_MS,
    // Read once at start-up: a missing file stops the process here, not at the first request.
    ...(config.VAULT_CACERT ? { ca: readFileSync(config.VAULT_CACERT, 'utf8') } : {}),
    ...(deps.logger ? { logger: deps.logger } : {}),
  };
}

/**
 * Opens the configured key store. Async because the local store derives its
 * master key (scrypt) and verifies the key-check value here, so a wrong
 * passphrase stops start-up with a clear error. The Vault store connects
 * lazily; call `ping()` for readiness.
 */
export async function createKeyStore(config: KeyStoreConfig, deps: KeyStoreDeps = {}): Promise<ClosableKeyStore> {
  return createKeyAdmin(config, deps);
}

/**
 * The same store with the operator operations (rotate, rewrap, minimum
 * decryption version) — for `npm run keys:rotate`. With Vault they succeed
 * only with an operator credential.
 */
export async function createKeyAdmin(config: KeyStoreConfig, deps: KeyStoreDeps = {}): Promise<AdminKeyStore> {
  if (config.KEYSTORE === 'vault') return createVaultKeyStore(vaultOptionsFromConfig(config, deps));
  return createLocalKeyStore({
    dir: config.KEYSTORE_DIR,
    ...(config.KEYSTORE_PASSPHRASE ? { passphrase: config.KEYSTORE_PASSPHRASE } : {}),
    ...(config.KEYSTORE_KEY_FILE ? { keyFile: config.KEYSTORE_KEY_FILE } : {}),
  });
}
export { RotationError, rotateKeys, type RotateOptions } from './rotation';
export { instrumentKeyStore } from './instrumented';
