/**
 * Key store on Vault/OpenBao transit (through node-vault).
 *
 * Three derived `aes256-gcm96` keys, one per purpose; the base64 context
 * `<purpose>:<subject id>` selects the derived key, so a ciphertext moved to
 * another subject does not decrypt. Ciphertexts stay in Vault's `vault:vN:…`
 * form. What a credential may do is decided by Vault policy, not here: the API
 * token can only encrypt wallet keys, the worker token can only decrypt them,
 * the operator token can rotate, configure, read and rewrap — never decrypt.
 *
 * node-vault is axios-based, and axios' errors carry the request: the
 * `X-Vault-Token` header and the JSON body with the plaintext; its redirect
 * layer (follow-redirects) even prints the headers, token included, whenever
 * DEBUG is set. So node-vault keeps its API, auth and response handling, but
 * its HTTP goes through `fetchTransport` below (node-vault's documented
 * `request-promise` hook): Node's fetch, a hard timeout, no redirects
 * followed, and failures reduced to a bare error code before anything can
 * hold them. Every call also goes through `call()`, which turns any failure
 * into a KeyStoreError without a cause, and never lets a rejection escape
 * unhandled, even one that settles after our deadline. node-vault's own
 * `debug` output (which prints request bodies) is switched off.
 */
import vaultFactory from 'node-vault';
import { Agent } from 'undici';
import type { Logger } from '../../lib/logger';
import { assertPurpose, keyContext, parseCiphertextVersion } from './format';
import { KeyStoreError, type AdminKeyStore, type KeyInfo, type KeyPurpose } from './types';

export interface VaultKeyStoreOptions {
  addr: string;
  /** Token authentication (a periodic/renewable token is renewed in the background). */
  token?: string;
  /** AppRole authentication: logs in on first use, renews the token, logs in again when it expires. */
  roleId?: string;
  secretId?: string;
  /** Where AppRole is mounted; default `approle`. */
  approleMount?: string;
  /** The transit mount, e.g. `transit`. */
  mount: string;
  keys: Record<KeyPurpose, string>;
  /** Bound on every request to Vault (VAULT_TIMEOUT_MS). */
  timeoutMs: number;
  /** PEM of the CA that signed Vault's certificate (VAULT_CACERT), trusted for these requests only; default: the system roots. */
  ca?: string;
  logger?: Pick<Logger, 'warn'>;
}

export type VaultKeyStore = AdminKeyStore;

export type VaultOperation = 'encrypt' | 'decrypt' | 'rewrap' | 'rotate' | 'configure' | 'read' | 'login' | 'health';

const PATH_SEGMENT = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
const VAULT_CIPHERTEXT = /^vault:v[1-9]\d{0,8}:[A-Za-z0-9+/=]+$/;
const NETWORK_CODES = new Set(['ECONNREFUSED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ERR_SOCKET_CONNECTION_TIMEOUT', 'ERR_NETWORK']);
const TIMEOUT_CODES = new Set(['ECONNABORTED', 'ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ERR_CANCELED']);

/** Our own deadline fired (axios' timeout is per socket inactivity; this one bounds the whole call). */
class DeadlineExceeded extends Error {}

/**
 * Turns anything node-vault or axios throws into a KeyStoreError with a fixed
 * message. Vault's own error text is read only to pick a code, never copied.
 */
