/**
 * Builds the Koa application from its parts. Everything it needs is passed in,
 * so tests build the same app in-process against the real services with an
 * injected clock.
 */
import { randomUUID } from 'node:crypto';
import Koa from 'koa';
import { z } from 'zod';
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from '../lib/logger';
import { withLogContext } from '../lib/log-context';
import { httpRequestDuration } from '../lib/metrics';
import { httpServerSpans } from '../lib/tracing';
import type { Clock } from '../lib/clock';
import { errorMiddleware } from './http/errors';
import { securityHeaders } from './http/security-headers';
import { buildRouter, routingFallback } from './http/router';
import { buildOpenApi } from './http/openapi';
import { createRateLimiter, type RateLimitStore } from './http/rate-limit';
import { serveWebApp } from './http/static';
import type { Authenticator } from './http/principal';
import type { AnyRoute } from './http/route';
import type { ReadinessChecks } from '../lib/readiness';
import { healthRoutes } from './routes/health';

const OpenApiDocument = z.object({ openapi: z.string(), info: z.object({ title: z.string(), version: z.string() }).loose(), paths: z.record(z.string(), z.unknown()) }).loose();

import { WEB_DIST } from '../lib/app-paths';

export { WEB_DIST };

export interface AppOptions {
  logger: Logger;
  clock: Clock;
  authenticator: Authenticator;
  readiness: ReadinessChecks;
  routes: AnyRoute[];
  version: string;
  trustProxy: boolean;
  /** PUBLIC_URL: cookie-authenticated writes may come from its origin (besides the request's own). */
  publicUrl?: string | undefined;
  limits: { perMinute: number; agentPerMinute: number };
  /** Where API replicas add up their rate-limit counts; without it each process counts alone. */
  rateLimitStore?: RateLimitStore;
  webDist?: string;
  /** Set when tracing is on (lib/tracing.ts): one server span per request. */
  tracer?: Tracer;
}

export function createApp(options: AppOptions): Koa {
  const app = new Koa({ proxy: options.trustProxy });
  // What reaches here is a connection that failed under a response (errorMiddleware answers everything
  // else) — e.g. a client cut off at the request timeout: worth a line, not Koa's stack trace on stderr.
  app.on('error', (err: { code?: unknown; name?: unknown }) => {
    options.logger.info({ code: typeof err.code === 'string' ? err.code : undefined, name: typeof err.name === 'string' ? err.name : undefined }, 'client connection error');
  });
  // The document describes itself too: every route the router serves is in it.
  const served: { openapi?: unknown } = {};
  const routes: AnyRoute[] = [
    ...healthRoutes(options.readiness),
    ...options.routes,
    {
      method: 'GET',
      path: '/openapi.json',
      auth: 'public',
      summary: 'This OpenAPI document',
      tags: ['meta'],
      responses: { 200: OpenApiDocument },
      rateLimit: 'none',
      handler: async () => ({ status: 200, body: served.openapi }),
    },
  ];
  served.openapi = buildOpenApi(routes, { version: options.version });
  const router = buildRouter(routes, {
    auth: options.authenticator,
    rateLimiter: createRateLimiter(options.clock, { ...(options.rateLimitStore ? { store: options.rateLimitStore } : {}), logger: options.logger }),
    limits: options.limits,
    trustProxy: options.trustProxy,
    publicOrigin: options.publicUrl ? new URL(options.publicUrl).origin : undefined,
  });

  app.use(async (ctx, next) => {
    const incoming = ctx.get('x-request-id');
    const requestId = /^[A-Za-z0-9._-]{8,64}$/.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    // Everything logged while serving the request carries its ids (the router adds the principal and transaction).
    await withLogContext({ requestId }, async () => {
      try {
        await next();
      } finally {
        const seconds = (performance.now() - started) / 1000;
        // The route template (bounded); requests no route matched share one label.
        const route = typeof ctx.state.route === 'string' ? ctx.state.route : ctx.path.startsWith('/api/') ? 'unmatched' : 'web';
        httpRequestDuration.observe({ method: ctx.method, route, status: String(ctx.status) }, seconds);
        // Refusals (4xx) are expected answers: info, like every request line; 5xx are logged as errors by errorMiddleware.
        const traceId = typeof ctx.state.traceId === 'string' ? { traceId: ctx.state.traceId } : {};
        options.logger.info({ method: ctx.method, route, path: ctx.path, status: ctx.status, ms: Math.round(seconds * 1000), ...traceId }, 'request');
      }
    });
  });
  if (options.tracer) app.use(httpServerSpans(options.tracer));
  app.use(securityHeaders);
  app.use(errorMiddleware(options.logger));
  app.use(serveWebApp(options.webDist ?? WEB_DIST));
  app.use(router.routes());
  app.use(routingFallback(router));
  return app;
}
