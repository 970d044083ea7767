/**
 * Wallets: creation (key generated and encrypted here, in the API), loading,
 * balances, and the owner's grants of wallets to agents.
 *
 * Security invariants kept here:
 * * A new key's plaintext lives only in a Buffer between `generateWalletKey`
 *   and `keystore.encrypt('wallet', <new wallet id>, …)`, and is zeroed in a
 *   `finally` whatever happens. It is never stored, logged, returned, put in an
 *   audit event or handed to Temporal; the row gets the ciphertext only. The
 *   ciphertext is bound to the wallet id (the key store's context), so it
 *   cannot be moved onto another wallet's row.
 * * This service can only encrypt (`Pick<KeyStore, 'encrypt' | 'describe'>`);
 *   the API's Vault credential could not decrypt anyway. There is no export.
 * * Object-level authorization lives in the queries (dal.ts): a user finds only
 *   their own wallets, an agent only those granted to it by their current
 *   owner; unknown and foreign look the same (404), and that lookup happens
 *   before the password is checked or a TOTP step is consumed (docs/http-contract.md,
 *   "Order of checks").
 * * Chain reads happen before the TOTP step is consumed, so a node that is
 *   down answers 503 without burning the user's code. Any chain failure is a
 *   503, never a 500; its (URL-scrubbed) description goes to the log only.
 */
import { mapLimit } from '../../lib/concurrency';
import { randomUUID } from 'node:crypto';
import { AppError, invalidRequest, notFound, unavailable } from '../../lib/errors';
import type { AgentPrincipal, Principal } from '../../lib/principal';
import { ChainError } from '../chain';
import { checksumAddress } from '../chain';
import { sanitizeDisplayText } from '../chain';
import { isKeyStoreError } from '../keystore';
import { parseCiphertextVersion } from '../keystore';
import { findOwnAgent, grantWallets, withdrawWallet } from '../agents';
import {
  findWalletForAgent,
  findWalletForUser,
  insertWallet,
  isGranted,
  listWalletsForAgent,
  listWalletsForUser,
  type PublicWalletRow,
} from './dal';
import { generateWalletKey } from './keys';
import {
  GRANT_MFA_PURPOSE,
  LOAD_MFA_PURPOSE,
  MAX_LABEL_LENGTH,
  WALLET_AUDIT,
  type AgentGrants,
  type AgentLoadedWallet,
  type CreatedWallet,
  type LoadedWallet,
  type RequestMeta,
  type WalletDetailView,
  type WalletServiceDeps,
  type WalletView,
} from './types';

/** Balance reads in flight at once for one listing. */
const BALANCE_CONCURRENCY = 8;

/** The owner's words, made safe to show (control and bidi characters stripped); empty means none. */
export function normalizeLabel(label: string | undefined | null): string | null {
  if (label === undefined || label === null) return null;
  const cleaned = sanitizeDisplayText(label, MAX_LABEL_LENGTH);
  return cleaned === '' ? null : cleaned;
}

const frozen = (row: PublicWalletRow) => row.frozen_at !== null;

export type WalletService = ReturnType<typeof createWalletService>;

