/**
 * Property tests (fast-check) for the three input formats a custody auditor
 * cares most about: amounts (a wrong parse moves the wrong sum), addresses (a
 * wrong normalisation sends to the wrong account) and the approval digest's
 * canonical JSON (two sides that serialise differently approve different
 * things). Each property runs on generated input; a failure prints the seed and
 * the shrunk counterexample.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { z } from 'zod';
import { Address, Amount, Value } from '../../domains/transactions/schemas';
import { WalletAddressParams } from '../../domains/wallets/schemas';
import {
  ADDRESS_PATTERN,
  AMOUNT_PATTERN,
  MAX_UINT256,
  VALUE_PATTERN,
  checksumAddress,
  isAddress,
  isAmount,
  normalizeAddress,
  parseAmount,
  parseValue,
} from '../../domains/chain/formats';
import { InvalidIntentError } from '../../domains/chain/errors';
import { approvalObject, canonicalString, canonicalizeStringRecord, type ApprovalFields } from '../../domains/chain/canonical';
import { approvalDigest } from '../../domains/chain/digest';
import { canonicalJson as webCanonicalJson } from '../../web/src/lib/digest';

const RUNS = { numRuns: 1000 };
const TWO_256 = 1n << 256n;

const digit = fc.constantFrom(...'0123456789');
const digits = (min: number, max: number) => fc.array(digit, { minLength: min, maxLength: max }).map((d) => d.join(''));
const hexChar = fc.constantFrom(...'0123456789abcdefABCDEF');
const hexString = (length: number) => fc.array(hexChar, { minLength: length, maxLength: length }).map((h) => h.join(''));
/** Text that looks numeric, or almost: signs, points, exponents, hex, whitespace, other scripts' digits. */
const numberish = fc.oneof(
  digits(0, 90),
  fc.tuple(fc.constantFrom('', '+', '-', ' ', '0', '00', '0x', '\t', '\u0660', '１'), digits(0, 80), fc.constantFrom('', '.0', 'e3', ' ', '\n', 'n', '_1')).map(
    ([a, b, c]) => `${a}${b}${c}`,
  ),
  fc.bigInt({ min: 0n, max: TWO_256 * 4n }).map(String),
  fc.bigInt({ min: MAX_UINT256 - 1000n, max: MAX_UINT256 + 1000n }).map(String),
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
);

/** No lone surrogates (String.prototype.isWellFormed, which the project's TS lib does not declare). */
const wellFormed = (s: string) => !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);

/** Whether a thrown error is the 400-mapped intent error (never anything that would become a 500). */
function refuses(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (err) {
    assert.ok(err instanceof InvalidIntentError, `expected InvalidIntentError, got ${String(err)}`);
    return true;
  }
}

