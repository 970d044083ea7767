/**
 * Which webhook receivers Countersign will call — pure functions, no I/O.
 *
 * Security invariants (docs/http-contract.md, "Webhooks"):
 * * Production: only `https:` URLs, no credentials in the URL, and every
 *   address the host resolves to must be public unicast (not loopback,
 *   private, link-local, CGNAT, multicast, unspecified, documentation,
 *   benchmarking, reserved, nor an IPv4-mapped / NAT64 form of those). The
 *   deliverer connects to the address it checked (resolve.ts, deliver.ts), so
 *   a DNS answer that changes between check and connect cannot redirect it.
 * * Development and tests with WEBHOOK_ALLOW_LOOPBACK=true: ONLY loopback
 *   receivers (http or https to 127.0.0.0/8, ::1 or `localhost`), so a test
 *   stack never calls out — and never on a port of the stack itself
 *   (PostgreSQL, OpenBao and its cluster port, Temporal, the chain RPC, the
 *   API, the worker's health port: `stackPorts`), or, with
 *   WEBHOOK_LOOPBACK_PORTS, only on the ports listed there. An agent's
 *   webhook must not become a way to poke the stack's own services.
 *   Production always uses the public policy, whatever the flag says
 *   (config/env.ts refuses the flag there as well).
 * * The published schema says the same (`webhookUrlSchema` builds the port
 *   part from the policy), so a URL that matches it is never refused for its
 *   port, and a refused port is a 400 naming `url`, like every refused URL.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { parsePortList, type Config } from '../../config/env';

export type WebhookUrlMode = 'public' | 'loopback';

/** Which loopback ports a receiver may use: never a `reserved` one; with `only`, nothing else either. */
export interface LoopbackPorts {
  reserved: ReadonlySet<number>;
  only?: ReadonlySet<number> | undefined;
}

export type WebhookUrlPolicy = { mode: 'public' } | { mode: 'loopback'; ports: LoopbackPorts };

export const WEBHOOK_URL_MAX_LENGTH = 2048;

export function webhookUrlMode(config: { production: boolean; WEBHOOK_ALLOW_LOOPBACK: boolean }): WebhookUrlMode {
  if (config.production) return 'public';
  return config.WEBHOOK_ALLOW_LOOPBACK ? 'loopback' : 'public';
}

export type StackConfig = Pick<Config, 'DATABASE_URL' | 'TEMPORAL_ADDRESS' | 'PORT' | 'WORKER_HEALTH_PORT' | 'chains'> &
  Partial<Pick<Config, 'VAULT_ADDR' | 'WEBHOOK_LOOPBACK_PORTS'>>;

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443, 'postgres:': 5432, 'postgresql:': 5432 };

function urlPort(raw: string): number | undefined {
  try {
    const url = new URL(raw);
    return url.port ? Number(url.port) : DEFAULT_PORTS[url.protocol];
  } catch {
    return undefined;
  }
}

/**
 * The ports of the stack's own services, as configured — whatever their host:
 * in development everything runs on this machine's loopback.
 */
export function stackPorts(config: StackConfig): Set<number> {
  const ports = new Set<number>([config.PORT, config.WORKER_HEALTH_PORT]);
  const add = (port: number | undefined) => {
    if (port !== undefined && Number.isInteger(port) && port > 0 && port <= 65535) ports.add(port);
  };
  add(urlPort(config.DATABASE_URL));
  add(Number(/:(\d{1,5})$/.exec(config.TEMPORAL_ADDRESS)?.[1] ?? 7233));
  if (config.VAULT_ADDR) {
    const vault = urlPort(config.VAULT_ADDR);
    add(vault);
    if (vault !== undefined) add(vault + 1); // OpenBao/Vault's cluster listener
  }
  for (const rpc of config.chains.values()) add(urlPort(rpc));
  return ports;
}

