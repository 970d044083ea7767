import { z } from 'zod';
import { defineRoute } from '../http/route';
import { runReadiness, type ReadinessChecks } from '../../lib/readiness';

const CheckSchema = z.object({ status: z.enum(['ok', 'error']), error: z.string().optional() });
const ReadySchema = z.object({ status: z.enum(['ready', 'not_ready']), checks: z.record(z.string(), CheckSchema) });

export function healthRoutes(checks: ReadinessChecks) {
  return [
    defineRoute({
      method: 'GET',
      path: '/healthz',
      auth: 'public',
      summary: 'Liveness: the process is up',
      tags: ['meta'],
      rateLimit: 'none',
      responses: { 200: z.object({ status: z.literal('ok') }) },
      handler: async () => ({ status: 200, body: { status: 'ok' } }),
    }),
    defineRoute({
      method: 'GET',
      path: '/readyz',
      auth: 'public',
      summary: 'Readiness: PostgreSQL, Temporal, Vault and the chain RPC, each by name',
      tags: ['meta'],
      rateLimit: 'none',
      responses: { 200: ReadySchema, 503: ReadySchema },
      handler: async () => {
        const { ready, checks: results } = await runReadiness(checks);
        const headers: Record<string, string> = ready ? {} : { 'Retry-After': '5' };
        return { status: ready ? 200 : 503, body: { status: ready ? 'ready' : 'not_ready', checks: results }, headers };
      },
    }),
  ];
}


