import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { approvalDigest, canonicalApprovalJson, digestsEqual } from '../../domains/chain/digest';
import { canonicalizeStringRecord, canonicalString, approvalObject, type ApprovalFields } from '../../domains/chain/canonical';

// Vectors cross-checked with Python:
//   json.dumps(o, sort_keys=True, separators=(',', ':'), ensure_ascii=False), then hashlib.sha256.
const ERC20_FIELDS: ApprovalFields = {
  transaction_id: '3F2B8C1E-7A4D-4E5F-9B6A-0C1D2E3F4A5B',
  chain_id: 31337,
  from: '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
  to: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
  value: 0n,
  data: '0xA9059CBB00000000000000000000000070997970C51812DC3A010C7D01B50E0D17DC79C80000000000000000000000000000000000000000000000000DE0B6B3A7640000',
  gas_limit: 62000n,
  max_fee_per_gas: 3000000000n,
  max_priority_fee_per_gas: '1000000000',
  approval_expires_at: new Date('2030-01-01T00:00:00.999Z'),
};
const ERC20_CANONICAL =
  '{"approval_expires_at":"1893456000","chain_id":"31337","data":"0xa9059cbb00000000000000000000000070997970c51812dc3a010c7d01b50e0d17dc79c80000000000000000000000000000000000000000000000000de0b6b3a7640000","from":"0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266","gas_limit":"62000","max_fee_per_gas":"3000000000","max_priority_fee_per_gas":"1000000000","to":"0x5fbdb2315678afecb367f032d93f642f64180aa3","transaction_id":"3f2b8c1e-7a4d-4e5f-9b6a-0c1d2e3f4a5b","v":"countersign-approval-v1","value":"0"}';
const ERC20_DIGEST = '0xc4953d8146044de2d22f3d6a8e6443d02be4f2013ae4c9936eec336157ba4012';

const NATIVE_FIELDS: ApprovalFields = {
  transaction_id: '00000000-0000-4000-8000-000000000000',
  chain_id: '1',
  from: '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266',
  to: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  value: '1000000000000000000',
  data: '0x',
  gas_limit: 21000,
  max_fee_per_gas: '3000000000',
  max_priority_fee_per_gas: 1000000000n,
  approval_expires_at: 0,
};
const NATIVE_DIGEST = '0x81143699e14c017515f534bea9cbcb01f50612b761e71b5dc6e0550176c2535f';