/** The policy of this deployment: public in production, loopback (minus the stack's ports) where allowed. */
export function webhookUrlPolicy(config: { production: boolean; WEBHOOK_ALLOW_LOOPBACK: boolean } & StackConfig): WebhookUrlPolicy {
  if (webhookUrlMode(config) === 'public') return { mode: 'public' };
  const only = config.WEBHOOK_LOOPBACK_PORTS ? parsePortList(config.WEBHOOK_LOOPBACK_PORTS) : undefined;
  return { mode: 'loopback', ports: { reserved: stackPorts(config), only } };
}

export function loopbackPortAllowed(port: number, ports: LoopbackPorts): boolean {
  if (port < 1 || port > 65535 || ports.reserved.has(port)) return false;
  return ports.only ? ports.only.has(port) : true;
}

export type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link_local'
  | 'shared'
  | 'multicast'
  | 'unspecified'
  | 'documentation'
  | 'reserved'
  | 'invalid';

const CLASS_WORDS: Record<Exclude<AddressClass, 'public'>, string> = {
  loopback: 'a loopback address',
  private: 'a private address',
  link_local: 'a link-local address',
  shared: 'a shared (carrier-grade NAT) address',
  multicast: 'a multicast address',
  unspecified: 'an unspecified address',
  documentation: 'a documentation address',
  reserved: 'a reserved address',
  invalid: 'not an IP address',
};

type Range = readonly [prefix: number[], bits: number, kind: Exclude<AddressClass, 'public' | 'invalid'>];

/** IANA IPv4 special-purpose registry, everything not globally reachable. */
const IPV4_RANGES: readonly Range[] = [
  [[0], 8, 'unspecified'],
  [[10], 8, 'private'],
  [[100, 64], 10, 'shared'],
  [[127], 8, 'loopback'],
  [[169, 254], 16, 'link_local'],
  [[172, 16], 12, 'private'],
  [[192, 0, 0], 24, 'reserved'],
  [[192, 0, 2], 24, 'documentation'],
  [[192, 88, 99], 24, 'reserved'],
  [[192, 168], 16, 'private'],
  [[198, 18], 15, 'reserved'],
  [[198, 51, 100], 24, 'documentation'],
  [[203, 0, 113], 24, 'documentation'],
  [[224], 4, 'multicast'],
  [[240], 4, 'reserved'],
];

/** IPv6 ranges inside 2000::/3 (the only global unicast block) that are not public, plus the named ones outside it. */
const IPV6_RANGES: readonly Range[] = [
  [[0x00, 0x64, 0xff, 0x9b, 0, 1], 48, 'private'], // 64:ff9b:1::/48 local-use NAT64
  [[0x01, 0x00, 0, 0, 0, 0, 0, 0], 64, 'reserved'], // 100::/64 discard-only
  [[0x20, 0x01, 0x0d, 0xb8], 32, 'documentation'], // 2001:db8::/32
  [[0x20, 0x01, 0x00], 23, 'reserved'], // 2001::/23 IETF protocol assignments (Teredo, benchmarking, ORCHID…)
  [[0x20, 0x02], 16, 'reserved'], // 2002::/16 6to4
  [[0x3f, 0xff], 20, 'documentation'], // 3fff::/20
  [[0x5f, 0x00], 16, 'reserved'], // 5f00::/16 SRv6 SIDs
  [[0xfc], 7, 'private'], // fc00::/7 unique local
  [[0xfe, 0x80], 10, 'link_local'], // fe80::/10
  [[0xfe, 0xc0], 10, 'private'], // fec0::/10 site-local (deprecated)
  [[0xff], 8, 'multicast'], // ff00::/8
];

function inRange(bytes: Uint8Array, prefix: number[], bits: number): boolean {
  for (let bit = 0; bit < bits; bit += 1) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    if ((bytes[byte]! & mask) !== ((prefix[byte] ?? 0) & mask)) return false;
  }
  return true;
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i += 1) {
    const part = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) return undefined;
    bytes[i] = Number(part);
  }
  return bytes;
}

