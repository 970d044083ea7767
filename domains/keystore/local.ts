/**
 * Local key store: AES-256-GCM under a master key held by this process, for
 * installations without Vault.
 *
 * * Master secret: a 32-byte key file (KEYSTORE_KEY_FILE; raw bytes, 64 hex
 *   characters or base64; must not be readable by group or others) or a
 *   passphrase (KEYSTORE_PASSPHRASE) stretched with scrypt N=2^17, r=8, p=1
 *   over a random per-installation salt.
 * * Per purpose and per version, a data key = HKDF-SHA256(master, salt,
 *   `countersign/local-keystore/<purpose>/v<N>`). Rotation adds version N+1;
 *   versions below the minimum decryption version are refused. Rotation
 *   replaces the data keys, not the master secret: changing the passphrase or
 *   key file is a re-encryption onto a new installation.
 * * Ciphertext `local:v<N>:<base64(iv ‖ tag ‖ ct)>`: a fresh random 96-bit IV
 *   per encryption, 16-byte tag, AAD `v<N>|<purpose>:<subject id>` — so a
 *   ciphertext copied onto another subject, purpose or version fails.
 * * A key-check value (HMAC of a constant under a key derived from the master)
 *   is stored beside the salt, so a wrong passphrase is a clear
 *   `wrong_passphrase` error at start-up, never garbage at decryption time.
 *
 * State lives in `<KEYSTORE_DIR>/keystore.json` (mode 0600, directory 0700):
 * salt, KDF parameters, key-check value, and per purpose the latest and
 * minimum decryption versions. Every operation re-reads it when it changed on
 * disk, so a rotation or a raised minimum by `npm run keys:rotate` takes effect
 * in running API and worker processes at once. Losing this file (its salt)
 * loses every ciphertext: back it up with the database.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { assertPurpose, keyContext } from './format';
import { KeyStoreError, type AdminKeyStore, type KeyInfo, type KeyPurpose } from './types';

export interface LocalKeyStoreOptions {
  /** KEYSTORE_DIR: holds keystore.json (salt, key-check value, versions). */
  dir: string;
  /** KEYSTORE_PASSPHRASE (exactly one of passphrase and keyFile). */
  passphrase?: string;
  /** KEYSTORE_KEY_FILE */
  keyFile?: string;
}

export type LocalKeyStore = AdminKeyStore;

/** scrypt cost for new installations; 128·N·r = 128 MiB of memory, hence maxmem. */
export const LOCAL_SCRYPT = { N: 2 ** 17, r: 8, p: 1, maxmem: 256 * 1024 * 1024 } as const;
/** Refuse metadata asking for less: an attacker who can write the file must not weaken the KDF. */
const MIN_SCRYPT_N = 2 ** 17;

const META_FILE = 'keystore.json';
const LOCK_FILE = 'keystore.lock';
const FORMAT = 'countersign-local-keystore';
const CHECK_CONSTANT = 'countersign local key store key-check v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const LOCAL_CIPHERTEXT = /^local:v([1-9]\d{0,8}):([A-Za-z0-9+/]+={0,2})$/;

const versionsSchema = z.object({ latest: z.number().int().min(1), min_decryption: z.number().int().min(1) }).refine((v) => v.min_decryption <= v.latest);
const metaSchema = z.object({
  format: z.literal(FORMAT),
  version: z.literal(1),
  source: z.enum(['passphrase', 'key_file']),
  kdf: z.object({ name: z.literal('scrypt'), N: z.number().int().min(MIN_SCRYPT_N).max(2 ** 22), r: z.number().int().min(8).max(32), p: z.number().int().min(1).max(16) }).optional(),
  salt: z.string().regex(/^[A-Za-z0-9+/]{43}=$/),
  check: z.string().regex(/^[A-Za-z0-9+/]{43}=$/),
  // `history` came later: an installation made before it starts that purpose at version 1.
  keys: z.object({ wallet: versionsSchema, mfa: versionsSchema, webhook: versionsSchema, history: versionsSchema.default({ latest: 1, min_decryption: 1 }) }),
  created_at: z.string(),
  updated_at: z.string(),
});
type Meta = z.infer<typeof metaSchema>;

