/**
 * The seed's user-initiated routes (transfer, transfer_erc20, contract_call):
 * password + TOTP in the request, then the same workflow, approved at once
 * and executing immediately (`auto_execute`, frozen).
 */
import { randomUUID } from 'node:crypto';
import { notFound } from '../../lib/errors';
import { requestOrigin } from '../audit';
import { findWalletForUser } from '../wallets';
import { approveUpdate } from '../../workflows/definitions';
import type { RequestMeta, TransactionContext } from './context';
import { findTransaction, insertTransaction, recordApproval } from './dal';
import { approvalTtlSeconds, buildRequest, intentFrom } from './prepare';
import type { TransactionRow } from './rows';
import { effectiveStatus } from './view';

export type UserTransferBody = Record<string, unknown> & { wallet_address: string; password: string; mfa_code: string; chain_id?: number; memo?: string };

/** Statuses after which a user transfer's answer no longer changes by waiting. */
const SETTLED = ['broadcast', 'confirmed', 'failed', 'expired', 'cancelled', 'rejected'];

export async function userTransfer(ctx: TransactionContext, userId: string, kind: 'native' | 'erc20' | 'contract_call', body: UserTransferBody, meta: RequestMeta) {
  const { db, audit, mfa, passwords } = ctx.deps;
  const wallet = await findWalletForUser(db, userId, body.wallet_address);
  if (!wallet) throw notFound('wallet');
  await passwords.verifyPassword(userId, body.password, meta);

  const chainId = body.chain_id ?? ctx.deps.config.CHAIN_ID;
  const built = await buildRequest(ctx, { transactionId: randomUUID(), wallet, chainId, intent: intentFrom(body), approvalTtlSeconds: approvalTtlSeconds(ctx, undefined) });

  const { row, approvalId } = await db.transaction(async (trx) => {
    const { mfaUseId } = await mfa.verifyAndConsume({ userId, code: body.mfa_code, purpose: `transfer_${kind}`, trx, meta });
    const inserted = await insertTransaction(
      trx,
      {
        ...built,
        wallet_id: wallet.id,
        user_id: userId,
        agent_id: null,
        origin: 'user',
        kind,
        amount: typeof body.amount === 'string' ? body.amount : null,
        memo: body.memo ?? null,
        auto_execute: true,
        idempotency_key: null,
        request_hash: null,
      },
      ctx.now(),
    );
    const approval = { id: randomUUID(), transaction_id: built.id, user_id: userId, mfa_use_id: mfaUseId, digest: built.digest, created_at: ctx.now() };
    await recordApproval(trx, approval);
    await audit.append(
      {
        action: 'transaction.user_initiated',
        actorType: 'user',
        actorId: userId,
        subjectType: 'transaction',
        subjectId: built.id,
        ...requestOrigin(meta),
        data: { wallet: wallet.address, chain_id: chainId, kind, digest: built.digest, mfa_use_id: mfaUseId },
      },
      trx,
    );
    return { row: inserted, approvalId: approval.id };
  });

  await ctx.startWorkflow(row);
  await ctx.sendUpdate(row, approveUpdate, { approvalId }, approvalId);

  const settled = await waitForBroadcast(ctx, row.id, ctx.deps.userTransferWaitMs ?? 20_000);
  const status = effectiveStatus(settled, ctx.now());
  const done = settled.tx_hash !== null && ['broadcast', 'confirmed'].includes(status);
  return { httpStatus: done ? 201 : 202, body: { transaction_id: row.id, tx_hash: settled.tx_hash, status } };
}

async function waitForBroadcast(ctx: TransactionContext, transactionId: string, timeoutMs: number): Promise<TransactionRow> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = (await findTransaction(ctx.deps.db, transactionId))!;
    if (SETTLED.includes(row.status) || Date.now() >= deadline) return row;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