/** RFC 4291 text form (with `::` and an optional dotted IPv4 tail; no zone id) → 16 bytes. */
function parseIpv6(text: string): Uint8Array | undefined {
  if (text.includes('%')) return undefined;
  let head = text;
  let v4: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    v4 = parseIpv4(text.slice(lastColon + 1));
    if (!v4) return undefined;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const group = (s: string) => (s === '' ? [] : s.split(':'));
  const left = group(halves[0]!);
  const right = halves.length === 2 ? group(halves[1]!) : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...right];
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i += 1) {
    const g = groups[i]!;
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    const value = parseInt(g, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  }
  if (v4) bytes.set(v4, 12);
  return bytes;
}

function classifyV4(bytes: Uint8Array): AddressClass {
  for (const [prefix, bits, kind] of IPV4_RANGES) if (inRange(bytes, prefix, bits)) return kind;
  return 'public';
}

/** What kind of address this is; only `public` may receive production webhooks. */
export function classifyAddress(address: string): AddressClass {
  const text = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const family = isIP(text);
  if (family === 4) {
    const bytes = parseIpv4(text);
    return bytes ? classifyV4(bytes) : 'invalid';
  }
  if (family !== 6) return 'invalid';
  const bytes = parseIpv6(text);
  if (!bytes) return 'invalid';
  const zeros = (n: number) => bytes.subarray(0, n).every((b) => b === 0);
  if (zeros(16)) return 'unspecified';
  if (zeros(15) && bytes[15] === 1) return 'loopback';
  // ::ffff:a.b.c.d (IPv4-mapped) and 64:ff9b::a.b.c.d (NAT64) reach the embedded IPv4 address: judge that.
  if (zeros(10) && bytes[10] === 0xff && bytes[11] === 0xff) return classifyV4(bytes.subarray(12));
  if (inRange(bytes, [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0], 96)) return classifyV4(bytes.subarray(12));
  for (const [prefix, bits, kind] of IPV6_RANGES) if (inRange(bytes, prefix, bits)) return kind;
  // Outside 2000::/3 nothing is allocated for global unicast (this includes ::/96 IPv4-compatible and ::ffff:0:0:0/96).
  if (!inRange(bytes, [0x20], 3)) return 'reserved';
  return 'public';
}

export const describeAddressClass = (kind: AddressClass) => (kind === 'public' ? 'a public address' : CLASS_WORDS[kind]);

/** A URL that passed the syntactic checks, with what the deliverer needs to connect. */
export interface WebhookTarget {
  /** Normalised (WHATWG) form; this is what is stored and shown. */
  href: string;
  protocol: 'http:' | 'https:';
  /** Without IPv6 brackets. */
  hostname: string;
  port: number;
  /** path + query, as sent on the request line. */
  path: string;
  /** Set when the host is an IP literal: no DNS is involved. */
  literal?: { address: string; family: 4 | 6 };
}

export type UrlCheck = { ok: true; target: WebhookTarget } | { ok: false; problems: string[] };

