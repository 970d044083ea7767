/**
 * Turns route declarations into a Koa router that checks, in docs/http-contract.md's
 * order: routing (404 / 405 with Allow) → authentication (401) → principal
 * type (403) → body (413, 415, 400) → the handler (object lookup, factors,
 * state, idempotency).
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { AppError } from '../../lib/errors';
import { addLogContext, type LogContext } from '../../lib/log-context';
import type { RateLimiter } from './rate-limit';
import { readJsonBody } from './body';
import { errorBody, zodDetails } from './errors';
import { checkCsrf, requireAuth, resolvePrincipal } from './authenticate';
import type { Authenticator, Principal } from './principal';
import type { AnyRoute } from './route';

export interface RouterDeps {
  auth: Authenticator;
  rateLimiter: RateLimiter;
  limits: { perMinute: number; agentPerMinute: number };
  trustProxy: boolean;
  /** PUBLIC_URL's origin: cookie-authenticated writes may come from it as well as from the request's own origin. */
  publicOrigin?: string | undefined;
}

export function buildRouter(routes: AnyRoute[], deps: RouterDeps): Router {
  const router = new Router();
  for (const route of routes) {
    const method = route.method.toLowerCase() as 'get' | 'post' | 'put' | 'delete';
    router[method](route.path, async (ctx: Context) => {
      await runRoute(route, ctx, deps);
    });
  }
  return router;
}

export function clientIp(ctx: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const forwarded = ctx.get('x-forwarded-for').split(',')[0]?.trim();
    if (forwarded) return forwarded;
  }
  return ctx.req.socket.remoteAddress ?? 'unknown';
}

async function runRoute(route: AnyRoute, ctx: Context, deps: RouterDeps) {
  // The template, not the path: request metrics and spans stay bounded however many ids there are.
  ctx.state.route = route.path;
  const ip = clientIp(ctx, deps.trustProxy);
  applyRateLimit(route, deps, ip, undefined);
  // Public routes ignore credentials: a stale token must not stand in the way of logging in.
  const principal = route.auth === 'public' ? undefined : await resolvePrincipal(ctx, deps.auth);
  if (principal) addLogContext(principal.type === 'agent' ? { agentId: principal.agentId, userId: principal.userId } : { userId: principal.userId });
  requireAuth(route.auth, principal);
  checkCsrf(ctx, principal, deps.auth, deps.publicOrigin);
  applyRateLimit(route, deps, ip, principal);

  const rawBody = route.method === 'GET' ? undefined : await readJsonBody(ctx);
  // Only an absent body reads as {}: a JSON `null` (or any other non-object) is validated as sent.
  const body = route.body ? parse(route.body, rawBody === undefined ? {} : rawBody, 'body') : undefined;
  if (!route.body && rawBody !== undefined && !isEmptyObject(rawBody)) {
    throw new AppError('invalid_request', 'this route takes no request body', { extra: { details: [{ field: '(body)', message: 'unexpected body' }] } });
  }
  const query = route.query ? parse(route.query, { ...ctx.query }, 'query') : undefined;
  const params = route.params ? parse(route.params, { ...ctx.params }, 'path') : undefined;
  const headerParams = route.headers ? parse(route.headers, declaredHeaders(route.headers, ctx), 'header') : undefined;
  const pathTransaction = route.path.startsWith('/api/transactions/:id') ? { transaction_id: (params as { id?: unknown } | undefined)?.id } : undefined;
  addLogContext(transactionsNamed(body, pathTransaction, query));

  const result = await route.handler({ principal, body, query, params, headerParams, ip, requestId: ctx.state.requestId as string, headers: ctx.headers, koa: ctx });
  if (route.raw) return;
  // A new request's id is known from the answer (prepare, transfers).
  addLogContext(transactionsNamed(result.body));
  ctx.status = result.status;
  for (const [name, value] of Object.entries(result.headers ?? {})) ctx.set(name, value);
  if (result.body !== undefined) ctx.body = result.body;
}

function applyRateLimit(route: AnyRoute, deps: RouterDeps, ip: string, principal: Principal | undefined) {
  const bucket = route.rateLimit ?? 'default';
  if (bucket === 'none') return;
  if (bucket === 'login' || bucket === 'register') {
    // Per client address, before any expensive work (argon2), whatever credentials ride along.
    if (!principal) deps.rateLimiter.hit(`${bucket}:${ip}`, deps.limits.perMinute);
  } else if (principal && bucket === 'default') {
    const key = principal.type === 'agent' ? `agent:${principal.agentId}` : `user:${principal.userId}`;
    deps.rateLimiter.hit(key, principal.type === 'agent' ? deps.limits.agentPerMinute : deps.limits.perMinute * 10);
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The transaction ids a validated request (or its answer) names, for the log context. */
function transactionsNamed(...sources: unknown[]): LogContext {
  for (const source of sources) {
    if (typeof source !== 'object' || source === null) continue;
    const { transaction_id: id, transaction_ids: ids } = source as { transaction_id?: unknown; transaction_ids?: unknown };
    if (typeof id === 'string' && UUID.test(id)) return { transactionId: id };
    if (Array.isArray(ids)) return { transactionIds: ids.filter((x): x is string => typeof x === 'string' && UUID.test(x)).slice(0, 25) };
  }
  return {};
}

function parse<T>(schema: z.ZodType<T>, value: unknown, where: 'body' | 'query' | 'path' | 'header'): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const details = zodDetails(result.error).map((d) => ({ ...d, in: where }));
  const what = where === 'header' ? 'a request header' : `the request ${where}`;
  throw new AppError('invalid_request', `${what} is not valid`, { extra: { details } });
}

/**
 * The declared headers by canonical name. An absent header is left out; a present
 * but empty one is kept, so its schema refuses it (`Idempotency-Key:` with no value
 * is a 400, not a request without a key).
 */
function declaredHeaders(schema: z.ZodType, ctx: Context): Record<string, string> {
  const names = schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
  const out: Record<string, string> = {};
  for (const name of names) {
    if (ctx.headers[name.toLowerCase()] !== undefined) out[name] = ctx.get(name);
  }
  return out;
}

const isEmptyObject = (value: unknown) => typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0;

/**
 * 404 for unknown paths, 405 (with Allow) for a known path and another method —
 * as JSON error bodies like every other answer. Runs after the router.
 */
export function routingFallback(router: Router) {
  const allowed = router.allowedMethods();
  return async (ctx: Context, next: () => Promise<unknown>) => {
    await allowed(ctx as Parameters<typeof allowed>[0], next);
    if (ctx.status === 405 || ctx.status === 501) {
      ctx.status = 405;
      ctx.body = errorBody('method_not_allowed', 'this method is not allowed on this path');
    } else if (ctx.status === 404 && ctx.body === undefined) {
      ctx.status = 404;
      ctx.body = errorBody('not_found', 'no such route');
    }
  };
}
