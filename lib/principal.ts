/**
 * Who is calling, as the HTTP layer authenticated them. Shared by the API and
 * the domains (a domain never imports the HTTP layer): a human user (JWT or
 * session cookie) or an agent (API key).
 */
export interface UserPrincipal {
  type: 'user';
  userId: string;
  /** Token id, for logout/revocation. */
  jti: string;
  expiresAt: Date;
  /** Cookie-authenticated writes must carry the CSRF header. */
  via: 'bearer' | 'cookie';
}

export interface AgentPrincipal {
  type: 'agent';
  agentId: string;
  /** The agent's owner. */
  userId: string;
}

export type Principal = UserPrincipal | AgentPrincipal;

/** What the HTTP layer needs from the accounts domain to know who is calling. */
export interface Authenticator {
  /** A verified, unrevoked JWT → its user; otherwise undefined. */
  verifyUserToken(token: string): Promise<Omit<UserPrincipal, 'via'> | undefined>;
  /** A valid, unrevoked, unexpired API key → its agent; otherwise undefined. */
  verifyApiKey(key: string): Promise<AgentPrincipal | undefined>;
}