/** The checks that need no DNS: scheme, credentials, host form, IP literals, and in loopback mode the port. */
export function checkWebhookUrl(raw: string, policy: WebhookUrlPolicy): UrlCheck {
  const mode = policy.mode;
  if (raw.length > WEBHOOK_URL_MAX_LENGTH) return { ok: false, problems: [`must be at most ${WEBHOOK_URL_MAX_LENGTH} characters`] };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, problems: ['must be an absolute http(s) URL'] };
  }
  const problems: string[] = [];
  if (mode === 'public' && url.protocol !== 'https:') problems.push('must use https');
  if (mode === 'loopback' && url.protocol !== 'https:' && url.protocol !== 'http:') problems.push('must use http or https');
  if (url.username || url.password) problems.push('must not contain credentials');
  if (url.hash) problems.push('must not contain a fragment');
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (!hostname) problems.push('must name a host');
  const family = isIP(hostname);
  const literal = family === 4 || family === 6 ? { address: hostname, family: family as 4 | 6 } : undefined;
  const lowered = hostname.toLowerCase().replace(/\.$/, '');

  if (mode === 'loopback') {
    if (literal) {
      if (classifyAddress(literal.address) !== 'loopback') problems.push('must be a loopback receiver (127.0.0.0/8, ::1 or localhost) in development and tests');
    } else if (lowered !== 'localhost') {
      problems.push('must be a loopback receiver (127.0.0.0/8, ::1 or localhost) in development and tests');
    }
  } else if (literal) {
    const kind = classifyAddress(literal.address);
    if (kind !== 'public') problems.push(`must not point at ${describeAddressClass(kind)}`);
  } else if (lowered === 'localhost' || lowered.endsWith('.localhost')) {
    problems.push('must not point at a loopback address');
  }
  if (url.port === '0') problems.push('must not use port 0');
  const protocol = url.protocol as 'http:' | 'https:';
  const port = url.port ? Number(url.port) : protocol === 'https:' ? 443 : 80;
  if (policy.mode === 'loopback' && url.port !== '0' && !loopbackPortAllowed(port, policy.ports)) {
    problems.push(
      policy.ports.only && !policy.ports.reserved.has(port)
        ? `must use one of the loopback ports allowed here (WEBHOOK_LOOPBACK_PORTS), not ${port}`
        : `must not use port ${port}: it belongs to Countersign's own stack (database, key store, Temporal, chain RPC, API)`,
    );
  }
  if (problems.length > 0) return { ok: false, problems };

  return {
    ok: true,
    target: {
      href: url.href,
      protocol,
      hostname,
      port,
      path: `${url.pathname}${url.search}`,
      ...(literal ? { literal } : {}),
    },
  };
}

/**
 * Every address a host resolved to must be allowed (one private answer
 * among public ones is enough to refuse: the connection could go to either).
 */
export function checkResolvedAddresses(addresses: readonly string[], mode: WebhookUrlMode): { ok: true } | { ok: false; problem: string } {
  if (addresses.length === 0) return { ok: false, problem: 'the host does not resolve' };
  for (const address of addresses) {
    const kind = classifyAddress(address);
    if (mode === 'loopback' && kind !== 'loopback') return { ok: false, problem: `the host resolves to ${describeAddressClass(kind)} (${address}); only loopback receivers are allowed in development and tests` };
    if (mode === 'public' && kind !== 'public') return { ok: false, problem: `the host resolves to ${describeAddressClass(kind)} (${address})` };
  }
  return { ok: true };
}

// ---- the documented request schema ----
// Written with explicit ASCII classes ([0-9], not \d) so that a generator
// reading the OpenAPI pattern (Schemathesis / Hypothesis) produces only what
// JavaScript's RegExp accepts.
const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const PORT = '(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?';
const PATH = "(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?";
const QUERY = "(\\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?";
// Labels without "--" (so no `xn--` label that WHATWG URL would have to decode as
// punycode) and a last label that starts with a letter (WHATWG parses a host
// whose last label is numeric as an IPv4 address). IPv6 literals are left out
// of the documented form: an IPv6-only receiver can use a name.
const LABEL = '[A-Za-z0-9]+(-[A-Za-z0-9]+)*';
const TLD = '[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*';
const LOOPBACK_HOST = `(localhost|127\\.${OCTET}\\.${OCTET}\\.${OCTET}|\\[::1\\])`;
const PUBLIC_HOST = `((${LABEL}\\.)+${TLD}|${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET})`;

export const LOOPBACK_URL_PATTERN = new RegExp(`^https?://${LOOPBACK_HOST}${PORT}${PATH}${QUERY}$`);
export const PUBLIC_URL_PATTERN = new RegExp(`^https://${PUBLIC_HOST}${PORT}${PATH}${QUERY}$`);