export function createWalletService(deps: WalletServiceDeps) {
  const { db, clock, keystore, chain, passwords, mfa, audit, logger } = deps;

  function chainIdOf(requested: number | undefined): number {
    const chainId = requested ?? deps.config.CHAIN_ID;
    // The route schemas only let configured chains through; this guards direct callers.
    if (!chain.chainIds().includes(chainId)) throw invalidRequest('this chain is not configured', [{ field: 'chain_id', message: 'not a configured chain' }]);
    return chainId;
  }

  /** Any failure of a node read is a 503; only a ChainError's scrubbed message is logged (a raw error may hold the RPC URL). */
  async function readChain<T>(what: string, chainId: number, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (err) {
      const detail = err instanceof ChainError ? { name: err.name, code: err.code, message: err.message.slice(0, 300) } : { name: err instanceof Error ? err.name : typeof err };
      logger.warn({ chainId, what, err: detail }, 'chain read failed');
      throw unavailable('the chain node is unavailable, try again shortly');
    }
  }

  const balanceOf = (chainId: number, address: string) => readChain('balance', chainId, async () => (await chain.nativeBalance(chainId, address)).toString());

  async function balancesOf(chainId: number, rows: readonly PublicWalletRow[]): Promise<string[]> {
    return readChain('balances', chainId, () => mapLimit(rows, BALANCE_CONCURRENCY, async (row) => (await chain.nativeBalance(chainId, row.address)).toString()));
  }

  const view = (row: PublicWalletRow, balance: string, chainId: number): WalletView => ({
    wallet_id: row.id,
    address: checksumAddress(row.address),
    label: row.label,
    balance,
    chain_id: chainId,
    created_at: row.created_at.toISOString(),
    frozen: frozen(row),
  });

  async function findFor(principal: Principal, address: string): Promise<PublicWalletRow | undefined> {
    return principal.type === 'user' ? findWalletForUser(db, principal.userId, address) : findWalletForAgent(db, principal.agentId, address);
  }

  return {
    /**
     * `POST /api/create_wallet`: re-authenticates with the password (403
     * password_invalid), then generates, encrypts and stores a new key.
     */
    async create(userId: string, input: { password: string; label?: string | undefined }, meta: RequestMeta = {}): Promise<CreatedWallet> {
      await passwords.verifyPassword(userId, input.password, meta);
      const label = normalizeLabel(input.label);
      // The id comes first: it is the key store's context, so the ciphertext is bound to this row.
      const walletId = randomUUID();
      const key = generateWalletKey();
      const address = key.address;
      let ciphertext: string;
      try {
        ciphertext = await keystore.encrypt('wallet', walletId, key.privateKey);
      } catch (err) {
        if (isKeyStoreError(err)) {
          // A KeyStoreError carries a fixed message and no cause (never the plaintext or a token).
          logger.error({ err: err.toJSON(), walletId }, 'could not encrypt a new wallet key');
          throw unavailable('the key store is unavailable; no wallet was created');
        }
        throw err;
      } finally {
        key.privateKey.fill(0);
      }

      const now = clock.now();
      const version = parseCiphertextVersion(ciphertext);
      await db.transaction(async (trx) => {
        await insertWallet(trx, { id: walletId, userId, address, label, keyCiphertext: ciphertext, now });
        await audit.append(
          {
            action: WALLET_AUDIT.created,
            actorType: 'user',
            actorId: userId,
            subjectType: 'wallet',
            subjectId: walletId,
            ip: meta.ip,
            requestId: meta.requestId,
            data: { address, label, key_store: keystore.describe().kind, key_version: version?.version ?? null },
          },
          trx,
        );
      });
      return { wallet_id: walletId, address: checksumAddress(address), label, created_at: now.toISOString() };
    },

    /**
     * `POST /api/load_wallet` for a user: the wallet must be theirs (404
     * first), then the password, the chain reads, and the TOTP gate — the step
     * is consumed together with the audit event.
     */
    async loadForUser(
      userId: string,
      input: { address: string; password: string; mfa_code: string; chain_id?: number | undefined },
      meta: RequestMeta = {},
    ): Promise<LoadedWallet> {
      const chainId = chainIdOf(input.chain_id);
      const wallet = await findWalletForUser(db, userId, input.address);
      if (!wallet) throw notFound('wallet');
      await passwords.verifyPassword(userId, input.password, meta);
      const [balance, nonce] = await readChain('balance and nonce', chainId, () =>
        Promise.all([chain.nativeBalance(chainId, wallet.address), chain.pendingNonce(chainId, wallet.address)]),
      );
      await db.transaction(async (trx) => {
        // The gate first: it must run before anything else in this transaction (domains/mfa/types.ts).
        const { mfaUseId } = await mfa.verifyAndConsume({ userId, code: input.mfa_code, purpose: LOAD_MFA_PURPOSE, trx, meta });
        await audit.append(
          {
            action: WALLET_AUDIT.loaded,
            actorType: 'user',
            actorId: userId,
            subjectType: 'wallet',
            subjectId: wallet.id,
            ip: meta.ip,
            requestId: meta.requestId,
            data: { address: wallet.address, chain_id: chainId, mfa_use_id: mfaUseId },
          },
          trx,
        );
      });
      return { address: checksumAddress(wallet.address), balance: balance.toString(), nonce: String(nonce), chain_id: chainId };
    },

    /** `POST /api/load_wallet` for an agent: the wallets granted to it, with balances; one audit event per wallet. */
    async loadForAgent(agent: Pick<AgentPrincipal, 'agentId' | 'userId'>, input: { chain_id?: number | undefined }, meta: RequestMeta = {}): Promise<{ wallets: AgentLoadedWallet[] }> {
      const chainId = chainIdOf(input.chain_id);
      const rows = await listWalletsForAgent(db, agent.agentId);
      const balances = await balancesOf(chainId, rows);
      if (rows.length > 0) {
        await db.transaction(async (trx) => {
          for (const row of rows) {
            await audit.append(
              {
                action: WALLET_AUDIT.loaded,
                actorType: 'agent',
                actorId: agent.agentId,
                subjectType: 'wallet',
                subjectId: row.id,
                ip: meta.ip,
                requestId: meta.requestId,
                data: { address: row.address, chain_id: chainId },
              },
              trx,
            );
          }
        });
      }
      return {
        wallets: rows.map((row, i) => ({ address: checksumAddress(row.address), balance: balances[i]!, chain_id: chainId, label: row.label })),
      };
    },

    /** `GET /api/wallets`: a user's own wallets, or those granted to an agent. */
    async list(principal: Principal, input: { chain_id?: number | undefined } = {}): Promise<{ wallets: WalletView[] }> {
      const chainId = chainIdOf(input.chain_id);
      const rows = principal.type === 'user' ? await listWalletsForUser(db, principal.userId) : await listWalletsForAgent(db, principal.agentId);
      const balances = await balancesOf(chainId, rows);
      return { wallets: rows.map((row, i) => view(row, balances[i]!, chainId)) };
    },

    /** `GET /api/wallets/:address`: one wallet, its native balance and the requested ERC-20 balances. */
    async get(principal: Principal, address: string, input: { chain_id?: number | undefined; tokens?: readonly string[] | undefined } = {}): Promise<WalletDetailView> {
      const chainId = chainIdOf(input.chain_id);
      const wallet = await findFor(principal, address);
      if (!wallet) throw notFound('wallet');
      const tokens = input.tokens ?? [];
      const [balance, tokenBalances] = await Promise.all([
        balanceOf(chainId, wallet.address),
        tokens.length === 0 ? Promise.resolve([]) : readChain('token balances', chainId, () => chain.tokenBalances(chainId, wallet.address, tokens)),
      ]);
      return { ...view(wallet, balance, chainId), tokens: tokenBalances };
    },

    /**
     * `POST /api/agents/:id/wallets`: the owner grants one of their wallets to
     * one of their (unrevoked, unexpired) agents. Agent and wallet are looked
     * up before the TOTP step is consumed; grant, step and audit commit together.
     * Granting again is harmless (and recorded).
     */
    async grant(userId: string, agentId: string, input: { address: string; mfa_code: string }, meta: RequestMeta = {}): Promise<AgentGrants> {
      return db.transaction(async (trx) => {
        const agent = await findOwnAgent(trx, userId, agentId);
        const now = clock.now();
        // A revoked or expired agent can never use a grant; refusing keeps the list of grants meaningful.
        if (!agent || agent.revoked_at !== null || (agent.expires_at !== null && agent.expires_at.getTime() <= now.getTime())) throw notFound('agent');
        const wallet = await findWalletForUser(trx, userId, input.address);
        if (!wallet) throw notFound('wallet');
        const { mfaUseId } = await mfa.verifyAndConsume({ userId, code: input.mfa_code, purpose: GRANT_MFA_PURPOSE, trx, meta });
        const already = await isGranted(trx, agentId, wallet.id);
        await grantWallets(trx, agentId, [wallet.id], now);
        await audit.append(
          {
            action: WALLET_AUDIT.granted,
            actorType: 'user',
            actorId: userId,
            subjectType: 'wallet',
            subjectId: wallet.id,
            ip: meta.ip,
            requestId: meta.requestId,
            data: { agent_id: agentId, address: wallet.address, mfa_use_id: mfaUseId, already_granted: already },
          },
          trx,
        );
        const granted = await listWalletsForAgent(trx, agentId);
        return { agent_id: agentId, wallets: granted.map((row) => checksumAddress(row.address)).sort() };
      });
    },

    /**
     * `DELETE /api/agents/:id/wallets/:address`: no second factor (it only
     * takes access away). Works on revoked agents too; idempotent — a wallet
     * that was not granted is already withdrawn.
     */
    async withdraw(userId: string, agentId: string, address: string, meta: RequestMeta = {}): Promise<void> {
      await db.transaction(async (trx) => {
        const agent = await findOwnAgent(trx, userId, agentId);
        if (!agent) throw notFound('agent');
        const wallet = await findWalletForUser(trx, userId, address);
        if (!wallet) throw notFound('wallet');
        if (!(await withdrawWallet(trx, agentId, wallet.id))) return;
        await audit.append(
          {
            action: WALLET_AUDIT.withdrawn,
            actorType: 'user',
            actorId: userId,
            subjectType: 'wallet',
            subjectId: wallet.id,
            ip: meta.ip,
            requestId: meta.requestId,
            data: { agent_id: agentId, address: wallet.address },
          },
          trx,
        );
      });
    },
  };
}

/** For routes: a wrong-principal answer for the load_wallet form meant for the other kind of caller. */
export const wrongLoadForm = (caller: 'user' | 'agent') =>
  new AppError(
    'wrong_principal',
    caller === 'user'
      ? 'users load a wallet with password, mfa_code and address; the empty form is for agents'
      : 'agents load their granted wallets with an empty body; password, mfa_code and address are for users',
  );
