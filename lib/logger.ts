/**
 * Structured logs (pino): one JSON line per event, in every process. Each line
 * carries the ids of what it is about (lib/log-context.ts: request, user or
 * agent, transaction, workflow, activity) and, while a trace is recorded, its
 * trace and span ids. Redaction is a second line of defence: code must never
 * hand a secret to the logger in the first place.
 */
import { trace } from '@opentelemetry/api';
import { pino, type DestinationStream, type Logger } from 'pino';
import { currentLogContext } from './log-context';

export type { Logger };

const REDACT = [
  'password',
  'new_password',
  'mfa_code',
  'secret',
  'api_key',
  'access_token',
  'token',
  'privateKey',
  'private_key',
  'plaintext',
  'ciphertext',
  'authorization',
  '*.password',
  '*.mfa_code',
  '*.secret',
  '*.api_key',
  '*.access_token',
  '*.token',
  '*.privateKey',
  '*.plaintext',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers.cookie',
];

export function createLogger(options: { level?: string; name?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      name: options.name ?? 'countersign',
      level: options.level ?? process.env.LOG_LEVEL ?? 'info',
      redact: { paths: REDACT, censor: '[redacted]' },
      base: { service: options.name ?? 'countersign' },
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin: contextFields,
    },
    options.destination,
  );
}

/** The current log context and trace, merged under the fields of the call itself. */
function contextFields(): Record<string, unknown> {
  const context = currentLogContext();
  const span = trace.getActiveSpan()?.spanContext();
  if (!context && !span) return {};
  return { ...context, ...(span && span.traceFlags & 1 ? { traceId: span.traceId, spanId: span.spanId } : {}) };
}

/** Removes credentials from a URL before it reaches a log or an error. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.username) url.username = '***';
    if (url.password) url.password = '***';
    for (const key of [...url.searchParams.keys()]) {
      if (/key|token|secret|pass/i.test(key)) url.searchParams.set(key, '***');
    }
    return url.toString();
  } catch {
    return '[unparseable url]';
  }
}
