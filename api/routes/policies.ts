/**
 * Policies and the address book (issue 14; docs/http-contract.md, "Who may call what"):
 * a wallet's rules (its owner reads and replaces them with TOTP; a granted
 * agent reads the rules that apply to it), the dry run of a prepare, and the
 * owner's labels.
 */
import { defineRoute, type AnyRoute } from '../http/route';
import {
  AddressBookEntry,
  AddressBookList,
  AddressParams,
  DeleteLabelBody,
  PolicyCheckResponse,
  PolicyView,
  replacePolicyBody,
  SaveLabelBody,
  type AddressBook,
  type PolicyService,
} from '../../domains/policies';
import { policyCheckSchemas, type TransactionService } from '../../domains/transactions';
import { WalletAddressParams } from '../../domains/wallets';

export interface PolicyRouteDeps {
  policies: Pick<PolicyService, 'getPolicy' | 'replacePolicy'>;
  addressBook: Pick<AddressBook, 'list' | 'save' | 'remove'>;
  transactions: Pick<TransactionService, 'checkPolicy'>;
  chainIds: readonly number[];
  approvalTtl: { min: number; max: number };
}

export function policyRoutes(deps: PolicyRouteDeps): AnyRoute[] {
  const tags = ['policies'];
  return [
    defineRoute({
      method: 'GET',
      path: '/api/wallets/:address/policy',
      auth: 'principal',
      summary: "A wallet's policy: every rule for its owner; for a granted agent, the rules that apply to it",
      tags,
      params: WalletAddressParams,
      responses: { 200: PolicyView },
      errors: [404],
      handler: async ({ principal, params }) => ({ status: 200, body: await deps.policies.getPolicy(principal, params.address) }),
    }),
    defineRoute({
      method: 'PUT',
      path: '/api/wallets/:address/policy',
      auth: 'user',
      summary: "Replaces a wallet's rules (TOTP); rules can only refuse requests, never approve one",
      tags,
      params: WalletAddressParams,
      body: replacePolicyBody(deps.chainIds),
      responses: { 200: PolicyView },
      errors: [403, 404, 429],
      handler: async ({ principal, params, body, ip, requestId }) => ({
        status: 200,
        body: await deps.policies.replacePolicy(principal.userId, params.address, body, { ip, requestId }),
      }),
    }),
    defineRoute({
      method: 'POST',
      path: '/api/policy/check',
      auth: 'principal',
      summary: 'What the policy says about a prepare_transaction body now (a dry run: nothing is stored, nobody is asked)',
      tags,
      body: policyCheckSchemas(deps.chainIds, deps.approvalTtl),
      responses: { 200: PolicyCheckResponse },
      errors: [404, 503],
      handler: async ({ principal, body }) => ({
        status: 200,
        body: await deps.transactions.checkPolicy(principal.type === 'agent' ? { type: 'agent', agentId: principal.agentId } : { type: 'user', userId: principal.userId }, body),
      }),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/address_book',
      auth: 'principal',
      summary: "The owner's address book; an agent sees only the entries for its granted wallets",
      tags: ['address book'],
      responses: { 200: AddressBookList },
      handler: async ({ principal }) => ({ status: 200, body: await deps.addressBook.list(principal) }),
    }),
    defineRoute({
      method: 'POST',
      path: '/api/address_book',
      auth: 'user',
      summary: 'Labels an address (TOTP); a label is shown beside the address, never instead of it',
      tags: ['address book'],
      body: SaveLabelBody,
      responses: { 201: AddressBookEntry },
      errors: [403, 429],
      handler: async ({ principal, body, ip, requestId }) => ({ status: 201, body: await deps.addressBook.save(principal.userId, body, { ip, requestId }) }),
    }),
    defineRoute({
      method: 'DELETE',
      path: '/api/address_book/:address',
      auth: 'user',
      summary: 'Removes a label (TOTP)',
      tags: ['address book'],
      params: AddressParams,
      body: DeleteLabelBody,
      responses: { 204: null },
      errors: [403, 404, 429],
      handler: async ({ principal, params, body, ip, requestId }) => {
        await deps.addressBook.remove(principal.userId, params.address, body, { ip, requestId });
        return { status: 204 };
      },
    }),
  ];
}
