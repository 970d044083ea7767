/**
 * Agent webhooks, API side: create (secret generated here, shown once, stored
 * only as key-store ciphertext), list (never the secret), delete.
 *
 * Security invariants:
 * * The secret's plaintext exists in this process only to be encrypted and
 *   returned once; the Buffer handed to the key store is zeroed. It never
 *   reaches a log, an error or the audit trail.
 * * The ciphertext is bound to `webhook:<webhook id>` (key-store context), so
 *   it cannot be moved onto another webhook.
 * * An agent only ever sees or deletes its own webhooks; another agent's id
 *   answers 404 exactly like an unknown one.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../../config/env';
import type { Clock } from '../../lib/clock';
import type { Db } from '../../lib/db';
import { AppError, invalidRequest, notFound, unavailable } from '../../lib/errors';
import type { AuditLog } from '../audit';
import { isKeyStoreError, type KeyStore } from '../keystore';
import { countActiveWebhooks, deleteWebhook, insertWebhook, listActiveWebhooks, lockAgent } from './dal';
import { resolveWebhookTarget, systemLookup, type LookupFn } from './resolve';
import { generateWebhookSecret } from './signature';
import { MAX_WEBHOOKS_PER_AGENT, type CreatedWebhook, type WebhookList, type WebhookRow, type WebhookView } from './types';
import { checkWebhookUrl, webhookUrlMode } from './url-policy';

export interface WebhookServiceDeps {
  db: Db;
  keystore: Pick<KeyStore, 'encrypt'>;
  clock: Clock;
  config: Pick<Config, 'production' | 'WEBHOOK_ALLOW_LOOPBACK'>;
  audit?: Pick<AuditLog, 'append'>;
  /** DNS (tests inject answers). */
  lookup?: LookupFn;
  maxPerAgent?: number;
}

/** Where a request came from (domains/audit: one definition for every domain). */
import type { RequestMeta } from '../audit';
export type { RequestMeta };

export type WebhookService = ReturnType<typeof createWebhookService>;

const limitReached = (max: number) =>
  new AppError('invalid_state', `an agent can have at most ${max} webhooks; delete one first`, { extra: { reason: 'webhook_limit_reached' } });

const urlInvalid = (problems: string[]) =>
  invalidRequest(
    'the webhook URL is not allowed',
    problems.map((message) => ({ field: 'url', message, in: 'body' })),
  );

export function toWebhookView(row: Pick<WebhookRow, 'id' | 'url' | 'created_at'>): WebhookView {
  return { webhook_id: row.id, url: row.url, created_at: row.created_at.toISOString() };
}

export function createWebhookService(deps: WebhookServiceDeps) {
  const mode = webhookUrlMode(deps.config);
  const lookup = deps.lookup ?? systemLookup;
  const max = deps.maxPerAgent ?? MAX_WEBHOOKS_PER_AGENT;

  return {
    mode,

    async create(agentId: string, rawUrl: string, meta: RequestMeta = {}): Promise<CreatedWebhook> {
      const checked = checkWebhookUrl(rawUrl, mode);
      if (!checked.ok) throw urlInvalid(checked.problems);
      const resolved = await resolveWebhookTarget(checked.target, mode, lookup, 5_000);
      if (!resolved.ok) throw urlInvalid([resolved.problem]);
      // Cheap pre-check before a key-store round trip; the count under the lock below decides.
      if ((await countActiveWebhooks(deps.db, agentId)) >= max) throw limitReached(max);

      const id = randomUUID();
      const secret = generateWebhookSecret();
      const plaintext = Buffer.from(secret, 'utf8');
      let ciphertext: string;
      try {
        ciphertext = await deps.keystore.encrypt('webhook', id, plaintext);
      } catch (err) {
        if (isKeyStoreError(err)) throw unavailable();
        throw err;
      } finally {
        plaintext.fill(0);
      }

      const createdAt = deps.clock.now();
      await deps.db.transaction(async (trx) => {
        if (!(await lockAgent(trx, agentId))) throw notFound('agent');
        if ((await countActiveWebhooks(trx, agentId)) >= max) throw limitReached(max);
        await insertWebhook(trx, { id, agent_id: agentId, url: checked.target.href, secret_ciphertext: ciphertext, created_at: createdAt });
        await deps.audit?.append(
          {
            action: 'webhook.created',
            actorType: 'agent',
            actorId: agentId,
            subjectType: 'webhook',
            subjectId: id,
            ip: meta.ip,
            requestId: meta.requestId,
            data: { host: checked.target.hostname },
          },
          trx,
        );
      });
      return { webhook_id: id, url: checked.target.href, secret, created_at: createdAt.toISOString() };
    },

    async list(agentId: string): Promise<WebhookList> {
      return { webhooks: (await listActiveWebhooks(deps.db, agentId)).map(toWebhookView) };
    },

    async remove(agentId: string, webhookId: string, meta: RequestMeta = {}): Promise<void> {
      await deps.db.transaction(async (trx) => {
        if (!(await deleteWebhook(trx, agentId, webhookId, deps.clock.now()))) throw notFound('webhook');
        await deps.audit?.append(
          { action: 'webhook.deleted', actorType: 'agent', actorId: agentId, subjectType: 'webhook', subjectId: webhookId, ip: meta.ip, requestId: meta.requestId },
          trx,
        );
      });
    },
  };
}