describe('amounts', () => {
  test('the zod Amount schema (HTTP edge) and the chain parser accept exactly the same strings', () => {
    fc.assert(
      fc.property(numberish, (text) => {
        const byZod = Amount.safeParse(text).success;
        const byChain = isAmount(text);
        assert.equal(byZod, byChain, `zod ${byZod} vs chain ${byChain} for ${JSON.stringify(text)}`);
        assert.equal(!refuses(() => parseAmount(text, 'amount')), byZod);
      }),
      RUNS,
    );
  });

  test('an accepted amount is positive, at most 2^256-1, has no leading zero and parses to the same number', () => {
    fc.assert(
      fc.property(numberish, (text) => {
        if (!isAmount(text)) return;
        const n = parseAmount(text, 'amount');
        assert.ok(n > 0n && n <= MAX_UINT256);
        assert.ok(!text.startsWith('0'));
        assert.equal(n.toString(10), text, 'round trip: the string is the canonical decimal of its value');
      }),
      RUNS,
    );
  });

  test('every positive integer below 10^77 is accepted as its decimal string; 2^256-1 and above never are', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: 10n ** 77n - 1n }), (n) => {
        assert.equal(parseAmount(n.toString(), 'amount'), n);
        assert.ok(Amount.safeParse(n.toString()).success);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.bigInt({ min: MAX_UINT256, max: TWO_256 * 1000n }), (n) => {
        // 2^256-1 itself has 78 digits, past the published pattern's 77: the pattern, not an
        // overflow check somewhere deeper, is what keeps every accepted amount in range.
        assert.equal(Amount.safeParse(n.toString()).success, false);
        assert.ok(refuses(() => parseAmount(n.toString(), 'amount')));
      }),
    );
  });

  test('leading zeros, zero, signs and non-strings are refused by both', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 10n ** 70n }), fc.integer({ min: 1, max: 5 }), (n, zeros) => {
        const padded = '0'.repeat(zeros) + n.toString();
        assert.equal(Amount.safeParse(padded).success, false);
        assert.ok(refuses(() => parseAmount(padded, 'amount')));
        assert.equal(Amount.safeParse(`-${n}`).success, false);
        assert.equal(Amount.safeParse(`+${n}`).success, false);
      }),
      RUNS,
    );
    for (const bad of [0, 1, 1n, null, undefined, {}, [], '0', '', ' 1', '1 ', '1.0', '1e18', '0x1']) {
      assert.equal(Amount.safeParse(bad).success, false, JSON.stringify(String(bad)));
      assert.ok(refuses(() => parseAmount(bad, 'amount')), String(bad));
    }
  });

  test('Value (zero allowed) agrees with parseValue the same way', () => {
    fc.assert(
      fc.property(numberish, (text) => {
        const byZod = Value.safeParse(text).success;
        const byChain = !refuses(() => parseValue(text, 'value'));
        assert.equal(byZod, byChain, JSON.stringify(text));
        if (byZod) assert.equal(parseValue(text, 'value').toString(10), text);
      }),
      RUNS,
    );
  });

  test('the published JSON Schema patterns are the parsers’ patterns', () => {
    const pattern = (schema: z.ZodType) => (z.toJSONSchema(schema, { io: 'input' }) as { pattern?: string }).pattern;
    assert.equal(pattern(Amount), AMOUNT_PATTERN.source);
    assert.equal(pattern(Value), VALUE_PATTERN.source);
    assert.equal(pattern(Address), ADDRESS_PATTERN.source);
  });
});

describe('addresses', () => {
  const address = fc.tuple(hexString(40), fc.array(fc.boolean(), { minLength: 40, maxLength: 40 })).map(
    ([hex, upper]) => `0x${[...hex].map((c, i) => (upper[i] ? c.toUpperCase() : c.toLowerCase())).join('')}`,
  );

  test('any case is accepted (no checksum rejection), by zod and by the chain parser', () => {
    fc.assert(
      fc.property(address, (a) => {
        assert.ok(Address.safeParse(a).success);
        assert.ok(WalletAddressParams.safeParse({ address: a }).success);
        assert.ok(isAddress(a));
        assert.equal(normalizeAddress(a, 'to'), a.toLowerCase());
      }),
      RUNS,
    );
  });

  test('normalisation is idempotent and case-blind; EIP-55 output normalises back to the same address', () => {
    fc.assert(
      fc.property(address, (a) => {
        const once = normalizeAddress(a, 'to');
        assert.equal(normalizeAddress(once, 'to'), once);
        assert.equal(normalizeAddress(a.toUpperCase().replace('0X', '0x'), 'to'), once);
        const checksummed = checksumAddress(a);
        assert.equal(checksumAddress(checksummed), checksummed);
        assert.equal(normalizeAddress(checksummed, 'to'), once);
        assert.ok(ADDRESS_PATTERN.test(checksummed));
      }),
      RUNS,
    );
  });

  test('non-hex, wrong length, missing or doubled prefix and non-strings are refused by both', () => {
    const nonHex = fc.constantFrom(...'gGxXzZ-_ .,:;!\u00e9\u0660\u200b\n');
    const broken = fc.oneof(
      // one character replaced by a non-hex one
      fc.tuple(address, fc.integer({ min: 2, max: 41 }), nonHex).map(([a, i, c]) => a.slice(0, i) + c + a.slice(i + 1)),
      // too short or too long
      fc.tuple(fc.integer({ min: 0, max: 80 }).filter((n) => n !== 40), hexChar).map(([n, c]) => `0x${c.repeat(n)}`),
      // no prefix, upper-case prefix, doubled prefix, surrounding space
      address.map((a) => a.slice(2)),
      address.map((a) => `0X${a.slice(2)}`),
      address.map((a) => `0x${a}`),
      address.map((a) => ` ${a}`),
      address.map((a) => `${a}\n`),
      fc.string({ maxLength: 50 }),
    );
    fc.assert(
      fc.property(broken, (text) => {
        assert.equal(Address.safeParse(text).success, false, JSON.stringify(text));
        assert.equal(isAddress(text), false);
        assert.ok(refuses(() => normalizeAddress(text, 'to')));
      }),
      RUNS,
    );
    for (const bad of [null, undefined, 0, 1n, {}, ['0x' + '0'.repeat(40)]]) {
      assert.equal(Address.safeParse(bad).success, false);
      assert.ok(refuses(() => normalizeAddress(bad, 'to')));
    }
  });
});