describe('approval digest', () => {
  test('canonical JSON of an ERC-20 request matches the Python vector byte for byte', () => {
    assert.equal(canonicalApprovalJson(ERC20_FIELDS), ERC20_CANONICAL);
  });

  test('digest vectors', () => {
    assert.equal(approvalDigest(ERC20_FIELDS), ERC20_DIGEST);
    assert.equal(approvalDigest(NATIVE_FIELDS), NATIVE_DIGEST);
  });

  test('input case and numeric types do not change the digest', () => {
    const sameAsStrings: ApprovalFields = {
      transaction_id: '3f2b8c1e-7a4d-4e5f-9b6a-0c1d2e3f4a5b',
      chain_id: '31337',
      from: '0xF39FD6E51AAD88F6F4CE6AB8827279CFFFB92266',
      to: '0x5fbdb2315678afecb367f032d93f642f64180aa3',
      value: '0',
      data: ERC20_FIELDS.data.toLowerCase(),
      gas_limit: '62000',
      max_fee_per_gas: '3000000000',
      max_priority_fee_per_gas: '1000000000',
      approval_expires_at: '1893456000',
    };
    assert.equal(approvalDigest(sameAsStrings), ERC20_DIGEST);
  });

  test('every field is covered: changing any one changes the digest', () => {
    const changes: Partial<ApprovalFields>[] = [
      { transaction_id: '3f2b8c1e-7a4d-4e5f-9b6a-0c1d2e3f4a5c' },
      { chain_id: 1 },
      { from: '0x0000000000000000000000000000000000000001' },
      { to: '0x0000000000000000000000000000000000000001' },
      { value: 1n },
      { data: '0x' },
      { gas_limit: 62001n },
      { max_fee_per_gas: 3000000001n },
      { max_priority_fee_per_gas: 1n },
      { approval_expires_at: 1893456001 },
    ];
    for (const change of changes) {
      assert.notEqual(approvalDigest({ ...ERC20_FIELDS, ...change }), ERC20_DIGEST, JSON.stringify(change, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
    }
  });

  test('the digest is SHA-256 of the UTF-8 canonical JSON', () => {
    const expected = `0x${createHash('sha256').update(Buffer.from(ERC20_CANONICAL, 'utf8')).digest('hex')}`;
    assert.equal(approvalDigest(ERC20_FIELDS), expected);
  });

  test('malformed fields are refused, not hashed', () => {
    assert.throws(() => approvalObject({ ...ERC20_FIELDS, from: '0x1234' }), /from is malformed/);
    assert.throws(() => approvalObject({ ...ERC20_FIELDS, data: '0xabc' }), /data is malformed/);
    assert.throws(() => approvalObject({ ...ERC20_FIELDS, value: '-1' }), /value must be a non-negative decimal integer/);
    assert.throws(() => approvalObject({ ...ERC20_FIELDS, value: '01' }), /value must be a non-negative decimal integer/);
    assert.throws(() => approvalObject({ ...ERC20_FIELDS, gas_limit: 1.5 }), /gas_limit must be a safe integer/);
    assert.throws(() => approvalObject({ ...ERC20_FIELDS, transaction_id: 'tx-1' }), /transaction_id is malformed/);
    assert.throws(() => approvalObject({ ...ERC20_FIELDS, approval_expires_at: new Date('nope') }), /invalid date/);
    assert.throws(() => approvalObject({ ...ERC20_FIELDS, approval_expires_at: '2030-01-01T00:00:00Z' }), /approval_expires_at must be a non-negative decimal integer/);
  });

  test('digestsEqual ignores hex case and refuses malformed digests', () => {
    assert.equal(digestsEqual(ERC20_DIGEST, ERC20_DIGEST.toUpperCase().replace('0X', '0x')), true);
    assert.equal(digestsEqual(ERC20_DIGEST, NATIVE_DIGEST), false);
    assert.equal(digestsEqual(ERC20_DIGEST, ERC20_DIGEST.slice(0, 10)), false);
    assert.equal(digestsEqual('', ''), false);
  });
});

describe('RFC 8785 canonicalisation (string-only objects)', () => {
  test('escaping and key order match the Python vector', () => {
    const record = { b: 'line\nbreak\t"q" \\ \u0001\u001f\u007f', a: 'é€😀', A: 'upper', é: 'e-acute key', aa: '' };
    const canonical = canonicalizeStringRecord(record);
    assert.equal(canonical, '{"A":"upper","a":"é€😀","aa":"","b":"line\\nbreak\\t\\"q\\" \\\\ \\u0001\\u001f\u007f","é":"e-acute key"}');
    assert.equal(createHash('sha256').update(canonical, 'utf8').digest('hex'), '6c6719728ab040d171b619cd8378b4e34a250fd40403199fcfc8874f3a54db25');
  });

  test('keys sort by UTF-16 code units, not code points', () => {
    // U+1F600 is the surrogate pair D83D DE00, which sorts before U+E000 in UTF-16.
    assert.equal(canonicalizeStringRecord({ '\ue000': 'y', '😀': 'x' }), '{"😀":"x","\ue000":"y"}');
  });

  test('short escapes, \\u00xx lowercase for other controls, DEL and non-ASCII literal', () => {
    assert.equal(canonicalString('\b\f\n\r\t'), '"\\b\\f\\n\\r\\t"');
    assert.equal(canonicalString('\u000b\u001e'), '"\\u000b\\u001e"');
    assert.equal(canonicalString('\u007f\u2028/'), '"\u007f\u2028/"');
  });

  test('agrees with JSON.stringify on well-formed strings', () => {
    for (const sample of ['', 'plain', '"\\', '\u0000\u0010\u001f', '€😀\u2028\u2029', '</script>']) {
      assert.equal(canonicalString(sample), JSON.stringify(sample));
    }
  });

  test('lone surrogates and non-string values are refused', () => {
    assert.throws(() => canonicalString('\ud800'), /lone surrogate/);
    assert.throws(() => canonicalString('a\udc00b'), /lone surrogate/);
    assert.throws(() => canonicalizeStringRecord({ n: 1 as unknown as string }), /not a string/);
  });
});

describe('agreement with the web app', () => {
  test('the browser implementation (web/src/lib/digest.ts) computes the same digests', async () => {
    const web = await import('../../web/src/lib/digest');
    const fromApi = (fields: ApprovalFields, iso: string) => ({
      transaction_id: String(fields.transaction_id).toLowerCase(),
      chain_id: String(fields.chain_id),
      wallet_address: fields.from,
      to: fields.to,
      value: String(fields.value),
      data: fields.data,
      gas_limit: String(fields.gas_limit),
      max_fee_per_gas: String(fields.max_fee_per_gas),
      max_priority_fee_per_gas: String(fields.max_priority_fee_per_gas),
      approval_expires_at: iso,
    });
    assert.equal(await web.approvalDigest(fromApi(ERC20_FIELDS, '2030-01-01T00:00:00.999Z')), ERC20_DIGEST);
    assert.equal(await web.approvalDigest(fromApi(NATIVE_FIELDS, '1970-01-01T00:00:00.000Z')), NATIVE_DIGEST);
  });
});
