/**
 * Key rotation: a new key version per purpose, then every stored ciphertext
 * re-encrypted under it, while API and worker keep running.
 *
 * * Never decrypts in this process with Vault: `rewrap` is transit/rewrap, so
 *   the operator credential (rotate, config, read, rewrap) never sees a wallet
 *   key. The local store has no such service: its rewrap decrypts and
 *   re-encrypts in this process and zeroes the plaintext at once.
 * * Safe while the service runs: a batch is read without locks, rewrapped
 *   (network calls, no lock held), then written in one short transaction that
 *   locks the rows (`FOR UPDATE SKIP LOCKED`) and updates each only if it still
 *   holds the ciphertext we rewrapped (compare-and-set). A row someone else
 *   holds is left for the next pass; a row the service rewrote meanwhile keeps
 *   the service's value (it was encrypted under the latest version, or the next
 *   pass picks it up).
 * * The minimum decryption version is raised only when no row of that purpose
 *   still needs an older version — raising it earlier would destroy keys.
 */
import type { Db, DbOrTx } from '../../lib/db';
import type { Logger } from '../../lib/logger';
import { KeyStoreError, KEY_PURPOSES, type KeyAdmin, type KeyInfo, type KeyPurpose, type KeyStore } from './types';

/** Where each purpose's ciphertexts live and which column is the context's subject. */
export const CIPHERTEXT_COLUMNS: Record<KeyPurpose, { table: string; subject: string; column: string }> = {
  wallet: { table: 'wallets', subject: 'id', column: 'key_ciphertext' },
  mfa: { table: 'mfa_factors', subject: 'user_id', column: 'secret_ciphertext' },
  webhook: { table: 'webhooks', subject: 'id', column: 'secret_ciphertext' },
  history: { table: 'history_keys', subject: 'id', column: 'key_ciphertext' },
};

export interface RotateOptions {
  /** Default: every purpose. */
  purposes?: readonly KeyPurpose[];
  /** Add a key version first (default true); false only rewraps (e.g. to finish an interrupted run). */
  rotate?: boolean;
  batchSize?: number;
  /** Afterwards raise the minimum decryption version: a number, or 'latest'. */
  minDecryptionVersion?: number | 'latest';
  /** Passes over rows that were locked or changed; default 10, with passDelayMs between. */
  maxPasses?: number;
  passDelayMs?: number;
}

export interface PurposeReport {
  purpose: KeyPurpose;
  before: KeyInfo;
  after: KeyInfo;
  rewrapped: number;
  /** Rows rewritten by the service between our read and our write (left as the service wrote them). */
  changedConcurrently: number;
  /** Ids of rows whose ciphertext would not rewrap (e.g. corrupt, or a wrong subject). */
  failed: string[];
  /** Rows still below the target version at the end (locked throughout, or failed). */
  remaining: number;
  /** Rows of the other key store kind (`local:` under Vault or the reverse): untouched. */
  foreign: number;
}

export interface RotationReport {
  kind: 'vault' | 'local';
  purposes: PurposeReport[];
}

/** The audit events rotation writes (shaped like domains/audit's AuditEvent). */
export type KeyRotationAuditEvent =
  | { action: 'keys.rotated'; actorType: 'operator'; subjectType: 'key'; subjectId: KeyPurpose; data: Record<string, unknown> }
  | { action: 'wallet.key_rotated'; actorType: 'operator'; subjectType: 'wallet'; subjectId: string; data: Record<string, unknown> };

/** domains/audit's AuditLog, as much of it as rotation needs. */
export interface RotationAudit {
  append(event: KeyRotationAuditEvent, trx?: DbOrTx): Promise<void>;
}

export interface RotationDeps {
  db: Db;
  keystore: KeyAdmin & Pick<KeyStore, 'describe'>;
  /**
   * One `keys.rotated` event per purpose, and one `wallet.key_rotated` per
   * wallet, the latter in the same transaction as the wallet's new ciphertext.
   */
  audit?: RotationAudit;
  logger?: Pick<Logger, 'info' | 'warn'>;
}

