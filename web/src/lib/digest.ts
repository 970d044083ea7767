/**
 * The approval digest (docs/http-contract.md, "The approval digest"), recomputed in the
 * browser from the very fields the page displays. The app refuses to submit an
 * approval when its own digest differs from the server's: a server (or a
 * man-in-the-middle) that shows one transaction and asks for a signature on
 * another is caught here, before the TOTP code leaves the page.
 *
 * Self-contained on purpose (no shared code with the backend): two independent
 * implementations that agree are the point. DOM-free, so Node tests can import it.
 */

export const DIGEST_VERSION = 'countersign-approval-v1';

/**
 * RFC 8785 (JCS) canonical JSON for an object whose values are all strings.
 * Keys are sorted by UTF-16 code units, which is exactly what the default
 * Array.prototype.sort compares. RFC 8785 §3.2.2.2 adopts ECMAScript's
 * JSON.stringify string serialisation (shortest escapes: \b \t \n \f \r \" \\,
 * other controls as \u00xx lowercase, everything else literal), so using it for
 * each string is the specification, not an approximation.
 */
export function canonicalJson(o: Readonly<Record<string, string>>): string {
  const keys = Object.keys(o).sort();
  const members = keys.map((key) => {
    const value = o[key];
    if (typeof value !== 'string') throw new TypeError(`canonical JSON: "${key}" is not a string`);
    return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
  });
  return `{${members.join(',')}}`;
}

export async function sha256Hex(text: string): Promise<string> {
  const bytes = new TextEncoder().encode(text);
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  let hex = '';
  for (const byte of hash) hex += byte.toString(16).padStart(2, '0');
  return hex;
}

/** The subset of a transaction the digest covers, as the API returns it. */
export interface DigestSource {
  transaction_id?: unknown;
  chain_id?: unknown;
  wallet_address?: unknown;
  to?: unknown;
  value?: unknown;
  data?: unknown;
  gas_limit?: unknown;
  max_fee_per_gas?: unknown;
  max_priority_fee_per_gas?: unknown;
  approval_expires_at?: unknown;
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const HEX_DATA = /^0x([0-9a-fA-F]{2})*$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function decimal(value: unknown, field: string): string {
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== 'string' || !DECIMAL.test(text)) throw new DigestInputError(field);
  return text;
}

export class DigestInputError extends Error {
  constructor(readonly field: string) {
    super(`the transaction's "${field}" is missing or malformed`);
    this.name = 'DigestInputError';
  }
}

/** ISO-8601 → unix seconds (floored), the digest's form of `approval_expires_at`. */
export function unixSeconds(iso: unknown, field = 'approval_expires_at'): string {
  if (typeof iso !== 'string') throw new DigestInputError(field);
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) throw new DigestInputError(field);
  return String(Math.floor(ms / 1000));
}

/**
 * The object `o` of the contract, built from displayed fields. Throws
 * DigestInputError when a field is missing or malformed — a transaction we
 * cannot fully show is a transaction we will not approve.
 */
export function digestInput(tx: DigestSource): Record<string, string> {
  const { transaction_id, wallet_address, to } = tx;
  if (typeof transaction_id !== 'string' || !UUID.test(transaction_id)) throw new DigestInputError('transaction_id');
  if (typeof wallet_address !== 'string' || !ADDRESS.test(wallet_address)) throw new DigestInputError('from');
  if (typeof to !== 'string' || !ADDRESS.test(to)) throw new DigestInputError('to');
  const data = tx.data === null || tx.data === undefined || tx.data === '' ? '0x' : tx.data;
  if (typeof data !== 'string' || !HEX_DATA.test(data)) throw new DigestInputError('data');
  return {
    v: DIGEST_VERSION,
    transaction_id,
    chain_id: decimal(tx.chain_id, 'chain_id'),
    from: wallet_address.toLowerCase(),
    to: to.toLowerCase(),
    value: decimal(tx.value, 'value'),
    data: data.toLowerCase(),
    gas_limit: decimal(tx.gas_limit, 'gas_limit'),
    max_fee_per_gas: decimal(tx.max_fee_per_gas, 'max_fee_per_gas'),
    max_priority_fee_per_gas: decimal(tx.max_priority_fee_per_gas, 'max_priority_fee_per_gas'),
    approval_expires_at: unixSeconds(tx.approval_expires_at),
  };
}

/** `"0x" + hex(SHA-256(UTF-8(canonical JSON)))`. */
export async function approvalDigest(tx: DigestSource): Promise<string> {
  return `0x${await sha256Hex(canonicalJson(digestInput(tx)))}`;
}

export type DigestCheck =
  | { state: 'ok'; digest: string }
  | { state: 'mismatch'; computed: string; server: string }
  | { state: 'invalid'; message: string };

/** Compares our digest of the displayed fields with the server's `digest`. */
export async function checkDigest(tx: DigestSource & { digest?: unknown }): Promise<DigestCheck> {
  let computed: string;
  try {
    computed = await approvalDigest(tx);
  } catch (error) {
    return { state: 'invalid', message: error instanceof Error ? error.message : 'cannot compute the digest' };
  }
  const server = typeof tx.digest === 'string' ? tx.digest.toLowerCase() : '';
  if (server !== computed) return { state: 'mismatch', computed, server };
  return { state: 'ok', digest: computed };
}
