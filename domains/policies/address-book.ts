/**
 * The address book: a label per (user, address), shown beside the address
 * on approval cards, never instead of it (labels.ts says what a label may be).
 *
 * Who sees what: the owner sees the whole book; an agent sees only the
 * entries for the wallets it is granted (so it can tell them apart), never the
 * labels of anyone the owner pays — an agent could otherwise learn them by
 * probing. Writes are the owner's, each behind a fresh TOTP step, audited.
 */
import type { Clock } from '../../lib/clock';
import type { Db } from '../../lib/db';
import { notFound } from '../../lib/errors';
import type { Principal } from '../../lib/principal';
import { checksumAddress } from '../chain';
import { requestOrigin, type AuditLog, type RequestMeta } from '../audit';
import type { MfaService } from '../mfa';
import { listWalletsForAgent } from '../wallets';
import { deleteLabel, findLabel, listLabels, upsertLabel } from './dal';
import type { AddressBookRow } from './rows';
import { POLICY_AUDIT } from './types';

export interface AddressBookDeps {
  db: Db;
  clock: Clock;
  mfa: Pick<MfaService, 'verifyAndConsume'>;
  audit: Pick<AuditLog, 'append'>;
}

const entryView = (row: AddressBookRow) => ({ address: checksumAddress(row.address), label: row.label, created_at: row.created_at.toISOString(), updated_at: row.updated_at.toISOString() });

export function createAddressBook(deps: AddressBookDeps) {
  const { db } = deps;

  /** GET /api/address_book */
  async function list(principal: Principal) {
    if (principal.type === 'user') return { entries: (await listLabels(db, principal.userId)).map(entryView) };
    const wallets = await listWalletsForAgent(db, principal.agentId);
    return { entries: (await listLabels(db, principal.userId, wallets.map((w) => w.address))).map(entryView) };
  }

  /** POST /api/address_book — creates or relabels an entry. */
  async function save(userId: string, body: { address: string; label: string; mfa_code: string }, meta: RequestMeta) {
    return db.transaction(async (trx) => {
      await deps.mfa.verifyAndConsume({ userId, code: body.mfa_code, purpose: 'address_book', trx, meta });
      const { row, previous } = await upsertLabel(trx, { userId, address: body.address, label: body.label, at: deps.clock.now() });
      await deps.audit.append(
        { action: POLICY_AUDIT.labelSaved, actorType: 'user', actorId: userId, subjectType: 'user', subjectId: userId, ...requestOrigin(meta), data: { address: row.address, old_label: previous, new_label: row.label } },
        trx,
      );
      return entryView(row);
    });
  }

  /** DELETE /api/address_book/:address — 404 for an address not in the book, before the TOTP step is used. */
  async function remove(userId: string, address: string, body: { mfa_code: string }, meta: RequestMeta): Promise<void> {
    const existing = await findLabel(db, userId, address);
    if (!existing) throw notFound('address book entry');
    await db.transaction(async (trx) => {
      await deps.mfa.verifyAndConsume({ userId, code: body.mfa_code, purpose: 'address_book', trx, meta });
      if (!(await deleteLabel(trx, userId, address))) throw notFound('address book entry');
      await deps.audit.append(
        { action: POLICY_AUDIT.labelDeleted, actorType: 'user', actorId: userId, subjectType: 'user', subjectId: userId, ...requestOrigin(meta), data: { address: existing.address, old_label: existing.label } },
        trx,
      );
    });
  }

  return { list, save, remove };
}

export type AddressBook = ReturnType<typeof createAddressBook>;
