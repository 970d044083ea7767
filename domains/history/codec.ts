/**
 * The Temporal payload codec: every payload the API's client and the worker
 * send to Temporal (workflow inputs and results, Update arguments and results,
 * activity inputs and results, failures' details, memo and summaries) is
 * encrypted with AES-256-GCM before it reaches Temporal's store.
 *
 *   metadata: encoding = binary/encrypted, encryption-key-id = <data key id>,
 *             encryption-cipher = AES-256-GCM
 *   data:     IV (12 bytes) ‖ ciphertext ‖ tag (16 bytes) of the original Payload (protobuf),
 *             authenticated data `countersign-history-v1|<key id>`
 *
 * Decoding passes through every payload that is not marked encrypted: workflows
 * started before the codec existed (and the committed replay fixtures) keep
 * running. The key id in the metadata picks the data key, so histories written
 * before a key rotation stay readable.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';

const { Payload: PayloadProto } = proto.temporal.api.common.v1;

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const CIPHER_METADATA = 'encryption-cipher';
const CIPHER = 'AES-256-GCM';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface HistoryKey {
  id: string;
  /** 32 bytes. */
  key: Buffer;
}

/** Where the codec finds its keys (domains/history/keyring.ts). */
export interface HistoryKeySource {
  /** The key new payloads are encrypted with. */
  current(): Promise<HistoryKey>;
  /** A key by id, for payloads written under it; undefined if there is no such key. */
  byId(id: string): Promise<HistoryKey | undefined>;
}

export class HistoryCodecError extends Error {
  override name = 'HistoryCodecError';
}

const utf8 = (text: string) => new TextEncoder().encode(text);
const text = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);
const aad = (keyId: string) => Buffer.from(`countersign-history-v1|${keyId}`, 'utf8');

export function isEncrypted(payload: Payload): boolean {
  return text(payload.metadata?.encoding) === ENCRYPTED_ENCODING;
}

export function createHistoryCodec(keys: HistoryKeySource): PayloadCodec {
  return {
    async encode(payloads) {
      if (payloads.length === 0) return payloads;
      const { id, key } = await keys.current();
      return payloads.map((payload) => encryptPayload(payload, id, key));
    },
    async decode(payloads) {
      return Promise.all(payloads.map((payload) => decryptPayload(payload, keys)));
    },
  };
}

function encryptPayload(payload: Payload, keyId: string, key: Buffer): Payload {
  // Encrypting twice would be harmless but useless (and hides the key id that matters).
  if (isEncrypted(payload)) return payload;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(keyId));
  const body = Buffer.concat([cipher.update(PayloadProto.encode(payload).finish()), cipher.final()]);
  return {
    metadata: { encoding: utf8(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: utf8(keyId), [CIPHER_METADATA]: utf8(CIPHER) },
    data: Buffer.concat([iv, body, cipher.getAuthTag()]),
  };
}

async function decryptPayload(payload: Payload, keys: HistoryKeySource): Promise<Payload> {
  // Written before the codec (or by a client without it): readable as it is.
  if (!isEncrypted(payload)) return payload;
  const keyId = text(payload.metadata?.[KEY_ID_METADATA]);
  if (!keyId) throw new HistoryCodecError('an encrypted payload names no key');
  const found = await keys.byId(keyId);
  if (!found) throw new HistoryCodecError(`no history key ${keyId.slice(0, 64)}`);
  const data = Buffer.from(payload.data ?? new Uint8Array());
  if (data.length < IV_BYTES + TAG_BYTES) throw new HistoryCodecError('an encrypted payload is truncated');
  const decipher = createDecipheriv('aes-256-gcm', found.key, data.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
  decipher.setAAD(aad(keyId));
  decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
  let plain: Buffer;
  try {
    plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new HistoryCodecError(`an encrypted payload does not decrypt with history key ${keyId.slice(0, 64)}`);
  }
  const decoded = PayloadProto.decode(plain);
  return { metadata: decoded.metadata, data: decoded.data };
}

/** A fixed set of keys, the first one current: replay fixtures and unit tests. */
export function staticKeySource(keys: readonly HistoryKey[]): HistoryKeySource {
  if (keys.length === 0) throw new TypeError('at least one key');
  return {
    current: async () => keys[0]!,
    byId: async (id) => keys.find((k) => k.id === id),
  };
}
