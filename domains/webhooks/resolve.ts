/**
 * Resolves a webhook host once and checks every answer (url-policy.ts). The
 * caller connects to the returned address — never resolves again — so a DNS
 * answer that changes between the check and the connection (rebinding)
 * cannot send the request somewhere else.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { checkResolvedAddresses, type WebhookTarget, type WebhookUrlMode } from './url-policy';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** All addresses of a host name (injectable for tests). */
export type LookupFn = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemLookup: LookupFn = async (hostname) => {
  const answers = await dnsLookup(hostname, { all: true, verbatim: true });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

export type Resolution = { ok: true; address: ResolvedAddress } | { ok: false; reason: 'dns_failed' | 'address_not_allowed'; problem: string };

export async function resolveWebhookTarget(target: WebhookTarget, mode: WebhookUrlMode, lookup: LookupFn, timeoutMs: number): Promise<Resolution> {
  // An IP literal was classified by checkWebhookUrl already.
  if (target.literal) return { ok: true, address: target.literal };
  let answers: ResolvedAddress[];
  let timer: NodeJS.Timeout | undefined;
  try {
    answers = await Promise.race([
      lookup(target.hostname),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('dns timeout')), timeoutMs);
      }),
    ]);
  } catch {
    return { ok: false, reason: 'dns_failed', problem: 'the host does not resolve' };
  } finally {
    clearTimeout(timer);
  }
  const check = checkResolvedAddresses(
    answers.map((a) => a.address),
    mode,
  );
  if (!check.ok) return { ok: false, reason: answers.length === 0 ? 'dns_failed' : 'address_not_allowed', problem: check.problem };
  // Prefer IPv4 (a receiver on localhost often listens on 127.0.0.1 only); every answer passed the check anyway.
  const chosen = answers.find((a) => a.family === 4) ?? answers[0]!;
  return { ok: true, address: chosen };
}
