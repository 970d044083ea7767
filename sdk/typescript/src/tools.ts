/**
 * The agent's tools, defined once on top of the client and adapted to each
 * framework: the MCP server (mcp/server.ts, both transports) and the Vercel AI
 * SDK (./ai.ts). Names, JSON Schemas (zod) and descriptions are written for a
 * model: what the tool does, what to pass, and what to do with the answer.
 *
 * No tool approves, rejects, grants a wallet or changes a policy: those are
 * the owner's, behind TOTP, and an agent's key cannot do them anyway.
 *
 * A refusal from the API is not an exception for the model: adapters turn a
 * CountersignError into a result carrying its code, reason and hint
 * (`refusalOf`), so the model can act on it.
 */
import { z } from 'zod';
import type { CountersignClient, ProposeRequest, TransactionView } from './client';
import { CountersignError } from './errors';

export interface ToolContext {
  signal?: AbortSignal | undefined;
  /** Progress while a tool waits (MCP progress notifications). */
  progress?: ((progress: number, total: number, message: string) => Promise<void> | void) | undefined;
}

export interface CountersignTool<S extends z.ZodObject = z.ZodObject> {
  name: string;
  title: string;
  description: string;
  inputSchema: S;
  /** Reads only: changes nothing anywhere. */
  readOnly: boolean;
  /** Calling it again with the same input has no further effect. */
  idempotent: boolean;
  /** Moves funds on a chain (outside this service's own records). */
  openWorld: boolean;
  run(client: CountersignClient, input: z.output<S>, context: ToolContext): Promise<Record<string, unknown>>;
}

const Address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'a 0x-prefixed 20-byte hex address');
const TransactionId = z.uuid().describe('The transaction_id that propose_transaction returned.');
const BaseUnits = z.string().regex(/^(0|[1-9][0-9]{0,76})$/, 'a non-negative integer in base units, as a string');
const STATUSES = ['pending_approval', 'approved', 'signing', 'broadcast', 'confirmed', 'failed', 'rejected', 'expired', 'cancelled'] as const;

/** What the model should do next, by status. */
export function nextStep(view: Pick<TransactionView, 'status'>): string {
  switch (view.status) {
    case 'pending_approval':
      return 'Waiting for the owner to approve or reject it: call wait_for_decision (again), or do something else and check later.';
    case 'approved':
      return 'Approved by the owner: call execute_transaction to sign and send it before its execution window closes.';
    case 'signing':
    case 'broadcast':
      return 'Being signed and sent: call wait_for_decision to wait until it is confirmed or failed.';
    case 'confirmed':
      return 'Confirmed on chain (see tx_hash): done.';
    case 'failed':
      return 'It failed (see error): propose a corrected transaction if it is still needed.';
    case 'rejected':
      return "The owner rejected it (see rejection_reason): do not propose it again unless the owner's reason is addressed.";
    case 'expired':
      return 'Nobody approved or executed it in time: propose it again if it is still needed.';
    case 'cancelled':
      return 'It was cancelled: nothing will be sent.';
  }
}

/** The answer about one transaction a model needs first, then the whole view. */
function about(view: TransactionView) {
  return {
    transaction_id: view.transaction_id,
    status: view.status,
    next_step: nextStep(view),
    rejection_reason: view.rejection_reason,
    tx_hash: view.tx_hash,
    error: view.error,
    version: view.version,
    transaction: view,
  };
}

/** A refusal as a tool result: the API's code, reason and hint (never a protocol error). */
export function refusalOf(error: unknown): { error: Record<string, unknown> } | undefined {
  if (!(error instanceof CountersignError)) return undefined;
  return { error: error.toJSON() };
}

/** How often wait_for_decision reports progress while it waits (MCP clients reset their request timeout on it). */
const PROGRESS_EVERY_MS = 2_000;

/** Waits until the agent has something to do, or the outcome is in: not pending, signing or broadcast. */
const settled = (view: TransactionView) => !['pending_approval', 'signing', 'broadcast'].includes(view.status);

const defineTool = <S extends z.ZodObject>(tool: CountersignTool<S>) => tool;

