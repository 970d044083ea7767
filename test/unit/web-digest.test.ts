/**
 * The web app's own approval digest (web/src/lib/digest.ts) against docs/http-contract.md:
 * a hand-written canonical string hashed by Node's crypto, RFC 8785 key order
 * and escaping, and refusal of malformed input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { approvalDigest, canonicalJson, checkDigest, digestInput, DigestInputError } from '../../web/src/lib/digest';
import { approvalDigest as backendApprovalDigest } from '../../domains/chain/digest';

const tx = {
  transaction_id: '3f1c2a4e-8b7d-4c1e-9f00-0123456789ab',
  chain_id: '31337',
  wallet_address: '0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
  to: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  value: '1000000000000000000',
  data: '0x',
  gas_limit: '21000',
  max_fee_per_gas: '2000000000',
  max_priority_fee_per_gas: '1000000000',
  approval_expires_at: '2030-01-02T03:04:05.678Z',
};

// Written out by hand in sorted key order, as the contract defines it.
const expectedCanonical =
  '{"approval_expires_at":"1893553445","chain_id":"31337","data":"0x",' +
  '"from":"0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266","gas_limit":"21000",' +
  '"max_fee_per_gas":"2000000000","max_priority_fee_per_gas":"1000000000",' +
  '"to":"0x70997970c51812dc3a010c7d01b50e0d17dc79c8",' +
  '"transaction_id":"3f1c2a4e-8b7d-4c1e-9f00-0123456789ab","v":"countersign-approval-v1",' +
  '"value":"1000000000000000000"}';

test('the digest is SHA-256 of the canonical JSON of the contract fields', async () => {
  assert.equal(canonicalJson(digestInput(tx)), expectedCanonical);
  const expected = `0x${createHash('sha256').update(expectedCanonical, 'utf8').digest('hex')}`;
  assert.equal(await approvalDigest(tx), expected);
});

test('addresses and data are lowercased, expiry becomes floored unix seconds, numbers become strings', () => {
  const input = digestInput({ ...tx, data: '0xA9059CBB', chain_id: 31337, gas_limit: 65000 });
  assert.equal(input.data, '0xa9059cbb');
  assert.equal(input.chain_id, '31337');
  assert.equal(input.gas_limit, '65000');
  assert.equal(input.approval_expires_at, '1893553445');
  assert.equal(digestInput({ ...tx, data: null }).data, '0x');
});

test('canonical JSON sorts keys by UTF-16 code units and escapes like RFC 8785', () => {
  // U+E000 (one unit 0xE000) sorts after U+1F600 (surrogates 0xD83D…); code-point order would differ.
  assert.equal(canonicalJson({ '\ue000': 'a', '\u{1f600}': 'b', B: 'c', a: 'd' }), '{"B":"c","a":"d","\u{1f600}":"b","\ue000":"a"}');
  assert.equal(canonicalJson({ k: 'q"\\\n\t\u0001\u007f€' }), '{"k":"q\\"\\\\\\n\\t\\u0001\u007f€"}');
  assert.throws(() => canonicalJson({ k: 1 as unknown as string }), TypeError);
});

test('a digest that differs from the displayed fields is reported as a mismatch', async () => {
  const good = await approvalDigest(tx);
  assert.deepEqual(await checkDigest({ ...tx, digest: good.toUpperCase().replace('0X', '0x') }), { state: 'ok', digest: good });
  const changed = await checkDigest({ ...tx, value: '2000000000000000000', digest: good });
  assert.equal(changed.state, 'mismatch');
  const missing = await checkDigest({ ...tx, gas_limit: null, digest: good });
  assert.equal(missing.state, 'invalid');
});

test('malformed fields are refused rather than guessed', () => {
  for (const bad of [
    { to: '0x1234' },
    { value: '1.5' },
    { value: '-1' },
    { value: '01' },
    { data: '0xabc' },
    { approval_expires_at: 'tomorrow' },
    { transaction_id: 'not-a-uuid' },
    { chain_id: null },
  ]) {
    assert.throws(() => digestInput({ ...tx, ...bad }), DigestInputError, JSON.stringify(bad));
  }
});

test('the web app and the backend compute the same digest for any valid request', async () => {
  const hex = (bytes: number) => fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex'));
  const mixedCase = (text: string, flips: boolean[]) => [...text].map((c, i) => (flips[i % flips.length] ? c.toUpperCase() : c)).join('');
  const decimal = fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }).map(String);
  await fc.assert(
    fc.asyncProperty(
      fc.uuid({ version: 4 }),
      fc.integer({ min: 1, max: 2 ** 31 }),
      hex(20),
      hex(20),
      fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }),
      decimal,
      fc.uint8Array({ maxLength: 200 }).map((b) => `0x${Buffer.from(b).toString('hex')}`),
      decimal,
      decimal,
      decimal,
      fc.integer({ min: 1_600_000_000_000, max: 4_000_000_000_000 }),
      async (id, chainId, from, to, flips, value, data, gas, maxFee, tip, expiresMs) => {
        const iso = new Date(expiresMs).toISOString();
        const web = await approvalDigest({
          transaction_id: id,
          chain_id: chainId,
          wallet_address: `0x${mixedCase(from, flips)}`,
          to: `0x${mixedCase(to, flips)}`,
          value,
          data: mixedCase(data, flips).replace(/^0X/, '0x'),
          gas_limit: gas,
          max_fee_per_gas: maxFee,
          max_priority_fee_per_gas: tip,
          approval_expires_at: iso,
        });
        const backend = backendApprovalDigest({
          transaction_id: id,
          chain_id: chainId,
          from: `0x${from}`,
          to: `0x${to}`,
          value,
          data,
          gas_limit: gas,
          max_fee_per_gas: maxFee,
          max_priority_fee_per_gas: tip,
          approval_expires_at: new Date(expiresMs),
        });
        assert.equal(web, backend);
      },
    ),
    { numRuns: 300 },
  );
});
