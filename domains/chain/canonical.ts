/**
 * The canonical JSON of the approval digest (docs/http-contract.md, "The approval
 * digest"). No imports and no Node built-ins: the web app imports this file and
 * hashes its output with WebCrypto, so both sides hash the very same bytes.
 *
 *   digest = "0x" + hex(SHA-256(UTF-8(canonicalApprovalJson(fields))))
 *
 * RFC 8785 (JCS) for the only shape we need, a flat object whose values are all
 * strings: keys sorted by UTF-16 code units, no whitespace, strings escaped as
 * ECMAScript's JSON.stringify does (\" \\ \b \f \n \r \t, other controls as
 * \u00xx lowercase, everything else literal). Lone surrogates are refused, as
 * RFC 8785 requires.
 */

export const APPROVAL_DIGEST_VERSION = 'countersign-approval-v1';

export interface ApprovalFields {
  transaction_id: string;
  chain_id: number | bigint | string;
  /** Wallet address, any case. */
  from: string;
  /** The EVM target (the token contract for ERC-20), any case. */
  to: string;
  value: bigint | string;
  /** Calldata hex, any case; "0x" when empty. */
  data: string;
  gas_limit: bigint | string | number;
  max_fee_per_gas: bigint | string;
  max_priority_fee_per_gas: bigint | string;
  /** A Date (floored to the second) or unix seconds. */
  approval_expires_at: Date | number | bigint | string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ADDRESS = /^0x[0-9a-f]{40}$/;
const HEX_DATA = /^0x([0-9a-f]{2})*$/;
const DECIMAL = /^(0|[1-9][0-9]*)$/;

const ESCAPES: Readonly<Record<string, string>> = {
  '"': '\\"',
  '\\': '\\\\',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/** RFC 8785 string serialisation. */
export function canonicalString(value: string): string {
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    const char = value[i]!;
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) throw new Error('canonical JSON: lone surrogate in string');
      out += char + value[i + 1]!;
      i++;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      throw new Error('canonical JSON: lone surrogate in string');
    } else if (ESCAPES[char] !== undefined) {
      out += ESCAPES[char];
    } else if (unit < 0x20) {
      out += `\\u${unit.toString(16).padStart(4, '0')}`;
    } else {
      out += char;
    }
  }
  return `${out}"`;
}

/** RFC 8785 for a flat object of strings: sorted keys (UTF-16 code units), no whitespace. */
export function canonicalizeStringRecord(record: Readonly<Record<string, string>>): string {
  const keys = Object.keys(record);
  // Default sort compares UTF-16 code units, which is exactly RFC 8785's order.
  keys.sort();
  const members = keys.map((key) => {
    const value = record[key];
    if (typeof value !== 'string') throw new Error(`canonical JSON: value of "${key}" is not a string`);
    return `${canonicalString(key)}:${canonicalString(value)}`;
  });
  return `{${members.join(',')}}`;
}

function decimal(value: number | bigint | string, field: string): string {
  let text: string;
  if (typeof value === 'bigint') text = value.toString(10);
  else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new Error(`approval digest: ${field} must be a safe integer`);
    text = String(value);
  } else text = value;
  if (!DECIMAL.test(text)) throw new Error(`approval digest: ${field} must be a non-negative decimal integer`);
  return text;
}

function matching(value: string, pattern: RegExp, field: string): string {
  const lower = value.toLowerCase();
  if (!pattern.test(lower)) throw new Error(`approval digest: ${field} is malformed`);
  return lower;
}

/** Unix seconds; a Date is floored to the whole second. */
export function unixSeconds(value: Date | number | bigint | string): string {
  if (value instanceof Date) {
    const ms = value.getTime();
    if (!Number.isFinite(ms)) throw new Error('approval digest: approval_expires_at is an invalid date');
    return String(Math.floor(ms / 1000));
  }
  return decimal(value, 'approval_expires_at');
}

/**
 * The object of docs/http-contract.md with every value normalised to its canonical
 * string: addresses and data lowercase, numbers as decimal strings. Malformed
 * input throws rather than hashing something the approver never saw.
 */
export function approvalObject(fields: ApprovalFields): Record<string, string> {
  return {
    v: APPROVAL_DIGEST_VERSION,
    transaction_id: matching(fields.transaction_id, UUID, 'transaction_id'),
    chain_id: decimal(fields.chain_id, 'chain_id'),
    from: matching(fields.from, ADDRESS, 'from'),
    to: matching(fields.to, ADDRESS, 'to'),
    value: decimal(fields.value, 'value'),
    data: matching(fields.data, HEX_DATA, 'data'),
    gas_limit: decimal(fields.gas_limit, 'gas_limit'),
    max_fee_per_gas: decimal(fields.max_fee_per_gas, 'max_fee_per_gas'),
    max_priority_fee_per_gas: decimal(fields.max_priority_fee_per_gas, 'max_priority_fee_per_gas'),
    approval_expires_at: unixSeconds(fields.approval_expires_at),
  };
}

/** The exact text whose SHA-256 is the approval digest. */
export function canonicalApprovalJson(fields: ApprovalFields): string {
  return canonicalizeStringRecord(approvalObject(fields));
}