export function classifyVaultError(raw: unknown, operation: VaultOperation, purpose: KeyPurpose | undefined, timeoutMs: number): KeyStoreError {
  if (raw instanceof KeyStoreError) return raw;
  const what = purpose === undefined ? operation : `${operation} ${purpose} keys`;
  if (raw instanceof DeadlineExceeded) return new KeyStoreError('unavailable', `key store did not answer within ${timeoutMs} ms (${operation})`);

  const error = (typeof raw === 'object' && raw !== null ? raw : {}) as {
    code?: unknown;
    response?: { statusCode?: unknown; body?: { errors?: unknown } };
  };
  const status = typeof error.response?.statusCode === 'number' ? error.response.statusCode : undefined;
  if (status === undefined) {
    const code = typeof error.code === 'string' ? error.code : '';
    if (TIMEOUT_CODES.has(code)) return new KeyStoreError('unavailable', `key store did not answer within ${timeoutMs} ms (${operation})`);
    if (NETWORK_CODES.has(code)) return new KeyStoreError('unavailable', `key store is unreachable (${operation})`);
    return new KeyStoreError('unavailable', `key store request failed (${operation})`);
  }

  const errors = Array.isArray(error.response?.body?.errors) ? (error.response.body.errors as unknown[]).filter((e): e is string => typeof e === 'string') : [];
  const said = (pattern: RegExp) => errors.some((message) => pattern.test(message));
  if (status === 503 && said(/sealed/i)) return new KeyStoreError('sealed', 'key store is sealed', status);
  if (status === 403) {
    if (operation === 'login') return new KeyStoreError('forbidden', 'key store refused the AppRole login (check VAULT_ROLE_ID and VAULT_SECRET_ID)', status);
    return new KeyStoreError('forbidden', `key store credential may not ${what}`, status);
  }
  if (status === 400 && operation === 'login') return new KeyStoreError('forbidden', 'key store refused the AppRole login (check VAULT_ROLE_ID and VAULT_SECRET_ID)', status);
  if (status === 400 && (operation === 'decrypt' || operation === 'rewrap')) {
    if (said(/too old|disallowed by policy|min(imum)?[ _]decryption/i)) {
      return new KeyStoreError('decrypt_failed', `ciphertext version is below the minimum decryption version (${what})`, status);
    }
    return new KeyStoreError('decrypt_failed', `ciphertext does not decrypt for this subject (${what})`, status);
  }
  if (status === 404) return new KeyStoreError('unavailable', `key store has no such transit mount or key (${what})`, status);
  if (status === 400) return new KeyStoreError('unavailable', `key store rejected the request (${what}); check the transit key configuration`, status);
  if (status === 429 || status >= 500) return new KeyStoreError('unavailable', `key store is not serving requests (${what})`, status);
  return new KeyStoreError('unavailable', `key store request failed (${what})`, status);
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  // If the deadline wins, the request's own rejection lands later; swallow it
  // here, or Node would print it (token and all) as an unhandled rejection.
  promise.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DeadlineExceeded()), ms);
    timer.unref?.();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** What the transport rejects with: a code and nothing else (no request, no headers, no body). */
class TransportError extends Error {
  constructor(readonly code: string) {
    super(`key store transport failed (${code})`);
  }
}

interface TransportRequest {
  method: string;
  uri: string;
  headers?: Record<string, string>;
  json?: unknown;
  timeout?: number;
}

/**
 * node-vault's `request-promise` hook: `defaults()` returns the function it
 * calls with each request, expecting `{ statusCode, body, request: { path } }`.
 * With `ca`, TLS to Vault trusts that CA instead of the system roots (and nothing
 * else in the process does).
 */
export function fetchTransport(timeoutMs: number, ca?: string) {
  const dispatcher = ca === undefined ? undefined : new Agent({ connect: { ca } });
  const send = async (options: TransportRequest) => {
    const body = typeof options.json === 'object' && options.json !== null ? JSON.stringify(options.json) : undefined;
    let response: Response;
    let text: string;
    try {
      response = await fetch(options.uri, {
        method: options.method,
        headers: { accept: 'application/json', ...options.headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body }),
        // A redirect would carry the token to wherever it points; a standby's 307 is an error here.
        redirect: 'manual',
        signal: AbortSignal.timeout(options.timeout ?? timeoutMs),
        ...(dispatcher ? { dispatcher } : {}),
      });
      text = await response.text();
    } catch (error) {
      const cause = (error as { cause?: { code?: unknown } }).cause;
      const name = (error as { name?: unknown }).name;
      const code = name === 'TimeoutError' || name === 'AbortError' ? 'ETIMEDOUT' : typeof cause?.code === 'string' ? cause.code : 'ERR_NETWORK';
      throw new TransportError(code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' ? 'ETIMEDOUT' : code);
    }
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { statusCode: response.status, body: parsed, request: { path: new URL(options.uri).pathname } };
  };
  return { defaults: () => send };
}

function checkOptions(options: VaultKeyStoreOptions): void {
  const approle = options.roleId !== undefined || options.secretId !== undefined;
  if (approle && (!options.roleId || !options.secretId)) throw new TypeError('AppRole authentication needs both roleId and secretId');
  if (!approle && !options.token) throw new TypeError('Vault key store needs a token or an AppRole roleId + secretId');
  if (approle && options.token) throw new TypeError('give either a Vault token or AppRole credentials, not both');
  if (!PATH_SEGMENT.test(options.mount.replace(/^\/+|\/+$/g, ''))) throw new TypeError('invalid transit mount path');
  if (options.approleMount !== undefined && !PATH_SEGMENT.test(options.approleMount)) throw new TypeError('invalid AppRole mount path');
  for (const name of Object.values(options.keys)) if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new TypeError('invalid transit key name');
  if (!Number.isInteger(options.timeoutMs) || options.timeoutMs <= 0) throw new TypeError('timeoutMs must be a positive integer');
  new URL(options.addr); // throws TypeError on a malformed address
}

interface TransitKeyData {
  latest_version?: unknown;
  min_decryption_version?: unknown;
  type?: unknown;
  derived?: unknown;
  exportable?: unknown;
  allow_plaintext_backup?: unknown;
  deletion_allowed?: unknown;
}

