/**
 * The payload codec's data keys, held in PostgreSQL (`history_keys`) wrapped by
 * the key store (purpose `history`): the API and the worker both unwrap them —
 * neither credential opens a wallet key through this. The newest key encrypts;
 * older keys stay for decoding. A process re-reads which key is newest at most
 * once a minute, so after `npm run history:rotate-key` every process switches
 * within that time, and any process decodes a payload under a newer key at once
 * (an unknown id is looked up).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '../../lib/db';
import type { KeyStore } from '../keystore';
import type { HistoryKey, HistoryKeySource } from './codec';

const TABLE = 'history_keys';
/** pg_advisory_xact_lock key for creating the first data key ('hist'). */
const FIRST_KEY_LOCK = 0x68697374;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface HistoryKeyringDeps {
  db: Db;
  keystore: Pick<KeyStore, 'encrypt' | 'decrypt'>;
  /** How often the newest key id is re-read (default 60 s). */
  refreshMs?: number;
  now?: () => number;
}

export interface HistoryKeyring extends HistoryKeySource {
  /** Creates the first data key if there is none (every start; concurrent starts create one). */
  ensure(): Promise<void>;
  /** Forgets cached plaintext keys. */
  close(): void;
}

interface KeyRow {
  id: string;
  key_ciphertext: string;
}

export function createHistoryKeyring(deps: HistoryKeyringDeps): HistoryKeyring {
  const refreshMs = deps.refreshMs ?? 60_000;
  const now = deps.now ?? Date.now;
  const cache = new Map<string, Promise<HistoryKey | undefined>>();
  let newest: { id: string; checkedAt: number } | undefined;

  async function unwrap(row: KeyRow): Promise<HistoryKey> {
    return { id: row.id, key: await deps.keystore.decrypt('history', row.id, row.key_ciphertext) };
  }

  function load(id: string): Promise<HistoryKey | undefined> {
    let entry = cache.get(id);
    if (!entry) {
      entry = (async () => {
        const row = (await deps.db(TABLE).where({ id }).first('id', 'key_ciphertext')) as KeyRow | undefined;
        return row ? unwrap(row) : undefined;
      })();
      // A failed read (database or key store away) is not remembered: the next payload retries.
      entry.catch(() => cache.delete(id));
      cache.set(id, entry);
    }
    return entry;
  }

  return {
    async ensure() {
      if (await newestId(deps.db)) return;
      await createKey(deps.db, deps.keystore, { onlyIfNone: true });
    },

    async current() {
      if (!newest || now() - newest.checkedAt >= refreshMs) {
        const id = await newestId(deps.db);
        if (!id) throw new Error('no history key: the API or worker creates one at start-up (HistoryKeyring.ensure)');
        newest = { id, checkedAt: now() };
      }
      const key = await load(newest.id);
      if (!key) throw new Error('the newest history key vanished');
      return key;
    },

    async byId(id) {
      if (!UUID.test(id)) return undefined;
      return load(id);
    },

    close() {
      for (const entry of cache.values()) void entry.then((k) => k?.key.fill(0), () => undefined);
      cache.clear();
      newest = undefined;
    },
  };
}

async function newestId(db: Db): Promise<string | undefined> {
  const row = (await db(TABLE).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).first('id')) as { id: string } | undefined;
  return row?.id;
}

/**
 * A new data key becomes the newest: payloads written from now on use it (each process
 * within its refresh interval); older keys stay, so older histories still decode.
 * With `onlyIfNone`, concurrent first starts (API and worker) create exactly one.
 */
export async function createKey(db: Db, keystore: Pick<KeyStore, 'encrypt'>, options: { onlyIfNone?: boolean } = {}): Promise<string | undefined> {
  const id = randomUUID();
  const key = randomBytes(32);
  try {
    const ciphertext = await keystore.encrypt('history', id, key);
    return await db.transaction(async (trx) => {
      await trx.raw('SELECT pg_advisory_xact_lock(?)', [FIRST_KEY_LOCK]);
      if (options.onlyIfNone && (await trx(TABLE).first('id'))) return undefined;
      await trx(TABLE).insert({ id, key_ciphertext: ciphertext, created_at: new Date() });
      return id;
    });
  } finally {
    key.fill(0);
  }
}
