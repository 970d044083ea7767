/**
 * Finds out who is calling. Agents: `X-API-Key` or `Authorization: Bearer cs_…`
 * (never the query string). Users: `Authorization: Bearer <JWT>` or the
 * httpOnly session cookie.
 *
 * Cookie-authenticated writes (anything but GET/HEAD) must pass two checks,
 * since the browser attaches the cookie whoever made the page:
 * * `X-CSRF-Token` equal to the token bound to *this* session — an HMAC of its
 *   token id under a server key, handed to the web app in the `cs_csrf`
 *   cookie at login. A value the attacker planted in that cookie (a sibling
 *   subdomain can set cookies) or the token of another session does not pass.
 * * The browser's own word on where the request comes from: `Sec-Fetch-Site`
 *   must be `same-origin` and `Origin` must be this API's origin when sent.
 *   (Non-browser clients send neither; they cannot be tricked cross-site.)
 * Bearer-token requests are not affected: no browser adds that header by itself.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import { AppError } from '../../lib/errors';
import {
  API_KEY_PREFIX,
  CSRF_HEADER,
  SESSION_COOKIE,
  type Authenticator,
  type Principal,
} from './principal';
import type { RouteAuth } from './route';

const unauthenticated = () => new AppError('unauthenticated', 'authentication required');

export async function resolvePrincipal(ctx: Context, auth: Authenticator): Promise<Principal | undefined> {
  if (hasKeyInQuery(ctx)) throw new AppError('unauthenticated', 'credentials in the query string are not accepted; use a header');
  // A credential header that is present counts even when empty: an empty X-API-Key beside a valid
  // token is a malformed credential (401), not an absent one that quietly falls through to the next.
  const apiKeyHeader = headerValue(ctx, 'x-api-key');
  const authorization = headerValue(ctx, 'authorization');
  if (apiKeyHeader !== undefined && authorization !== undefined) throw new AppError('unauthenticated', 'send one credential, not two');
  if (apiKeyHeader !== undefined) return agentOrThrow(await auth.verifyApiKey(apiKeyHeader));
  if (authorization !== undefined) {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (!match) throw new AppError('unauthenticated', 'the Authorization header must be "Bearer <token>"');
    const token = match[1]!;
    if (token.startsWith(API_KEY_PREFIX)) return agentOrThrow(await auth.verifyApiKey(token));
    const user = await auth.verifyUserToken(token);
    if (!user) throw new AppError('unauthenticated', 'the token is invalid, expired or revoked');
    return { ...user, via: 'bearer' };
  }
  const session = ctx.cookies.get(SESSION_COOKIE);
  if (session) {
    const user = await auth.verifyUserToken(session);
    if (!user) return undefined; // a stale cookie is the same as none
    return { ...user, via: 'cookie' };
  }
  return undefined;
}

function headerValue(ctx: Context, name: string): string | undefined {
  const value = ctx.headers[name];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : value;
}

function agentOrThrow(agent: Awaited<ReturnType<Authenticator['verifyApiKey']>>) {
  if (!agent) throw new AppError('unauthenticated', 'the API key is invalid, expired or revoked');
  return agent;
}

function hasKeyInQuery(ctx: Context): boolean {
  return Object.keys(ctx.query).some((name) => /^(api[_-]?key|access[_-]?token|token|jwt)$/i.test(name));
}

/** 401 without credentials, 403 wrong_principal for the wrong kind (docs/http-contract.md, order of checks). */
export function requireAuth(route: RouteAuth, principal: Principal | undefined): void {
  if (route === 'public') return;
  if (!principal) throw unauthenticated();
  if (route === 'user' && principal.type !== 'user') {
    throw new AppError('wrong_principal', 'this route is for users; an API key cannot call it');
  }
  if (route === 'agent' && principal.type !== 'agent') {
    throw new AppError('wrong_principal', 'this route is for agents; use an API key');
  }
}

/** The origins a cookie-authenticated write may come from: this request's own, and PUBLIC_URL's. */
export function sameOrigin(ctx: Context, publicOrigin: string | undefined): boolean {
  const fetchSite = ctx.get('sec-fetch-site');
  if (fetchSite && fetchSite !== 'same-origin') return false;
  const origin = ctx.get('origin');
  if (!origin) return true;
  // The request's own origin (TRUST_PROXY decides whether X-Forwarded-Proto/Host count); not Koa's ctx.origin, which is the Origin header.
  const own = `${ctx.protocol}://${ctx.host}`;
  return origin === own || (publicOrigin !== undefined && origin === publicOrigin);
}

export function checkCsrf(ctx: Context, principal: Principal | undefined, auth: Pick<Authenticator, 'csrfToken'>, publicOrigin?: string): void {
  if (!principal || principal.type !== 'user' || principal.via !== 'cookie') return;
  if (ctx.method === 'GET' || ctx.method === 'HEAD') return;
  if (!sameOrigin(ctx, publicOrigin)) throw new AppError('unauthenticated', 'a cookie-authenticated write must come from this site', { subject: 'cross_site' });
  const expected = Buffer.from(auth.csrfToken(principal.jti));
  const header = Buffer.from(ctx.get(CSRF_HEADER));
  const ok = header.length === expected.length && timingSafeEqual(header, expected);
  if (!ok) throw new AppError('unauthenticated', 'a cookie-authenticated write needs the X-CSRF-Token header of this session', { subject: 'csrf_token' });
}