export function createVaultKeyStore(options: VaultKeyStoreOptions): VaultKeyStore {
  checkOptions(options);
  const mount = options.mount.replace(/^\/+|\/+$/g, '');
  const timeoutMs = options.timeoutMs;
  const approle = options.roleId !== undefined ? { roleId: options.roleId, secretId: options.secretId!, mount: options.approleMount ?? 'approle' } : undefined;

  const client = vaultFactory({
    endpoint: options.addr,
    requestOptions: { timeout: timeoutMs },
    // Our transport instead of axios (see the file comment).
    'request-promise': fetchTransport(timeoutMs, options.ca),
    // node-vault's debug channel prints request bodies (plaintext) when DEBUG is set.
    debug: () => undefined,
  });
  // Set explicitly: node-vault would otherwise fall back to process.env.VAULT_TOKEN.
  client.token = options.token ?? '';

  let loggedIn = false;
  let login: Promise<void> | undefined;
  let renewalStarted = false;
  let closed = false;

  client.on('token:error:renew', () => {
    // Never pass the event's error on: it is node-vault's raw error.
    options.logger?.warn({ keystore: 'vault' }, 'key store token renewal failed; will log in again if needed');
    loggedIn = false;
  });
  client.on('token:expired', () => {
    loggedIn = false;
  });

  function startRenewal(ttlSeconds?: number): void {
    if (closed) return;
    if (ttlSeconds !== undefined) {
      if (ttlSeconds > 0) void client.startTokenRenewal({ ttl: ttlSeconds }).catch(() => undefined);
      return;
    }
    // A static token: renew it if it is renewable (lookup-self tells; a root token has no TTL).
    if (renewalStarted) return;
    renewalStarted = true;
    void withDeadline(client.startTokenRenewal(), timeoutMs).catch(() => undefined);
  }

  async function doLogin(): Promise<void> {
    if (!approle) return;
    // Callers arriving meanwhile wait for this login instead of using the old token.
    loggedIn = false;
    client.stopTokenRenewal();
    client.token = '';
    try {
      const result = (await withDeadline(
        client.approleLogin({ mount_point: approle.mount, role_id: approle.roleId, secret_id: approle.secretId }),
        timeoutMs,
      )) as { auth?: { client_token?: unknown; lease_duration?: unknown; renewable?: unknown } };
      if (typeof result.auth?.client_token !== 'string') throw new KeyStoreError('unavailable', 'key store AppRole login returned no token');
      client.token = result.auth.client_token;
      loggedIn = true;
      const ttl = typeof result.auth.lease_duration === 'number' ? result.auth.lease_duration : 0;
      if (result.auth.renewable === true) startRenewal(ttl);
    } catch (error) {
      throw classifyVaultError(error, 'login', undefined, timeoutMs);
    }
  }

  /** One login at a time, shared by concurrent callers. */
  function relogin(): Promise<void> {
    login ??= doLogin().finally(() => {
      login = undefined;
    });
    return login;
  }

  async function ensureAuth(): Promise<void> {
    if (closed) throw new KeyStoreError('unavailable', 'key store is closed');
    if (approle) {
      if (!loggedIn) await relogin();
    } else {
      startRenewal();
    }
  }

  /** Every Vault request goes through here: auth, deadline, safe errors, one re-login on 403 for AppRole. */
  async function call<T>(operation: VaultOperation, purpose: KeyPurpose | undefined, request: () => Promise<T>): Promise<T> {
    await ensureAuth();
    const tokenUsed = client.token;
    try {
      return await withDeadline(request(), timeoutMs);
    } catch (raw) {
      const error = classifyVaultError(raw, operation, purpose, timeoutMs);
      // With AppRole a 403 may mean our token expired or was revoked: log in again once and retry.
      if (!(approle && error.code === 'forbidden')) throw error;
    }
    // Another caller may already have logged in again meanwhile; then just retry.
    if (client.token === tokenUsed) await relogin();
    try {
      return await withDeadline(request(), timeoutMs);
    } catch (raw) {
      throw classifyVaultError(raw, operation, purpose, timeoutMs);
    }
  }

  const keyName = (purpose: KeyPurpose) => {
    assertPurpose(purpose);
    return options.keys[purpose];
  };
  const context = (purpose: KeyPurpose, subjectId: string) => Buffer.from(keyContext(purpose, subjectId), 'utf8').toString('base64');

  function checkCiphertext(purpose: KeyPurpose, ciphertext: string): void {
    if (typeof ciphertext !== 'string' || !VAULT_CIPHERTEXT.test(ciphertext)) {
      throw new KeyStoreError('decrypt_failed', `not a Vault transit ciphertext (${purpose})`);
    }
  }

  function ciphertextFrom(result: unknown, operation: VaultOperation, purpose: KeyPurpose): string {
    const ciphertext = (result as { data?: { ciphertext?: unknown } } | undefined)?.data?.ciphertext;
    if (typeof ciphertext !== 'string' || parseCiphertextVersion(ciphertext)?.kind !== 'vault') {
      throw new KeyStoreError('unavailable', `key store returned no ciphertext (${operation} ${purpose} keys)`);
    }
    return ciphertext;
  }

  function keyInfoFrom(purpose: KeyPurpose, result: unknown): KeyInfo {
    const data = ((result as { data?: TransitKeyData } | undefined)?.data ?? {}) as TransitKeyData;
    if (typeof data.latest_version !== 'number' || typeof data.min_decryption_version !== 'number') {
      throw new KeyStoreError('unavailable', `key store returned no key versions (read ${purpose} keys)`);
    }
    return {
      purpose,
      name: options.keys[purpose],
      latestVersion: data.latest_version,
      minDecryptionVersion: data.min_decryption_version,
      ...(typeof data.type === 'string' ? { type: data.type } : {}),
      ...(typeof data.derived === 'boolean' ? { derived: data.derived } : {}),
      ...(typeof data.exportable === 'boolean' ? { exportable: data.exportable } : {}),
      ...(typeof data.allow_plaintext_backup === 'boolean' ? { allowPlaintextBackup: data.allow_plaintext_backup } : {}),
      ...(typeof data.deletion_allowed === 'boolean' ? { deletionAllowed: data.deletion_allowed } : {}),
    };
  }

  async function readKeyInfo(purpose: KeyPurpose): Promise<KeyInfo> {
    const name = keyName(purpose);
    return keyInfoFrom(purpose, await call('read', purpose, () => client.read(`${mount}/keys/${name}`)));
  }

  return {
    describe: () => ({ kind: 'vault' }),

    async encrypt(purpose, subjectId, plaintext) {
      const name = keyName(purpose);
      const body = { context: context(purpose, subjectId), plaintext: plaintext.toString('base64') };
      // The base64 copy is a string and cannot be zeroed; it lives only for this request.
      const result = await call('encrypt', purpose, () => client.write(`${mount}/encrypt/${name}`, body));
      return ciphertextFrom(result, 'encrypt', purpose);
    },

    async decrypt(purpose, subjectId, ciphertext) {
      const name = keyName(purpose);
      const body = { context: context(purpose, subjectId), ciphertext };
      checkCiphertext(purpose, ciphertext);
      const result = (await call('decrypt', purpose, () => client.write(`${mount}/decrypt/${name}`, body))) as { data?: { plaintext?: unknown } };
      const encoded = result?.data?.plaintext;
      if (typeof encoded !== 'string') throw new KeyStoreError('unavailable', `key store returned no plaintext (decrypt ${purpose} keys)`);
      return Buffer.from(encoded, 'base64');
    },

    async rewrap(purpose, subjectId, ciphertext) {
      const name = keyName(purpose);
      const body = { context: context(purpose, subjectId), ciphertext };
      checkCiphertext(purpose, ciphertext);
      // transit/rewrap: Vault decrypts and re-encrypts internally; the plaintext never leaves it.
      const result = await call('rewrap', purpose, () => client.write(`${mount}/rewrap/${name}`, body));
      return ciphertextFrom(result, 'rewrap', purpose);
    },

    async ping() {
      if (closed) throw new KeyStoreError('unavailable', 'key store is closed');
      let health: { initialized?: unknown; sealed?: unknown } | undefined;
      try {
        // node-vault resolves sys/health with its body whatever the status (503 sealed, 429 standby).
        health = (await withDeadline(client.health({ standbyok: true }), timeoutMs)) as typeof health;
      } catch (raw) {
        throw classifyVaultError(raw, 'health', undefined, timeoutMs);
      }
      if (health?.sealed === true) throw new KeyStoreError('sealed', 'key store is sealed');
      if (health?.initialized !== true) throw new KeyStoreError('unavailable', 'key store is not initialized');
      await ensureAuth();
    },

    readKeyInfo,

    async rotateKey(purpose) {
      const name = keyName(purpose);
      await call('rotate', purpose, () => client.write(`${mount}/keys/${name}/rotate`, {}));
      return readKeyInfo(purpose);
    },

    async setMinDecryptionVersion(purpose, version) {
      const name = keyName(purpose);
      if (!Number.isInteger(version) || version < 1) throw new TypeError('minimum decryption version must be a positive integer');
      await call('configure', purpose, () => client.write(`${mount}/keys/${name}/config`, { min_decryption_version: version }));
      return readKeyInfo(purpose);
    },

    async close() {
      closed = true;
      client.stopAllRenewals();
    },
  };
}
