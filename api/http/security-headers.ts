import type { Context, Next } from 'koa';

/** A strict CSP and the usual hardening headers on every answer (pages and JSON alike). */
const HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=()',
  'Cache-Control': 'no-store',
};

export async function securityHeaders(ctx: Context, next: Next) {
  for (const [name, value] of Object.entries(HEADERS)) ctx.set(name, value);
  await next();
}

export function strictTransportSecurity(ctx: Context) {
  ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
}
