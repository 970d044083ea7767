import { z } from 'zod';
import { defineRoute } from '../http/route';

/** A named dependency check; resolves when healthy, rejects (with a safe message) otherwise. */
export type ReadinessChecks = Record<string, () => Promise<void>>;

const CHECK_TIMEOUT_MS = 3_000;

export async function runReadiness(checks: ReadinessChecks) {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        await withTimeout(check(), CHECK_TIMEOUT_MS);
        return [name, { status: 'ok' }] as const;
      } catch (err) {
        // The body names the dependency, not its address or credentials.
        return [name, { status: 'error', error: safeMessage(err) }] as const;
      }
    }),
  );
  const ready = entries.every(([, result]) => result.status === 'ok');
  return { ready, checks: Object.fromEntries(entries) };
}

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

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out')), ms);
    }),
  ]);
}

function safeMessage(err: unknown): string {
  if (err instanceof Error && err.message === 'timed out') return 'timed out';
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^[A-Z_]+$/.test(code) ? code.toLowerCase() : 'unreachable';
}