export const countersignTools = [
  defineTool({
    name: 'list_wallets',
    title: 'List my wallets',
    description:
      'List the wallets the owner has granted you: address, chain_id, native balance in wei, and whether signing is frozen. Call this first to learn which wallet_address you may propose transactions from.',
    inputSchema: z.object({}).strict(),
    readOnly: true,
    idempotent: true,
    openWorld: false,
    async run(client) {
      return { wallets: await client.wallets() };
    },
  }),

  defineTool({
    name: 'get_balance',
    title: 'Get a wallet balance',
    description:
      'The native balance (wei) of one of your wallets and, for the ERC-20 token contracts you list in tokens, its token balances in base units (with symbol and decimals as the token reports them; untrusted text).',
    inputSchema: z
      .object({
        wallet_address: Address.describe('One of your wallets (see list_wallets).'),
        tokens: z.array(Address).max(20).optional().describe('ERC-20 token contract addresses to include (up to 20).'),
        chain_id: z.number().int().positive().optional().describe('Chain id; default: the deployment\'s chain.'),
      })
      .strict(),
    readOnly: true,
    idempotent: true,
    openWorld: false,
    async run(client, input) {
      return client.balance(input.wallet_address, { ...(input.tokens ? { tokens: input.tokens } : {}), ...(input.chain_id !== undefined ? { chain_id: input.chain_id } : {}) });
    },
  }),

  defineTool({
    name: 'propose_transaction',
    title: 'Propose a transaction',
    description: [
      'Propose a transaction from one of your wallets. Nothing is signed yet: the wallet owner reviews a summary and approves or rejects it with their authenticator app.',
      'kind "native" sends the chain\'s currency: to_address and amount (wei, a decimal string).',
      'kind "erc20" sends tokens: token_address, to_address and amount (token base units).',
      'kind "contract_call" calls a contract: contract_address and either data (hex calldata) or contract_abi + function_name (+ function_args); value (wei) is optional.',
      'A request that cannot succeed is refused with code simulation_failed and a reason (would_revert with revert_reason, insufficient_funds, not_a_token): change the request rather than retrying it; allow_simulation_failure: true asks the owner anyway.',
      'Returns transaction_id, status, the summary the owner sees and its digest; then call wait_for_decision.',
    ].join(' '),
    inputSchema: z
      .object({
        wallet_address: Address.describe('One of your wallets (see list_wallets).'),
        kind: z.enum(['native', 'erc20', 'contract_call']).describe('What to do: send currency, send tokens, or call a contract.'),
        to_address: Address.optional().describe('native, erc20: the recipient.'),
        amount: BaseUnits.optional().describe('native: wei; erc20: token base units. A positive integer as a string.'),
        token_address: Address.optional().describe('erc20: the token contract.'),
        contract_address: Address.optional().describe('contract_call: the contract to call.'),
        data: z.string().regex(/^0x([0-9a-fA-F]{2})*$/).optional().describe('contract_call: raw calldata (hex), instead of contract_abi + function_name.'),
        contract_abi: z.array(z.record(z.string(), z.unknown())).optional().describe('contract_call: the JSON ABI (or just the fragment of the function).'),
        function_name: z.string().optional().describe('contract_call: the function to call, by name.'),
        function_args: z.array(z.unknown()).optional().describe('contract_call: its arguments, in order (numbers as decimal strings).'),
        value: BaseUnits.optional().describe('contract_call: wei to send along (default 0).'),
        memo: z.string().max(500).optional().describe('A short note for the owner (shown as your unverified note).'),
        chain_id: z.number().int().positive().optional().describe("Chain id; default: the deployment's chain."),
        approval_ttl: z.number().int().optional().describe('Seconds the owner has to approve (default: the deployment\'s, typically 24 h).'),
        auto_execute: z.boolean().optional().describe('Sign and send as soon as the owner approves, without execute_transaction.'),
        allow_simulation_failure: z.boolean().optional().describe('Queue it for the owner even though the simulation says it cannot succeed.'),
        idempotency_key: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/).optional().describe('Send the same key when retrying the same proposal: you get the first answer back, not a second proposal.'),
      })
      .strict(),
    readOnly: false,
    idempotent: false,
    openWorld: false,
    async run(client, input) {
      const { idempotency_key: idempotencyKey, ...fields } = input;
      const request = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as ProposeRequest;
      const proposal = await client.propose(request, idempotencyKey ? { idempotencyKey } : {});
      return { ...proposal, next_step: nextStep(proposal) };
    },
  }),

  defineTool({
    name: 'get_transaction',
    title: 'Get a transaction',
    description: 'The current status of a transaction you proposed, what to do next, and all its details (summary, fees, tx_hash, error, rejection_reason).',
    inputSchema: z.object({ transaction_id: TransactionId }).strict(),
    readOnly: true,
    idempotent: true,
    openWorld: false,
    async run(client, input) {
      return about(await client.get(input.transaction_id));
    },
  }),

  defineTool({
    name: 'wait_for_decision',
    title: 'Wait for the owner (or the chain)',
    description:
      'Wait until the owner approves or rejects a transaction you proposed — or, after execute_transaction, until it is confirmed or failed on chain — for at most timeout_seconds. Returns decided: true with the status and next_step (rejection_reason when rejected), or decided: false when it is still pending: then call it again or check later. Sends progress notifications while it waits.',
    inputSchema: z
      .object({
        transaction_id: TransactionId,
        timeout_seconds: z.number().int().min(1).max(3600).optional().describe('How long to wait at most (default 300 seconds).'),
      })
      .strict(),
    readOnly: true,
    idempotent: true,
    openWorld: false,
    async run(client, input, context) {
      const total = input.timeout_seconds ?? 300;
      const started = Date.now();
      const report = (view: TransactionView) => context.progress?.(Math.min(total, (Date.now() - started) / 1000), total, `still ${view.status}`);
      // A heartbeat while one long-poll holds (up to 60 s): a client's request timeout resets on progress.
      let last: TransactionView | undefined;
      const heartbeat = context.progress ? setInterval(() => void (last && report(last)), PROGRESS_EVERY_MS) : undefined;
      try {
        last = await client.get(input.transaction_id, context.signal ? { signal: context.signal } : {});
        const view = settled(last)
          ? last
          : await client.waitUntil(input.transaction_id, settled, {
              timeoutMs: total * 1000,
              ...(context.signal ? { signal: context.signal } : {}),
              onStillWaiting: (current) => {
                last = current;
                void report(current);
              },
            });
        return { decided: settled(view), ...about(view) };
      } finally {
        clearInterval(heartbeat);
      }
    },
  }),

  defineTool({
    name: 'execute_transaction',
    title: 'Execute an approved transaction',
    description:
      'Sign and send a transaction the owner approved (it is irreversible once sent); answers once signing has started. On one already executing or done it just returns the status. Refused with invalid_state when it is not approved, expired, rejected or cancelled (see the hint). Then call wait_for_decision to wait for confirmation.',
    inputSchema: z.object({ transaction_id: TransactionId }).strict(),
    readOnly: false,
    idempotent: true,
    openWorld: true,
    async run(client, input, context) {
      let view = await client.execute(input.transaction_id);
      // The worker starts signing a moment later: answer once it has (so wait_for_decision then waits for the chain).
      if (view.status === 'approved') view = await client.waitUntil(input.transaction_id, (v) => v.status !== 'approved', { timeoutMs: 15_000, ...(context.signal ? { signal: context.signal } : {}) });
      return about(view);
    },
  }),

  defineTool({
    name: 'cancel_transaction',
    title: 'Cancel a transaction',
    description: 'Withdraw a transaction you proposed, as long as signing has not started (pending or approved). Refused with invalid_state once signing began or it was decided.',
    inputSchema: z.object({ transaction_id: TransactionId }).strict(),
    readOnly: false,
    idempotent: false,
    openWorld: false,
    async run(client, input) {
      return about(await client.cancel(input.transaction_id));
    },
  }),

  defineTool({
    name: 'list_transactions',
    title: 'List my transactions',
    description: 'The transactions you proposed, newest first, optionally only one status or one wallet; pass next_cursor back as cursor for the next page.',
    inputSchema: z
      .object({
        status: z.enum(STATUSES).optional().describe('Only this status.'),
        wallet: Address.optional().describe('Only this wallet.'),
        limit: z.number().int().min(1).max(100).optional().describe('At most this many (default 20).'),
        cursor: z.string().regex(/^[0-9]{1,19}$/).optional().describe('next_cursor of the previous page.'),
      })
      .strict(),
    readOnly: true,
    idempotent: true,
    openWorld: false,
    async run(client, input) {
      const page = await client.list({
        limit: String(input.limit ?? 20),
        ...(input.status ? { status: input.status } : {}),
        ...(input.wallet ? { wallet: input.wallet } : {}),
        ...(input.cursor ? { cursor: input.cursor } : {}),
      });
      return {
        transactions: page.transactions.map((view) => ({ transaction_id: view.transaction_id, status: view.status, title: view.summary.title, created_at: view.created_at, tx_hash: view.tx_hash, next_step: nextStep(view) })),
        next_cursor: page.next_cursor,
      };
    },
  }),
];

export type CountersignToolName = (typeof countersignTools)[number]['name'];
