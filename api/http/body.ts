/**
 * Reads a JSON body: 413 past the limit, 415 for a non-JSON body, 400 for
 * broken JSON. An empty body (any or no Content-Type) reads as `undefined`,
 * so routes without a documented body accept it (docs/http-contract.md).
 */
import type { Context } from 'koa';
import getRawBody from 'raw-body';
import { AppError } from '../../lib/errors';

/**
 * 64 KiB, as the accounts issue fixes it: a guard against memory exhaustion
 * checked before any parsing. Every schema bound (ABIs up to 200 fragments,
 * calldata up to 16 KiB, 64 arguments) keeps an ordinary request far below it;
 * a body above it is a 413 whatever it holds.
 */
export const BODY_LIMIT_BYTES = 64 * 1024;

export async function readJsonBody(ctx: Context): Promise<unknown> {
  const declared = Number(ctx.get('content-length') || '0');
  if (declared > BODY_LIMIT_BYTES) throw tooLarge();
  let raw: Buffer;
  try {
    raw = await getRawBody(ctx.req, { limit: BODY_LIMIT_BYTES });
  } catch (err) {
    if ((err as { type?: string }).type === 'entity.too.large') throw tooLarge();
    throw new AppError('invalid_request', 'the request body could not be read');
  }
  if (raw.length === 0) return undefined;
  const type = (ctx.get('content-type') || '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) {
    throw new AppError('unsupported_media_type', 'the request body must be application/json');
  }
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new AppError('invalid_json', 'the request body is not valid JSON');
  }
}

const tooLarge = () => new AppError('payload_too_large', `the request body is larger than ${BODY_LIMIT_BYTES} bytes`);