/** `lo..hi` (same number of digits, leading zeros allowed past the first) as regex alternatives. */
function sameLengthRange(lo: string, hi: string): string[] {
  if (lo === hi) return [lo];
  const n = lo.length;
  const digits = (a: string, b: string) => (a === b ? a : `[${a}-${b}]`);
  if (n === 1) return [digits(lo, hi)];
  const rest = n - 1;
  if (/^0*$/.test(lo.slice(1)) && /^9*$/.test(hi.slice(1))) return [`${digits(lo[0]!, hi[0]!)}[0-9]{${rest}}`];
  if (lo[0] === hi[0]) return sameLengthRange(lo.slice(1), hi.slice(1)).map((p) => `${lo[0]}${p}`);
  const out = sameLengthRange(lo, `${lo[0]}${'9'.repeat(rest)}`);
  const first = Number(lo[0]);
  const last = Number(hi[0]);
  if (last - first >= 2) out.push(`${digits(String(first + 1), String(last - 1))}[0-9]{${rest}}`);
  out.push(...sameLengthRange(`${hi[0]}${'0'.repeat(rest)}`, hi));
  return out;
}

/** Decimal numbers `lo..hi` (no leading zeros) as regex alternatives, with ASCII classes only. */
export function numberRangeAlternatives(lo: number, hi: number): string[] {
  const out: string[] = [];
  for (let len = String(lo).length; len <= String(hi).length; len += 1) {
    const from = Math.max(lo, len === 1 ? 0 : 10 ** (len - 1));
    const to = Math.min(hi, 10 ** len - 1);
    if (from <= to) out.push(...sameLengthRange(String(from), String(to)));
  }
  return out;
}

/** The allowed loopback ports as one regex group (every port 1–65535 that `loopbackPortAllowed` accepts). */
export function loopbackPortPattern(ports: LoopbackPorts): string {
  const alternatives: string[] = [];
  let start: number | undefined;
  for (let port = 1; port <= 65536; port += 1) {
    const allowed = port <= 65535 && loopbackPortAllowed(port, ports);
    if (allowed && start === undefined) start = port;
    if (!allowed && start !== undefined) {
      alternatives.push(...numberRangeAlternatives(start, port - 1));
      start = undefined;
    }
  }
  return `(${alternatives.join('|') || '(?!)'})`;
}

/** The loopback pattern of this policy: the port is optional only where the scheme's default port is allowed. */
export function loopbackUrlPattern(ports: LoopbackPorts): RegExp {
  const port = loopbackPortPattern(ports);
  const portPart = (defaultPort: number) => (loopbackPortAllowed(defaultPort, ports) ? `(:${port})?` : `:${port}`);
  return new RegExp(`^(http://${LOOPBACK_HOST}${portPart(80)}|https://${LOOPBACK_HOST}${portPart(443)})${PATH}${QUERY}$`);
}

const describePorts = (ports: LoopbackPorts) =>
  ports.only
    ? ` Ports: only those of WEBHOOK_LOOPBACK_PORTS, never ${[...ports.reserved].sort((a, b) => a - b).join(', ')} (the stack's own).`
    : ` Any port but the stack's own (${[...ports.reserved].sort((a, b) => a - b).join(', ')}: database, key store, Temporal, chain RPC, API, worker).`;

/** The `url` field of `POST /api/webhooks`, as documented for this deployment's policy. */
export function webhookUrlSchema(policy: WebhookUrlPolicy) {
  return policy.mode === 'loopback'
    ? z
        .string()
        .max(WEBHOOK_URL_MAX_LENGTH)
        .regex(loopbackUrlPattern(policy.ports), "must be an http(s) URL of a loopback receiver (127.0.0.0/8, [::1] or localhost) on a port outside the stack's own")
        .describe(`The receiver. This deployment (development / tests) accepts loopback receivers only: http or https to 127.0.0.0/8, [::1] or localhost.${describePorts(policy.ports)}`)
    : z
        .string()
        .max(WEBHOOK_URL_MAX_LENGTH)
        .regex(PUBLIC_URL_PATTERN, 'must be an https URL without credentials')
        .describe('The receiver: an https URL without credentials whose host resolves only to public addresses (checked at creation and before every delivery).');
}