function scrypt(password: Buffer, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(password, salt, 32, { ...params, maxmem: Math.max(LOCAL_SCRYPT.maxmem, 256 * params.N * params.r) }, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

function hkdf(master: Buffer, salt: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master, salt, info, 32));
}

function checkValue(master: Buffer, salt: Buffer): Buffer {
  const key = hkdf(master, salt, 'countersign/local-keystore/key-check');
  try {
    return createHmac('sha256', key).update(CHECK_CONSTANT).digest();
  } finally {
    key.fill(0);
  }
}

function aad(version: number, context: string): Buffer {
  return Buffer.from(`v${version}|${context}`, 'utf8');
}

/** Writes 32 random bytes to a new file, mode 0600 (fails if the file exists). */
export async function generateKeyFile(file: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  try {
    await fs.writeFile(file, key, { mode: 0o600, flag: 'wx' });
  } finally {
    key.fill(0);
  }
}

/** Reads a key file: exactly 32 bytes raw, or 64 hex characters, or base64 of 32 bytes; never group/other readable. */
async function readKeyFile(file: string): Promise<Buffer> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch {
    throw new KeyStoreError('unavailable', 'key store key file (KEYSTORE_KEY_FILE) cannot be read');
  }
  if (!stat.isFile()) throw new KeyStoreError('unavailable', 'key store key file (KEYSTORE_KEY_FILE) is not a regular file');
  if ((stat.mode & 0o077) !== 0) {
    throw new KeyStoreError('forbidden', `key store key file (KEYSTORE_KEY_FILE) is accessible by group or others (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it`);
  }
  const raw = await fs.readFile(file);
  try {
    if (raw.length === 32) return Buffer.from(raw);
    const text = raw.toString('latin1').trim();
    if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
    if (/^[A-Za-z0-9+/]{43}=$/.test(text)) return Buffer.from(text, 'base64');
    throw new KeyStoreError('wrong_passphrase', 'key store key file (KEYSTORE_KEY_FILE) must hold exactly 32 bytes (raw, 64 hex characters or base64)');
  } finally {
    raw.fill(0);
  }
}

async function readMeta(file: string): Promise<Meta | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KeyStoreError('unavailable', 'key store metadata (keystore.json) cannot be read');
  }
  try {
    return metaSchema.parse(JSON.parse(text));
  } catch {
    throw new KeyStoreError('unavailable', 'key store metadata (keystore.json) is malformed');
  }
}

