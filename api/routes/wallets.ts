/**
 * Wallet routes (docs/http-contract.md, "Who may call what"): create, load, list, one
 * wallet with token balances, and the owner's grants to agents. There is no
 * route that exports, shows or signs with a private key.
 */
import { defineRoute, type AnyRoute } from '../http/route';
import type { WalletService } from '../../domains/wallets';
import { wrongLoadForm } from '../../domains/wallets';
import {
  AgentLoadWalletResponse,
  AgentWalletParams,
  AgentIdParams,
  CreateWalletBody,
  CreateWalletResponse,
  GrantBody,
  GrantResponse,
  loadWalletBody,
  UserLoadWalletResponse,
  WalletAddressParams,
  walletDetailQuery,
  WalletDetailResponse,
  walletListQuery,
  WalletListResponse,
} from '../../domains/wallets';
import { z } from 'zod';

export interface WalletRouteDeps {
  wallets: Pick<WalletService, 'create' | 'loadForUser' | 'loadForAgent' | 'list' | 'get' | 'grant' | 'withdraw'>;
  /** Configured chain ids (config.chains keys): the `chain_id` enum. */
  chainIds: readonly number[];
}

export function walletRoutes(deps: WalletRouteDeps): AnyRoute[] {
  const { wallets } = deps;
  const tags = ['wallets'];
  return [
    defineRoute({
      method: 'POST',
      path: '/api/create_wallet',
      auth: 'user',
      summary: 'Creates a wallet: a new key, generated and encrypted on the server (password re-authentication)',
      tags,
      body: CreateWalletBody,
      responses: { 201: CreateWalletResponse },
      errors: [403, 503],
      handler: async ({ principal, body, ip, requestId }) => ({
        status: 201,
        body: await wallets.create(principal.userId, { password: body.password, label: body.label ?? undefined }, { ip, requestId }),
      }),
    }),

    defineRoute({
      method: 'POST',
      path: '/api/load_wallet',
      auth: 'principal',
      summary: 'A user loads one wallet (password + TOTP + address); an agent sends {} for its granted wallets',
      tags,
      body: loadWalletBody(deps.chainIds),
      responses: { 200: z.union([UserLoadWalletResponse, AgentLoadWalletResponse]) },
      errors: [403, 404, 429, 503],
      handler: async ({ principal, body, ip, requestId }) => {
        const meta = { ip, requestId };
        if (principal.type === 'user') {
          if (!('address' in body)) throw wrongLoadForm('user');
          return { status: 200, body: await wallets.loadForUser(principal.userId, body, meta) };
        }
        if ('address' in body) throw wrongLoadForm('agent');
        return { status: 200, body: await wallets.loadForAgent(principal, body, meta) };
      },
    }),

    defineRoute({
      method: 'GET',
      path: '/api/wallets',
      auth: 'principal',
      summary: "Wallets with native balances: a user's own, or those granted to an agent",
      tags,
      query: walletListQuery(deps.chainIds),
      responses: { 200: WalletListResponse },
      errors: [503],
      handler: async ({ principal, query }) => ({ status: 200, body: await wallets.list(principal, query) }),
    }),

    defineRoute({
      method: 'GET',
      path: '/api/wallets/:address',
      auth: 'principal',
      summary: 'One wallet with its native balance and, for ?tokens=, ERC-20 balances',
      tags,
      params: WalletAddressParams,
      query: walletDetailQuery(deps.chainIds),
      responses: { 200: WalletDetailResponse },
      errors: [404, 503],
      handler: async ({ principal, params, query }) => ({ status: 200, body: await wallets.get(principal, params.address, query) }),
    }),

    defineRoute({
      method: 'POST',
      path: '/api/agents/:id/wallets',
      auth: 'user',
      summary: 'Grants one of your agents the use of one of your wallets (TOTP)',
      tags: ['agents', ...tags],
      params: AgentIdParams,
      body: GrantBody,
      responses: { 200: GrantResponse },
      errors: [403, 404, 429, 503],
      handler: async ({ principal, params, body, ip, requestId }) => ({
        status: 200,
        body: await wallets.grant(principal.userId, params.id, body, { ip, requestId }),
      }),
    }),

    defineRoute({
      method: 'DELETE',
      path: '/api/agents/:id/wallets/:address',
      auth: 'user',
      summary: "Withdraws an agent's use of a wallet (idempotent)",
      tags: ['agents', ...tags],
      params: AgentWalletParams,
      responses: { 204: null },
      errors: [404],
      handler: async ({ principal, params, ip, requestId }) => {
        await wallets.withdraw(principal.userId, params.id, params.address, { ip, requestId });
        return { status: 204 };
      },
    }),
  ];
}
