/** Serves the built web app (web/dist) at `/`; API paths are never shadowed. */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Context, Next } from 'koa';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

const FALLBACK_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Countersign</title></head>
<body><h1>Countersign</h1><p>The web app is not built. Run <code>npm run build:web</code>. The API is at <a href="/openapi.json">/openapi.json</a>.</p></body></html>`;

export function serveWebApp(root: string) {
  const resolvedRoot = path.resolve(root);
  return async (ctx: Context, next: Next) => {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || ctx.path.startsWith('/api/')) return next();
    const relative = ctx.path === '/' ? 'index.html' : decodeSafe(ctx.path.slice(1));
    if (relative === undefined) return next();
    const file = path.resolve(resolvedRoot, relative);
    if (!file.startsWith(resolvedRoot + path.sep)) return next();
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) {
      if (ctx.path === '/') {
        ctx.type = 'text/html; charset=utf-8';
        ctx.body = FALLBACK_PAGE;
        return;
      }
      return next();
    }
    ctx.type = TYPES[path.extname(file)] ?? 'application/octet-stream';
    ctx.length = info.size;
    // Hashed asset names can be cached for long; index.html never.
    if (relative.startsWith('assets/')) ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
    ctx.body = ctx.method === 'HEAD' ? null : createReadStream(file);
  };
}

function decodeSafe(p: string): string | undefined {
  try {
    const decoded = decodeURIComponent(p);
    return decoded.includes('\0') ? undefined : decoded;
  } catch {
    return undefined;
  }
}
