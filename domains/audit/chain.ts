/**
 * The pure half of the audit chain: how a row is written down canonically and
 * how each row's HMAC binds it to the one before.
 *
 *   hmac = HMAC-SHA256(key, prev_hmac + "\n" + canonical(row))
 *
 * A plain hash chain could be recomputed by anyone with write access to the
 * table; the HMAC needs AUDIT_HMAC_KEY, which the database never sees.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AuditRow } from './types';

/** `prev_hmac` of the first row. */
export const GENESIS_HMAC = '0'.repeat(64);

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * Makes `data` storable in jsonb and stable across the round trip: strings are
 * made well-formed (a lone surrogate becomes U+FFFD) and stripped of NUL, which
 * jsonb refuses; `undefined` members are dropped; non-finite numbers, BigInts
 * and other non-JSON values are a programming error.
 */
export function toJsonValue(value: unknown, path = 'data'): JsonValue {
  if (value === null) return null;
  switch (typeof value) {
    case 'string':
      return wellFormed(value).replaceAll('\u0000', '');
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`audit ${path}: non-finite number`);
      return Object.is(value, -0) ? 0 : value;
    case 'object': {
      if (value instanceof Date) return value.toISOString();
      if (Array.isArray(value)) return value.map((item, i) => toJsonValue(item === undefined ? null : item, `${path}[${i}]`));
      const out: { [key: string]: JsonValue } = {};
      for (const [key, member] of Object.entries(value as Record<string, unknown>)) {
        if (member === undefined) continue;
        out[toJsonValue(key) as string] = toJsonValue(member, `${path}.${key}`);
      }
      return out;
    }
    default:
      throw new TypeError(`audit ${path}: ${typeof value} is not JSON`);
  }
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** String.prototype.toWellFormed (ES2024): lone surrogates become U+FFFD, as PostgreSQL would store them. */
export const wellFormed = (text: string) => text.replace(LONE_SURROGATE, '\ufffd');

/** JSON with object keys sorted by UTF-16 code units (RFC 8785 order); numbers as ECMAScript prints them. */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key]!)}`).join(',')}}`;
}

type ChainedFields = Omit<AuditRow, 'prev_hmac' | 'hmac'>;

/** Every column except the two HMACs, in one canonical string (the id too, so rows cannot be reordered). */
export function canonicalRow(row: ChainedFields): string {
  return canonicalJson({
    v: 1,
    id: String(row.id),
    created_at: row.created_at.toISOString(),
    action: row.action,
    actor_type: row.actor_type,
    actor_id: row.actor_id,
    subject_type: row.subject_type,
    subject_id: row.subject_id,
    ip: row.ip,
    request_id: row.request_id,
    data: toJsonValue(row.data ?? {}),
  });
}

export function chainHmac(key: Buffer, prevHmac: string, row: ChainedFields): string {
  return createHmac('sha256', key).update(prevHmac).update('\n').update(canonicalRow(row)).digest('hex');
}

export function hmacEquals(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}