export class RotationError extends Error {
  override name = 'RotationError';
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Rows of `purpose` whose ciphertext is of `kind` and below `version`. */
function belowVersion(db: Db, purpose: KeyPurpose, kind: 'vault' | 'local', version: number) {
  const { table, column } = CIPHERTEXT_COLUMNS[purpose];
  return db(table)
    .where(column, 'like', `${kind}:v%`)
    .whereRaw(`coalesce(substring(?? from ?)::bigint, 0) < ?`, [column, `^${kind}:v([0-9]{1,9}):`, version]);
}

export async function countBelowVersion(db: Db, purpose: KeyPurpose, kind: 'vault' | 'local', version: number): Promise<number> {
  const [row] = await belowVersion(db, purpose, kind, version).count<{ count: string }[]>({ count: '*' });
  return Number(row?.count ?? 0);
}

async function countForeign(db: Db, purpose: KeyPurpose, kind: 'vault' | 'local'): Promise<number> {
  const { table, column } = CIPHERTEXT_COLUMNS[purpose];
  const [row] = await db(table).whereNot(column, 'like', `${kind}:v%`).count<{ count: string }[]>({ count: '*' });
  return Number(row?.count ?? 0);
}

interface Planned {
  id: string;
  old: string;
  next: string;
}

async function rewrapPurpose(deps: RotationDeps, purpose: KeyPurpose, target: number, options: Required<Pick<RotateOptions, 'batchSize' | 'maxPasses' | 'passDelayMs'>>) {
  const { db, keystore } = deps;
  const kind = keystore.describe().kind;
  const { table, subject, column } = CIPHERTEXT_COLUMNS[purpose];
  const failed = new Set<string>();
  let rewrapped = 0;
  let changedConcurrently = 0;

  for (let pass = 1; pass <= options.maxPasses; pass += 1) {
    let after: string | undefined;
    for (;;) {
      const query = belowVersion(db, purpose, kind, target).select({ id: 'id', subject, ciphertext: column }).orderBy('id').limit(options.batchSize);
      if (after !== undefined) query.where('id', '>', after);
      const rows = (await query) as { id: string; subject: string; ciphertext: string }[];
      if (rows.length === 0) break;
      after = rows[rows.length - 1]!.id;

      // Rewrap outside any transaction: no row lock is held during key-store calls.
      const planned: Planned[] = [];
      for (const row of rows) {
        if (failed.has(row.id)) continue;
        try {
          planned.push({ id: row.id, old: row.ciphertext, next: await keystore.rewrap(purpose, row.subject, row.ciphertext) });
        } catch (error) {
          if (error instanceof KeyStoreError && error.code === 'decrypt_failed') {
            failed.add(row.id);
            deps.logger?.warn({ purpose, table, id: row.id, code: error.code }, 'ciphertext could not be rewrapped; left unchanged');
            continue;
          }
          throw error;
        }
      }
      if (planned.length === 0) continue;

      await db.transaction(async (trx) => {
        const locked = (await trx(table)
          .select({ id: 'id', ciphertext: column })
          .whereIn(
            'id',
            planned.map((p) => p.id),
          )
          .forUpdate()
          .skipLocked()) as { id: string; ciphertext: string }[];
        const current = new Map(locked.map((row) => [row.id, row.ciphertext]));
        for (const plan of planned) {
          if (!current.has(plan.id)) continue; // held by someone else (or deleted): next pass
          if (current.get(plan.id) !== plan.old) {
            changedConcurrently += 1;
            continue;
          }
          // Compare-and-set: redundant under the row lock, but states the rule.
          const updated = await trx(table).where('id', plan.id).andWhere(column, plan.old).update({ [column]: plan.next });
          if (updated !== 1) {
            changedConcurrently += 1;
            continue;
          }
          rewrapped += 1;
          if (purpose === 'wallet') {
            await deps.audit?.append(
              { action: 'wallet.key_rotated', actorType: 'operator', subjectType: 'wallet', subjectId: plan.id, data: { kind, key_version: target } },
              trx,
            );
          }
        }
      });
    }

    const remaining = (await countBelowVersion(db, purpose, kind, target)) - failed.size;
    if (remaining <= 0 || pass === options.maxPasses) break;
    deps.logger?.info({ purpose, remaining, pass }, 'rows locked or changed during rewrap; another pass');
    await sleep(options.passDelayMs);
  }

  const remaining = await countBelowVersion(db, purpose, kind, target);
  return { rewrapped, changedConcurrently, failed: [...failed], remaining };
}

export async function rotateKeys(deps: RotationDeps, options: RotateOptions = {}): Promise<RotationReport> {
  const purposes = options.purposes ?? KEY_PURPOSES;
  const settings = { batchSize: options.batchSize ?? 100, maxPasses: options.maxPasses ?? 10, passDelayMs: options.passDelayMs ?? 500 };
  if (!Number.isInteger(settings.batchSize) || settings.batchSize < 1) throw new TypeError('batchSize must be a positive integer');
  const kind = deps.keystore.describe().kind;
  const reports: PurposeReport[] = [];

  for (const purpose of purposes) {
    const before = await deps.keystore.readKeyInfo(purpose);
    let after = options.rotate === false ? before : await deps.keystore.rotateKey(purpose);
    const target = after.latestVersion;
    deps.logger?.info({ purpose, from: before.latestVersion, to: target }, options.rotate === false ? 'rewrapping to the latest key version' : 'key rotated; rewrapping');

    const result = await rewrapPurpose(deps, purpose, target, settings);
    const foreign = await countForeign(deps.db, purpose, kind);

    // Raise the minimum only when nothing still needs an older version (counted
    // afresh: a process may have written an old-version ciphertext since the rewrap).
    let refusal: string | undefined;
    if (options.minDecryptionVersion !== undefined) {
      const wanted = options.minDecryptionVersion === 'latest' ? target : options.minDecryptionVersion;
      const blocking = Number.isInteger(wanted) && wanted >= 1 && wanted <= target ? await countBelowVersion(deps.db, purpose, kind, wanted) : 0;
      if (!Number.isInteger(wanted) || wanted < 1 || wanted > target) {
        refusal = `minimum decryption version ${wanted} is outside 1..${target} for ${purpose} keys`;
      } else if (blocking > 0) {
        refusal = `not raising the minimum decryption version of ${purpose} keys to ${wanted}: ${blocking} row(s) still need an older version`;
      } else if (wanted > after.minDecryptionVersion) {
        after = await deps.keystore.setMinDecryptionVersion(purpose, wanted);
      }
    }

    reports.push({ purpose, before, after, ...result, foreign });
    await deps.audit?.append({
      action: 'keys.rotated',
      actorType: 'operator',
      subjectType: 'key',
      subjectId: purpose,
      data: {
        kind,
        ...(after.name ? { key: after.name } : {}),
        rotated: options.rotate !== false,
        version_before: before.latestVersion,
        version_after: after.latestVersion,
        min_decryption_version: after.minDecryptionVersion,
        rewrapped: result.rewrapped,
        changed_concurrently: result.changedConcurrently,
        failed: result.failed.length,
        remaining: result.remaining,
        ...(refusal ? { min_decryption_refused: refusal } : {}),
      },
    });
    if (refusal) throw new RotationError(refusal);
  }
  return { kind, purposes: reports };
}