describe('digest canonicalisation', () => {
  /** Well-formed strings (no lone surrogates), including controls, quotes, backslashes, bidi and astral characters. */
  const text = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.string({ unit: fc.constantFrom('"', '\\', '\b', '\f', '\n', '\r', '\t', '\u0000', '\u001f', '\u007f', '\u2028', '\u2029', '\u202e', '/', '€', '\u{1f600}', '\ue000', 'a'), maxLength: 20 }),
  );
  const record = fc.dictionary(text, text, { maxKeys: 12 });

  test('key order does not change the canonical text', () => {
    fc.assert(
      fc.property(record, fc.infiniteStream(fc.nat()), (rec, randoms) => {
        const keys = Object.keys(rec);
        // Fisher–Yates with generated randomness, so a failure shrinks and replays.
        const it = randoms[Symbol.iterator]();
        for (let i = keys.length - 1; i > 0; i--) {
          const j = it.next().value % (i + 1);
          [keys[i], keys[j]] = [keys[j]!, keys[i]!];
        }
        // fromEntries defines own properties, so a generated "__proto__" key stays a key.
        const shuffled: Record<string, string> = Object.fromEntries(keys.map((key) => [key, rec[key]!]));
        assert.equal(canonicalizeStringRecord(shuffled), canonicalizeStringRecord(rec));
      }),
      RUNS,
    );
  });

  test('JSON.parse of the canonical text gives back exactly the record (escaping round trip), with no whitespace between tokens', () => {
    fc.assert(
      fc.property(record, (rec) => {
        const canonical = canonicalizeStringRecord(rec);
        assert.deepEqual(JSON.parse(canonical), { ...rec });
        // RFC 8785 for strings is ECMAScript's serialisation, keys in UTF-16 code-unit order.
        const sorted = Object.keys(rec).sort();
        assert.equal(canonical, `{${sorted.map((k) => `${JSON.stringify(k)}:${JSON.stringify(rec[k])}`).join(',')}}`);
      }),
      RUNS,
    );
  });

  test('the web app’s canonicaliser (web/src/lib/digest.ts) produces byte-identical output', () => {
    fc.assert(
      fc.property(record, (rec) => {
        assert.equal(webCanonicalJson(rec), canonicalizeStringRecord(rec));
      }),
      RUNS,
    );
  });

  test('every string escapes to a JSON string literal that parses back to itself', () => {
    fc.assert(
      fc.property(text, (s) => {
        const literal = canonicalString(s);
        assert.equal(JSON.parse(literal), s);
        // Controls never appear raw in the canonical bytes.
        assert.ok([...literal].every((c) => c.charCodeAt(0) >= 0x20));
      }),
      RUNS,
    );
  });

  test('a lone surrogate is refused by the backend rather than hashed as something else', () => {
    const lone = fc.integer({ min: 0xd800, max: 0xdfff }).map((u) => String.fromCharCode(u));
    fc.assert(
      fc.property(text, lone, text, (a, s, b) => {
        const value = a + s + b;
        fc.pre(!wellFormed(value)); // joined to a neighbour it may have become a pair
        assert.throws(() => canonicalString(value), /lone surrogate/);
      }),
      RUNS,
    );
  });

  test('the digest does not depend on the case of addresses, data or the id, nor on how numbers are typed', () => {
    const fields = fc.record({
      id: fc.uuid({ version: 4 }),
      chain: fc.integer({ min: 1, max: 2 ** 31 }),
      from: hexString(40),
      to: hexString(40),
      value: fc.bigInt({ min: 0n, max: MAX_UINT256 }),
      data: fc.array(hexChar, { maxLength: 200 }).map((h) => (h.length % 2 ? h.slice(1) : h).join('')),
      gas: fc.bigInt({ min: 21000n, max: 30_000_000n }),
      fee: fc.bigInt({ min: 0n, max: MAX_UINT256 }),
      tip: fc.bigInt({ min: 0n, max: MAX_UINT256 }),
      expires: fc.integer({ min: 0, max: 4_000_000_000 }),
    });
    fc.assert(
      fc.property(fields, (f) => {
        const lower: ApprovalFields = {
          transaction_id: f.id.toLowerCase(),
          chain_id: f.chain,
          from: `0x${f.from.toLowerCase()}`,
          to: `0x${f.to.toLowerCase()}`,
          value: f.value,
          data: `0x${f.data.toLowerCase()}`,
          gas_limit: f.gas,
          max_fee_per_gas: f.fee,
          max_priority_fee_per_gas: f.tip,
          approval_expires_at: f.expires,
        };
        const mixed: ApprovalFields = {
          transaction_id: f.id.toUpperCase(),
          chain_id: String(f.chain),
          from: `0x${f.from}`,
          to: `0x${f.to.toUpperCase()}`,
          value: f.value.toString(),
          data: `0x${f.data.toUpperCase()}`,
          gas_limit: Number(f.gas),
          max_fee_per_gas: f.fee.toString(),
          max_priority_fee_per_gas: f.tip.toString(),
          approval_expires_at: new Date(f.expires * 1000 + 999),
        };
        assert.equal(approvalDigest(mixed), approvalDigest(lower));
        const o = approvalObject(mixed);
        assert.deepEqual(Object.keys(o).sort(), ['approval_expires_at', 'chain_id', 'data', 'from', 'gas_limit', 'max_fee_per_gas', 'max_priority_fee_per_gas', 'to', 'transaction_id', 'v', 'value']);
        for (const value of Object.values(o)) assert.equal(typeof value, 'string');
      }),
      RUNS,
    );
  });

  test('any change to a digest field changes the digest', () => {
    const base: ApprovalFields = {
      transaction_id: '3f2b8c1e-7a4d-4e5f-9b6a-0c1d2e3f4a5b',
      chain_id: 31337,
      from: '0x' + '11'.repeat(20),
      to: '0x' + '22'.repeat(20),
      value: 1n,
      data: '0x',
      gas_limit: 21000n,
      max_fee_per_gas: 2n,
      max_priority_fee_per_gas: 1n,
      approval_expires_at: 1_900_000_000,
    };
    const original = approvalDigest(base);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.bigInt({ min: 0n, max: MAX_UINT256 }).filter((v) => v !== 1n).map((value) => ({ value })),
          hexString(40).filter((h) => h.toLowerCase() !== '22'.repeat(20)).map((h) => ({ to: `0x${h}` })),
          fc.integer({ min: 1, max: 2 ** 31 }).filter((c) => c !== 31337).map((chain_id) => ({ chain_id })),
          fc.bigInt({ min: 0n, max: MAX_UINT256 }).filter((v) => v !== 2n).map((max_fee_per_gas) => ({ max_fee_per_gas })),
          fc.integer({ min: 0, max: 4_000_000_000 }).filter((t) => t !== 1_900_000_000).map((approval_expires_at) => ({ approval_expires_at })),
          fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => ({ data: `0x${Buffer.from(b).toString('hex')}` })),
        ),
        (change) => {
          assert.notEqual(approvalDigest({ ...base, ...change }), original, JSON.stringify(change, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
        },
      ),
      RUNS,
    );
  });
});
