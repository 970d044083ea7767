/**
 * Payloads inside a raw Temporal history (as fetchHistory() returns it: protobuf
 * objects, payload bytes as Uint8Array), for tests that look at what Temporal
 * stores: every payload, and a copy of the history with payloads decoded.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';

const isPayload = (value: unknown): value is Payload =>
  typeof value === 'object' && value !== null && 'metadata' in value && (value as Payload).metadata !== null && typeof (value as Payload).metadata === 'object' &&
  ((value as Payload).data === undefined || (value as Payload).data === null || (value as Payload).data instanceof Uint8Array);

/** Every payload in `history` (depth first), with where it is (`events.3.….input.payloads.0`). */
export function payloadsWithPaths(history: unknown, path = '', out: { path: string; payload: Payload }[] = [], seen = new Set<unknown>()) {
  if (typeof history !== 'object' || history === null || seen.has(history) || history instanceof Uint8Array) return out;
  seen.add(history);
  if (isPayload(history) && history.metadata && 'encoding' in history.metadata) {
    out.push({ path, payload: history });
    return out;
  }
  for (const [key, member] of Object.entries(history as Record<string, unknown>)) payloadsWithPaths(member, path ? `${path}.${key}` : key, out, seen);
  return out;
}

/**
 * Payloads Temporal writes itself, which no codec sees: search attributes (indexed in clear by
 * design: status, wallet, agent, owner, chain, amount, tx hash), SDK Core's marker metadata (patch
 * ids; a local activity's sequence number, type and times — its result is a codec payload) and
 * the trace-context header the OpenTelemetry interceptors put on activities (a traceparent).
 */
const SDK_METADATA = [/(^|\.)searchAttributes\./, /markerRecordedEventAttributes\.details\.(patch-data|data)\./, /\.header\.fields\._tracer-data$/];

/** The payloads that carry Countersign's data (inputs, results, Update arguments, failures, memo, summaries). */
export function applicationPayloads(history: unknown): { path: string; payload: Payload }[] {
  return payloadsWithPaths(history).filter(({ path }) => !SDK_METADATA.some((pattern) => pattern.test(path)));
}

/** Every payload in `history`. */
export function payloadsOf(history: unknown): Payload[] {
  return payloadsWithPaths(history).map(({ payload }) => payload);
}

/**
 * A copy of `history` with every payload decoded by `codec`; a payload the codec cannot decode
 * (another test's data key) is kept as it is.
 */
export async function decodeHistory(history: unknown, codec: PayloadCodec, seen = new Map<unknown, unknown>()): Promise<unknown> {
  if (typeof history !== 'object' || history === null || history instanceof Uint8Array) return history;
  if (seen.has(history)) return seen.get(history);
  if (isPayload(history) && history.metadata && 'encoding' in history.metadata) {
    try {
      return (await codec.decode([history]))[0];
    } catch {
      return history;
    }
  }
  const copy: Record<string, unknown> | unknown[] = Array.isArray(history) ? [] : {};
  seen.set(history, copy);
  for (const [key, member] of Object.entries(history as Record<string, unknown>)) (copy as Record<string, unknown>)[key] = await decodeHistory(member, codec, seen);
  return copy;
}

export const metadataText = (payload: Payload, key: string) => (payload.metadata?.[key] ? Buffer.from(payload.metadata[key]!).toString('utf8') : undefined);
