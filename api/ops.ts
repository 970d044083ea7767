/**
 * The API's operations listener (OPS_HOST:OPS_PORT, loopback by default — never
 * the public API port):
 *
 *   GET  /metrics       Prometheus text (lib/metrics.ts); no credential, like any scrape target
 *   POST /codec/encode  Temporal's remote codec protocol: {"payloads":[{metadata, data}]} both ways,
 *   POST /codec/decode  bytes base64 — for the Temporal UI and `temporal … --codec-endpoint`
 *
 * The codec server decrypts workflow histories, so it is for operators only:
 * `Authorization: Bearer <CODEC_OPERATOR_TOKEN>` (compared in constant time).
 * A user's JWT or an agent's API key never opens it, and with no token
 * configured every request is refused. Browsers may call it only from
 * CODEC_CORS_ORIGINS (the Temporal UI). Answers are JSON; errors are
 * `{"error":{"code","message"}}` like the public API's.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Server } from 'node:http';
import Koa, { type Context, type Next } from 'koa';
import getRawBody from 'raw-body';
import { z } from 'zod';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { AppError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { registry } from '../lib/metrics';
import { errorMiddleware } from './http/errors';

/** A page of history can carry many payloads (Temporal allows 2 MiB each); bounded all the same. */
export const CODEC_BODY_LIMIT_BYTES = 8 * 1024 * 1024;
const MAX_PAYLOADS = 10_000;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const base64 = z.string().max(CODEC_BODY_LIMIT_BYTES).regex(BASE64, 'expected base64');
const CodecBody = z
  .object({
    payloads: z
      .array(z.object({ metadata: z.record(z.string().max(256), base64).optional(), data: base64.optional() }).loose())
      .max(MAX_PAYLOADS),
  })
  .loose();

export interface OpsOptions {
  logger: Logger;
  codec: PayloadCodec;
  operatorToken: string | undefined;
  corsOrigins: readonly string[];
  /** Extra Prometheus text after the registry's (none for the API). */
  extraMetrics?: () => string;
}

export function createOpsApp(options: OpsOptions): Koa {
  const app = new Koa();
  const tokenDigest = options.operatorToken ? sha256(options.operatorToken) : undefined;

  app.use(errorMiddleware(options.logger));
  app.use(cors(options.corsOrigins));
  app.use(async (ctx) => {
    if (ctx.path === '/metrics') {
      if (ctx.method !== 'GET') throw methodNotAllowed(ctx, 'GET');
      ctx.set('Content-Type', registry.contentType);
      ctx.body = (await registry.metrics()) + (options.extraMetrics?.() ?? '');
      return;
    }
    const operation = ctx.path === '/codec/encode' ? 'encode' : ctx.path === '/codec/decode' ? 'decode' : undefined;
    if (!operation) throw new AppError('not_found', 'no such route');
    if (ctx.method !== 'POST') throw methodNotAllowed(ctx, 'POST');
    requireOperator(ctx, tokenDigest);
    const body = CodecBody.safeParse(await readBody(ctx));
    if (!body.success) throw new AppError('invalid_request', 'expected {"payloads":[{"metadata":{…},"data":"<base64>"}]}');
    const payloads = body.data.payloads.map(fromJson);
    let result: Payload[];
    try {
      result = await options.codec[operation](payloads);
    } catch (err) {
      // An unknown key or a tampered payload: the operator's input, not a server fault.
      options.logger.info({ operation, err: { name: (err as Error).name, message: (err as Error).message } }, 'codec request refused');
      throw new AppError('invalid_request', `the payloads could not be ${operation}d`);
    }
    options.logger.info({ operation, payloads: payloads.length }, 'codec request');
    ctx.body = { payloads: result.map(toJson) };
  });
  return app;
}

export async function listenOps(app: Koa, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host);
    server.once('error', reject);
    server.once('listening', () => resolve(server));
  });
}

function requireOperator(ctx: Context, tokenDigest: Buffer | undefined) {
  const presented = /^Bearer (\S{1,512})$/.exec(ctx.get('authorization'))?.[1];
  // Digests have one length, so the comparison is constant-time whatever was sent.
  if (!tokenDigest || !presented || !timingSafeEqual(sha256(presented), tokenDigest)) {
    throw new AppError('unauthenticated', tokenDigest ? 'an operator token is required' : 'the codec server has no operator token configured (CODEC_OPERATOR_TOKEN)');
  }
}

function cors(origins: readonly string[]) {
  const allowed = new Set(origins);
  return async (ctx: Context, next: Next) => {
    const origin = ctx.get('origin');
    const ok = origin !== '' && allowed.has(origin);
    if (ok) {
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.set('Access-Control-Allow-Credentials', 'true');
      ctx.vary('Origin');
    }
    if (ctx.method === 'OPTIONS' && ctx.path.startsWith('/codec/')) {
      if (!ok) throw new AppError('wrong_principal', 'this origin may not call the codec server');
      ctx.set('Access-Control-Allow-Methods', 'POST, OPTIONS');
      ctx.set('Access-Control-Allow-Headers', 'Authorization, Content-Type, X-Namespace');
      ctx.set('Access-Control-Max-Age', '600');
      ctx.status = 204;
      return;
    }
    await next();
  };
}

async function readBody(ctx: Context): Promise<unknown> {
  const type = (ctx.get('content-type') || '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new AppError('unsupported_media_type', 'the request body must be application/json');
  let raw: Buffer;
  try {
    raw = await getRawBody(ctx.req, { limit: CODEC_BODY_LIMIT_BYTES });
  } catch (err) {
    if ((err as { type?: string }).type === 'entity.too.large') throw new AppError('payload_too_large', `the request body is larger than ${CODEC_BODY_LIMIT_BYTES} bytes`);
    throw new AppError('invalid_request', 'the request body could not be read');
  }
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new AppError('invalid_json', 'the request body is not valid JSON');
  }
}

function methodNotAllowed(ctx: Context, allow: string) {
  ctx.set('Allow', allow);
  return new AppError('method_not_allowed', 'this method is not allowed on this path');
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

function fromJson(payload: JsonPayload): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value, 'base64')])),
    data: Buffer.from(payload.data ?? '', 'base64'),
  };
}

function toJson(payload: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value ?? new Uint8Array()).toString('base64')])),
    data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64'),
  };
}