async function writeFileDurably(file: string, content: string): Promise<void> {
  const handle = await fs.open(file, 'wx', 0o600);
  try {
    await handle.writeFile(content, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function createLocalKeyStore(options: LocalKeyStoreOptions): Promise<LocalKeyStore> {
  const hasPassphrase = options.passphrase !== undefined && options.passphrase !== '';
  const hasKeyFile = options.keyFile !== undefined && options.keyFile !== '';
  if (hasPassphrase === hasKeyFile) throw new TypeError('the local key store needs exactly one of KEYSTORE_PASSPHRASE and KEYSTORE_KEY_FILE');
  const source: Meta['source'] = hasPassphrase ? 'passphrase' : 'key_file';
  const dir = path.resolve(options.dir);
  const metaFile = path.join(dir, META_FILE);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });

  const secret = hasKeyFile ? await readKeyFile(options.keyFile!) : Buffer.from(options.passphrase!.normalize('NFC'), 'utf8');
  let master: Buffer;
  let salt: Buffer;
  let meta: Meta;
  try {
    const existing = await readMeta(metaFile);
    if (existing) {
      if (existing.source !== source) {
        throw new KeyStoreError(
          'wrong_passphrase',
          existing.source === 'passphrase'
            ? 'this key store was created with a passphrase (KEYSTORE_PASSPHRASE), but a key file was given'
            : 'this key store was created with a key file (KEYSTORE_KEY_FILE), but a passphrase was given',
        );
      }
      salt = Buffer.from(existing.salt, 'base64');
      master = source === 'passphrase' ? await scrypt(secret, salt, existing.kdf ?? LOCAL_SCRYPT) : Buffer.from(secret);
      const expected = Buffer.from(existing.check, 'base64');
      const actual = checkValue(master, salt);
      if (!timingSafeEqual(expected, actual)) {
        master.fill(0);
        throw new KeyStoreError(
          'wrong_passphrase',
          source === 'passphrase'
            ? 'wrong key store passphrase: KEYSTORE_PASSPHRASE does not match this installation (key-check value differs)'
            : 'wrong key store key file: KEYSTORE_KEY_FILE does not match this installation (key-check value differs)',
        );
      }
      meta = existing;
    } else {
      // New installation. Concurrent first starts (API and worker) race here:
      // each writes a temporary file and links it into place; link fails if
      // another process won, and then we open the winner's installation instead.
      salt = randomBytes(32);
      const kdf = { name: 'scrypt' as const, N: LOCAL_SCRYPT.N, r: LOCAL_SCRYPT.r, p: LOCAL_SCRYPT.p };
      master = source === 'passphrase' ? await scrypt(secret, salt, kdf) : Buffer.from(secret);
      const now = new Date().toISOString();
      const fresh: Meta = {
        format: FORMAT,
        version: 1,
        source,
        ...(source === 'passphrase' ? { kdf } : {}),
        salt: salt.toString('base64'),
        check: checkValue(master, salt).toString('base64'),
        keys: { wallet: { latest: 1, min_decryption: 1 }, mfa: { latest: 1, min_decryption: 1 }, webhook: { latest: 1, min_decryption: 1 }, history: { latest: 1, min_decryption: 1 } },
        created_at: now,
        updated_at: now,
      };
      const temporary = `${metaFile}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFileDurably(temporary, `${JSON.stringify(fresh, null, 2)}\n`);
      try {
        await fs.link(temporary, metaFile);
        meta = fresh;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new KeyStoreError('unavailable', 'key store metadata (keystore.json) cannot be written');
        master.fill(0);
        await fs.unlink(temporary).catch(() => undefined);
        return createLocalKeyStore(options);
      } finally {
        await fs.unlink(temporary).catch(() => undefined);
      }
    }
  } finally {
    secret.fill(0);
  }
  return openStore({ dir, metaFile, master, salt, meta });
}

interface OpenState {
  dir: string;
  metaFile: string;
  master: Buffer;
  salt: Buffer;
  meta: Meta;
}

function openStore(state: OpenState): LocalKeyStore {
  const { dir, metaFile, master, salt } = state;
  let meta = state.meta;
  let seen = '';
  let closed = false;
  const dataKeys = new Map<string, Buffer>();

  function dataKey(purpose: KeyPurpose, version: number): Buffer {
    const id = `${purpose}/v${version}`;
    let key = dataKeys.get(id);
    if (!key) {
      key = hkdf(master, salt, `countersign/local-keystore/${id}`);
      dataKeys.set(id, key);
    }
    return key;
  }

  /** Re-reads keystore.json when it changed on disk (another process rotated or raised the minimum). */
  async function refresh(): Promise<void> {
    if (closed) throw new KeyStoreError('unavailable', 'key store is closed');
    let stamp: string;
    try {
      const stat = await fs.stat(metaFile);
      stamp = `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
    } catch {
      throw new KeyStoreError('unavailable', 'key store metadata (keystore.json) cannot be read');
    }
    if (stamp === seen) return;
    const fresh = await readMeta(metaFile);
    if (!fresh) throw new KeyStoreError('unavailable', 'key store metadata (keystore.json) cannot be read');
    // The salt and key-check value never change: if they did, the file was replaced under us.
    if (fresh.salt !== meta.salt || fresh.check !== meta.check) {
      throw new KeyStoreError('wrong_passphrase', 'key store metadata (keystore.json) was replaced by another installation');
    }
    meta = fresh;
    seen = stamp;
  }

  /** Read-modify-write of keystore.json under an exclusive lock file (operator operations only). */
  async function update(change: (current: Meta) => Meta): Promise<Meta> {
    const lock = path.join(dir, LOCK_FILE);
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await (await fs.open(lock, 'wx', 0o600)).close();
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new KeyStoreError('unavailable', 'key store lock (keystore.lock) cannot be created');
        if (Date.now() > deadline) throw new KeyStoreError('unavailable', `key store is locked by another operation (remove ${lock} if no rotation is running)`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    try {
      seen = '';
      await refresh();
      const next = { ...change(meta), updated_at: new Date().toISOString() };
      const temporary = `${metaFile}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFileDurably(temporary, `${JSON.stringify(metaSchema.parse(next), null, 2)}\n`);
      await fs.rename(temporary, metaFile);
      seen = '';
      await refresh();
      return meta;
    } finally {
      await fs.unlink(lock).catch(() => undefined);
    }
  }

  const info = (purpose: KeyPurpose): KeyInfo => ({ purpose, latestVersion: meta.keys[purpose].latest, minDecryptionVersion: meta.keys[purpose].min_decryption });

  async function encrypt(purpose: KeyPurpose, subjectId: string, plaintext: Buffer): Promise<string> {
    const context = keyContext(purpose, subjectId);
    if (!Buffer.isBuffer(plaintext)) throw new TypeError('plaintext must be a Buffer');
    await refresh();
    const version = meta.keys[purpose].latest;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', dataKey(purpose, version), iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(version, context));
    const body = Buffer.concat([iv, Buffer.alloc(TAG_BYTES), cipher.update(plaintext), cipher.final()]);
    cipher.getAuthTag().copy(body, IV_BYTES);
    return `local:v${version}:${body.toString('base64')}`;
  }

  async function decrypt(purpose: KeyPurpose, subjectId: string, ciphertext: string): Promise<Buffer> {
    const context = keyContext(purpose, subjectId);
    const match = typeof ciphertext === 'string' ? LOCAL_CIPHERTEXT.exec(ciphertext) : null;
    if (!match) throw new KeyStoreError('decrypt_failed', `not a local key store ciphertext (${purpose})`);
    const version = Number(match[1]);
    const body = Buffer.from(match[2]!, 'base64');
    if (body.length < IV_BYTES + TAG_BYTES) throw new KeyStoreError('decrypt_failed', `ciphertext is truncated (${purpose})`);
    await refresh();
    const versions = meta.keys[purpose];
    if (version < versions.min_decryption) {
      throw new KeyStoreError('decrypt_failed', `ciphertext version is below the minimum decryption version (decrypt ${purpose} keys)`);
    }
    if (version > versions.latest) throw new KeyStoreError('decrypt_failed', `ciphertext names an unknown key version (decrypt ${purpose} keys)`);
    const decipher = createDecipheriv('aes-256-gcm', dataKey(purpose, version), body.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(version, context));
    decipher.setAuthTag(body.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    const head = decipher.update(body.subarray(IV_BYTES + TAG_BYTES));
    let tail: Buffer;
    try {
      tail = decipher.final();
    } catch {
      // Unauthenticated output must never be used: wipe it.
      head.fill(0);
      throw new KeyStoreError('decrypt_failed', `ciphertext does not decrypt for this subject (decrypt ${purpose} keys)`);
    }
    const plaintext = Buffer.concat([head, tail]);
    head.fill(0);
    tail.fill(0);
    return plaintext;
  }

  return {
    describe: () => ({ kind: 'local' }),
    encrypt,
    decrypt,

    async rewrap(purpose, subjectId, ciphertext) {
      // Unlike Vault (transit/rewrap), the local store necessarily decrypts and
      // re-encrypts in this process; the plaintext is zeroed straight after.
      const plaintext = await decrypt(purpose, subjectId, ciphertext);
      try {
        return await encrypt(purpose, subjectId, plaintext);
      } finally {
        plaintext.fill(0);
      }
    },

    async ping() {
      await refresh();
    },

    async readKeyInfo(purpose) {
      assertPurpose(purpose);
      await refresh();
      return info(purpose);
    },

    async rotateKey(purpose) {
      assertPurpose(purpose);
      await update((current) => ({
        ...current,
        keys: { ...current.keys, [purpose]: { ...current.keys[purpose], latest: current.keys[purpose].latest + 1 } },
      }));
      return info(purpose);
    },

    async setMinDecryptionVersion(purpose, version) {
      assertPurpose(purpose);
      if (!Number.isInteger(version) || version < 1) throw new TypeError('minimum decryption version must be a positive integer');
      await update((current) => {
        if (version > current.keys[purpose].latest) throw new TypeError('minimum decryption version cannot exceed the latest key version');
        return { ...current, keys: { ...current.keys, [purpose]: { ...current.keys[purpose], min_decryption: version } } };
      });
      return info(purpose);
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const key of dataKeys.values()) key.fill(0);
      dataKeys.clear();
      master.fill(0);
    },
  };
}
