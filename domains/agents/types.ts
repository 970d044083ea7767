import type { Db } from '../../lib/db';
import type { Clock } from '../../lib/clock';
import type { Config } from '../../config/env';
import type { AuditLog } from '../audit';
import type { MfaService } from '../mfa';

export interface AgentRow {
  id: string;
  user_id: string;
  name: string;
  key_id: string;
  key_digest: Buffer;
  expires_at: Date | null;
  revoked_at: Date | null;
  /** Set by an operator (`npm run admin -- freeze agent`): no API key use, no signing of its requests. */
  frozen_at: Date | null;
  frozen_reason: string | null;
  last_used_at: Date | null;
  created_at: Date;
}

/** What `GET /api/agents` shows: never a key or its digest. */
export interface AgentView {
  agent_id: string;
  name: string;
  /** EIP-55 checksummed. */
  wallets: string[];
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  frozen_at: string | null;
  last_used_at: string | null;
}

export interface CreatedAgent {
  agent_id: string;
  name: string;
  /** Shown once. */
  api_key: string;
  created_at: string;
  expires_at: string | null;
  wallets: string[];
}

/** Where a request came from (domains/audit: one definition for every domain). */
export type { RequestMeta } from '../audit';

export interface AgentServiceDeps {
  db: Db;
  clock: Clock;
  config: Pick<Config, 'API_KEY_HMAC_KEY'>;
  mfa: Pick<MfaService, 'verifyAndConsume'>;
  audit: Pick<AuditLog, 'append'>;
}

export const AGENT_AUDIT = {
  created: 'agent.created',
  revoked: 'agent.revoked',
} as const;

/** `last_used_at` is written at most this often per key. */
export const LAST_USED_RESOLUTION_MS = 60_000;
