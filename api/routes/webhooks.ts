/**
 * Agent webhooks (docs/http-contract.md, "Webhooks"): `POST /api/webhooks {url}` → 201
 * with the secret (shown once), `GET /api/webhooks`, `DELETE
 * /api/webhooks/:id` → 204. Agents only (an API key); a user token gets 403.
 */
import { defineRoute, type AnyRoute } from '../http/route';
import { CreatedWebhook, createWebhookBody, WebhookIdParams, WebhookList, type WebhookService } from '../../domains/webhooks';

export function webhookRoutes(deps: { webhooks: WebhookService }): AnyRoute[] {
  const { webhooks } = deps;
  const tags = ['webhooks'];
  return [
    defineRoute({
      method: 'POST',
      path: '/api/webhooks',
      auth: 'agent',
      summary:
        'Register a callback for status changes of your transactions. Each delivery is a signed JSON POST (X-Countersign-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + raw body)>). The secret is shown once. At most 10 per agent (then 409 invalid_state, reason webhook_limit_reached). A URL whose host does not resolve, or resolves to a non-public address, is a 400; in development and tests, so is a loopback port of the stack itself.',
      tags,
      body: createWebhookBody(webhooks.policy),
      responses: { 201: CreatedWebhook },
      errors: [409],
      handler: async ({ principal, body, ip, requestId }) => ({ status: 201, body: await webhooks.create(principal.agentId, body.url, { ip, requestId }) }),
    }),
    defineRoute({
      method: 'GET',
      path: '/api/webhooks',
      auth: 'agent',
      summary: 'Your webhooks (never their secrets)',
      tags,
      responses: { 200: WebhookList },
      handler: async ({ principal }) => ({ status: 200, body: await webhooks.list(principal.agentId) }),
    }),
    defineRoute({
      method: 'DELETE',
      path: '/api/webhooks/:id',
      auth: 'agent',
      summary: 'Delete one of your webhooks; pending deliveries to it stop (404 for unknown and for another agent’s)',
      tags,
      params: WebhookIdParams,
      responses: { 204: null },
      handler: async ({ principal, params, ip, requestId }) => {
        await webhooks.remove(principal.agentId, params.id, { ip, requestId });
        return { status: 204 };
      },
    }),
  ];
}
