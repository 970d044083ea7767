/**
 * The one place errors become HTTP answers: `{"error":{"code","message","hint"}}`
 * (plus `details` / `reason` where docs/http-contract.md says; `hint` is one sentence
 * telling the caller what to do next, lib/errors.ts). A 5xx body never carries
 * internals; the request id travels in the X-Request-Id header, not the body,
 * so two identical failures have identical bodies.
 */
import type { Context, Next } from 'koa';
import { z } from 'zod';
import { AppError, errorHint, unavailable, type ErrorCode } from '../../lib/errors';
import type { Logger } from '../../lib/logger';

export function errorBody(code: ErrorCode, message: string, extra?: Record<string, unknown>, hint: string = errorHint(code)) {
  return { error: { code, message, ...(extra ?? {}), hint } };
}

export function errorMiddleware(logger: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (err) {
      const appError = toAppError(err);
      if (appError.status >= 500) {
        // Log the cause by name and code only: driver errors can carry SQL parameters.
        logger.error({ requestId: ctx.state.requestId, err: describeForLog(err) }, 'request failed');
      }
      ctx.status = appError.status;
      for (const [name, value] of Object.entries(appError.headers ?? {})) ctx.set(name, value);
      ctx.body = errorBody(appError.code, appError.message, appError.extra, appError.hint);
    }
  };
}

export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof z.ZodError) {
    return new AppError('invalid_request', 'the request is not valid', { extra: { details: zodDetails(err) } });
  }
  // A dependency that is down is a 503 the client may retry, not a 500 (which one goes to the log).
  if (isDependencyDown(err)) return unavailable();
  return new AppError('internal', 'internal error');
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * PostgreSQL unreachable, restarting or shutting down (SQLSTATE class 08 and
 * 57P0x), the knex pool timing out while it is away, or a socket error.
 */
export function isDependencyDown(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth += 1) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || /^08/.test(code) || /^57P0[1-3]$/.test(code))) return true;
    const name = (e as { name?: unknown }).name;
    if (name === 'KnexTimeoutError') return true;
    const message = e instanceof Error ? e.message : '';
    if (/Connection terminated|connection timeout|Client has encountered a connection error/i.test(message)) return true;
  }
  return false;
}

export function zodDetails(error: z.ZodError) {
  return error.issues.flatMap((issue) => issueDetails(issue, []));
}

type Issue = z.core.$ZodIssue;
type Detail = { field: string; message: string };

/**
 * One detail per field. A union that matched no branch (e.g. the request kinds of
 * prepare_transaction) reports the branch the input came closest to — not a bare
 * "Invalid input" — so an unknown or missing field is still named (docs/http-contract.md:
 * 400 `details` name the fields).
 */
function issueDetails(issue: Issue, prefix: PropertyKey[]): Detail[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const branches = issue.errors.map((branch) => branch.flatMap((inner) => issueDetails(inner, path)));
    // Fewest complaints wins; a branch refused on its literal discriminator ("kind") is a poor match.
    const score = (branch: Issue[], details: Detail[]) => details.length + (branch.some((i) => i.code === 'invalid_value') ? 1000 : 0);
    let best = 0;
    for (let i = 1; i < branches.length; i++) if (score(issue.errors[i]!, branches[i]!) < score(issue.errors[best]!, branches[best]!)) best = i;
    return branches[best]!;
  }
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ field: [...path, key].map(String).join('.'), message: 'unknown field' }));
  }
  return [{ field: path.map(String).join('.') || '(body)', message: issue.message }];
}

function describeForLog(err: unknown) {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, code: typeof code === 'string' ? code : undefined, message: err.message.slice(0, 200), stack: err.stack?.split('\n').slice(0, 6).join('\n') };
  }
  return { name: typeof err };
}
