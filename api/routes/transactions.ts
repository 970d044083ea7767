/** The seed's transaction routes plus reads and cancel (docs/http-contract.md, "Who may call what"). */
import type { Context } from 'koa';
import { z } from 'zod';
import { defineRoute, type AnyRoute } from '../http/route';
import type { Principal } from '../http/principal';
import type { Caller } from '../../workflows/definitions';
import {
  AuthorizeBody,
  AuthorizeResponse,
  ExecuteBody,
  ListQuery,
  ListResponse,
  PrepareHeaders,
  PrepareResponse,
  prepareSchemas,
  RejectBody,
  TransactionIdParams,
  StatusQuery,
  TransactionView,
  userTransferSchemas,
  UserTransferResponse,
} from '../../domains/transactions';
import type { StatusWait, TransactionService } from '../../domains/transactions';

const callerOf = (principal: Principal): Caller =>
  principal.type === 'user' ? { type: 'user', id: principal.userId } : { type: 'agent', id: principal.agentId };

/** Aborts when the client closes the connection before the answer is sent (a long-poll then stops waiting). */
function clientGone(koa: Context): AbortSignal {
  const controller = new AbortController();
  koa.res.once('close', () => {
    if (!koa.res.writableFinished) controller.abort();
  });
  return controller.signal;
}

export function transactionRoutes(deps: {
  transactions: TransactionService;
  statusWait: StatusWait;
  chainIds: readonly number[];
  approvalTtl: { min: number; max: number };
}): AnyRoute[] {
  const { transactions } = deps;
  const transfers = userTransferSchemas(deps.chainIds);
  const tags = ['transactions'];

  const userTransferRoute = <B extends Record<string, unknown> & { wallet_address: string; password: string; mfa_code: string }>(
    path: string,
    kind: 'native' | 'erc20' | 'contract_call',
    body: z.ZodType<B>,
    summary: string,
  ) =>
    defineRoute({
      method: 'POST',
      path,
      auth: 'user',
      summary,
      tags,
      body,
      responses: { 201: UserTransferResponse, 202: UserTransferResponse },
      errors: [409],
      handler: async ({ principal, body: input, ip, requestId }) => {
        const result = await transactions.userTransfer(principal.userId, kind, input, { ip, requestId });
        return { status: result.httpStatus, body: result.body };
      },
    });

  return [
    defineRoute({
      method: 'POST',
      path: '/api/prepare_transaction',
      auth: 'agent',
      summary: 'An agent proposes a transaction; nothing is signed until the owner approves it with TOTP',
      tags,
      body: prepareSchemas(deps.chainIds, deps.approvalTtl),
      headers: PrepareHeaders,
      responses: { 202: PrepareResponse },
      errors: [422],
      handler: async ({ principal, body, headerParams, ip, requestId }) => {
        const answer = await transactions.prepare(principal, body, headerParams['Idempotency-Key'], { ip, requestId });
        return { status: 202, body: answer };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/authorize_transaction',
      auth: 'user',
      summary: 'The owner approves one or several pending transactions with one TOTP code',
      tags,
      body: AuthorizeBody,
      responses: { 200: AuthorizeResponse },
      errors: [409],
      handler: async ({ principal, body, ip, requestId }) => ({ status: 200, body: await transactions.authorize(principal.userId, body, { ip, requestId }) }),
    }),
    defineRoute({
      method: 'POST',
      path: '/api/reject_transaction',
      auth: 'user',
      summary: 'The owner rejects a pending transaction, with a reason',
      tags,
      body: RejectBody,
      responses: { 200: TransactionView },
      errors: [409],
      handler: async ({ principal, body, ip, requestId }) => ({
        status: 200,
        body: await transactions.reject(principal.userId, body.transaction_id, body.reason, { ip, requestId }),
      }),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/transaction_status',
      auth: 'principal',
      summary: "A transaction's status (its preparing agent or its owner); with wait=N, a long-poll that answers when it changes",
      tags,
      query: StatusQuery,
      responses: { 200: TransactionView },
      errors: [429],
      handler: async ({ principal, query, koa }) => {
        if (query.wait === undefined) return { status: 200, body: await transactions.get(callerOf(principal), query.transaction_id) };
        const body = await deps.statusWait.wait(callerOf(principal), query.transaction_id, {
          waitSeconds: Number(query.wait),
          ifStatus: query.if_status,
          ifVersion: query.if_version === undefined ? undefined : Number(query.if_version),
          signal: clientGone(koa),
        });
        return { status: 200, body };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/execute_transaction',
      auth: 'agent',
      summary: 'The preparing agent executes an approved transaction (202); one already executing or done answers 200 with its status',
      tags,
      body: ExecuteBody,
      responses: { 200: TransactionView, 202: TransactionView },
      errors: [409],
      handler: async ({ principal, body, ip, requestId }) => {
        const { replayed, view } = await transactions.execute(principal, body.transaction_id, { ip, requestId });
        return { status: replayed ? 200 : 202, body: view };
      },
    }),
    defineRoute({
      method: 'GET',
      path: '/api/transactions',
      auth: 'principal',
      summary: "Transactions, newest first: a user's own, or those an agent prepared",
      tags,
      query: ListQuery,
      responses: { 200: ListResponse },
      handler: async ({ principal, query }) => ({ status: 200, body: await transactions.list(callerOf(principal), query) }),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/transactions/:id',
      auth: 'principal',
      summary: 'One transaction',
      tags,
      params: TransactionIdParams,
      responses: { 200: TransactionView },
      handler: async ({ principal, params }) => ({ status: 200, body: await transactions.get(callerOf(principal), params.id) }),
    }),
    defineRoute({
      method: 'POST',
      path: '/api/transactions/:id/cancel',
      auth: 'principal',
      summary: 'Cancel a transaction until signing starts (owner or preparing agent)',
      tags,
      params: TransactionIdParams,
      responses: { 200: TransactionView },
      errors: [409],
      handler: async ({ principal, params, ip, requestId }) => ({ status: 200, body: await transactions.cancel(callerOf(principal), params.id, { ip, requestId }) }),
    }),
    userTransferRoute('/api/transfer', 'native', transfers.transfer, 'The owner sends native currency (password + TOTP)'),
    userTransferRoute('/api/transfer_erc20', 'erc20', transfers.transferErc20, 'The owner sends ERC-20 tokens (password + TOTP)'),
    userTransferRoute('/api/contract_call', 'contract_call', transfers.contractCall, 'The owner calls a contract (password + TOTP)'),
  ];
}
