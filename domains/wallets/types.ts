import type { Db } from '../../lib/db';
import type { Clock } from '../../lib/clock';
import type { Logger } from '../../lib/logger';
import type { Config } from '../../config/env';
import type { KeyStore } from '../keystore';
import type { AuditLog, RequestMeta } from '../audit';
import type { MfaService } from '../mfa';
import type { UserService } from '../users';

/** Where a request came from (domains/audit: one definition for every domain). */
export type { RequestMeta };

/** What the wallet domain needs from the chain domain, in its own words (domains/wallets/chain.ts binds it). */
export interface WalletChain {
  /** Configured chain ids, ascending. */
  chainIds(): number[];
  nativeBalance(chainId: number, address: string): Promise<bigint>;
  /** The chain's pending transaction count for `address`. */
  pendingNonce(chainId: number, address: string): Promise<number>;
  /** One entry per distinct token; a token that does not answer has nulls, a network failure throws. */
  tokenBalances(chainId: number, owner: string, tokens: readonly string[]): Promise<TokenBalanceView[]>;
}


export interface WalletServiceDeps {
  db: Db;
  clock: Clock;
  logger: Pick<Logger, 'warn' | 'error'>;
  config: Pick<Config, 'CHAIN_ID'>;
  /**
   * Only `encrypt`: the API's credential cannot decrypt a wallet key, and this
   * service has no reason to ask (docs/architecture.md, "Key separation").
   */
  keystore: Pick<KeyStore, 'encrypt' | 'describe'>;
  chain: WalletChain;
  /** Password re-authentication: resolves, or throws 403 password_invalid. */
  passwords: Pick<UserService, 'verifyPassword'>;
  /** The one TOTP gate. */
  mfa: Pick<MfaService, 'verifyAndConsume'>;
  audit: Pick<AuditLog, 'append'>;
}

/** A wallet as `GET /api/wallets` shows it. */
export interface WalletView {
  wallet_id: string;
  /** EIP-55. */
  address: string;
  label: string | null;
  /** Native balance in wei, a decimal string. */
  balance: string;
  chain_id: number;
  created_at: string;
  frozen: boolean;
}

export interface TokenBalanceView {
  /** EIP-55. */
  token: string;
  /** Sanitised; null when the token does not answer. */
  symbol: string | null;
  decimals: number | null;
  /** Base units, a decimal string; null when the token does not answer. */
  balance: string | null;
}

export interface WalletDetailView extends WalletView {
  tokens: TokenBalanceView[];
}

export interface CreatedWallet {
  wallet_id: string;
  address: string;
  label: string | null;
  created_at: string;
}

export interface LoadedWallet {
  address: string;
  balance: string;
  /** The chain's pending nonce, a decimal string. */
  nonce: string;
  chain_id: number;
}

export interface AgentLoadedWallet {
  address: string;
  balance: string;
  chain_id: number;
  label: string | null;
}

export interface AgentGrants {
  agent_id: string;
  /** Every wallet now granted to the agent, EIP-55, sorted. */
  wallets: string[];
}

/** Labels are the owner's own words, but agents see them too: stored sanitised, at most this many code points. */
export const MAX_LABEL_LENGTH = 100;

/** ERC-20 balances per `GET /api/wallets/:address` request. */
export const MAX_TOKENS_PER_REQUEST = 20;

export const WALLET_AUDIT = {
  created: 'wallet.created',
  loaded: 'wallet.loaded',
  granted: 'agent.wallet_granted',
  withdrawn: 'agent.wallet_withdrawn',
} as const;

/** `mfa_uses.purpose` of a grant. */
export const GRANT_MFA_PURPOSE = 'grant_wallet';
export const LOAD_MFA_PURPOSE = 'load_wallet';
