import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { keccak256, Transaction } from 'ethers';
import { signEip1559, transactionHash, withZeroedKey, type SignInput } from '../../domains/chain/sign';
import { ChainError } from '../../domains/chain/errors';

// Anvil's well-known dev account 0 (public test key; test code only).
const DEV_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
const DEV_ADDRESS = '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266';
const TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

const base = (privateKey: SignInput['privateKey']): SignInput => ({
  privateKey,
  chainId: 31337,
  nonce: 7,
  to: TO,
  value: 1000n,
  data: '0xDEADBEEF',
  gasLimit: 50000n,
  maxFeePerGas: 3_000_000_000n,
  maxPriorityFeePerGas: 1_000_000_000n,
});

function refuses(input: SignInput, code: string, message: RegExp) {
  return assert.rejects(signEip1559(input), (err: unknown) => {
    assert.ok(err instanceof ChainError);
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

describe('signEip1559', () => {
  test('signs a type-2 transaction with exactly the requested fields', async () => {
    const signed = await signEip1559(base(Buffer.from(DEV_KEY.slice(2), 'hex')));
    assert.equal(signed.from, DEV_ADDRESS);
    assert.equal(signed.hash, keccak256(signed.raw));
    assert.equal(signed.raw, signed.raw.toLowerCase());
    const tx = Transaction.from(signed.raw);
    assert.equal(tx.type, 2);
    assert.equal(tx.chainId, 31337n);
    assert.equal(tx.nonce, 7);
    assert.equal(tx.to, TO);
    assert.equal(tx.value, 1000n);
    assert.equal(tx.data, '0xdeadbeef');
    assert.equal(tx.gasLimit, 50000n);
    assert.equal(tx.maxFeePerGas, 3_000_000_000n);
    assert.equal(tx.maxPriorityFeePerGas, 1_000_000_000n);
    assert.deepEqual(tx.accessList, []);
    assert.equal(tx.from?.toLowerCase(), DEV_ADDRESS);
  });

  test('deterministic (RFC 6979): Buffer, Uint8Array and hex keys give the same bytes', async () => {
    const a = await signEip1559(base(Buffer.from(DEV_KEY.slice(2), 'hex')));
    const b = await signEip1559(base(new Uint8Array(Buffer.from(DEV_KEY.slice(2), 'hex'))));
    const c = await signEip1559(base(DEV_KEY));
    assert.equal(a.raw, b.raw);
    assert.equal(a.raw, c.raw);
    assert.equal(transactionHash(a.raw), a.hash);
  });

  test('refuses contract creation and malformed requests', async () => {
    await refuses({ ...base(DEV_KEY), to: '' }, 'invalid_transaction', /refusing to sign without `to`/);
    await refuses({ ...base(DEV_KEY), to: undefined as unknown as string }, 'invalid_transaction', /contract creation is not supported/);
    await refuses({ ...base(DEV_KEY), nonce: -1 }, 'invalid_transaction', /nonce/);
    await refuses({ ...base(DEV_KEY), chainId: 0 }, 'invalid_transaction', /chainId/);
    await refuses({ ...base(DEV_KEY), gasLimit: 0n }, 'invalid_transaction', /gasLimit/);
    await refuses({ ...base(DEV_KEY), maxPriorityFeePerGas: 4_000_000_000n }, 'invalid_transaction', /maxPriorityFeePerGas/);
    await refuses({ ...base(DEV_KEY), data: '0x1' }, 'invalid_transaction', /data/);
  });

  test('a key that does not belong to the wallet never signs', async () => {
    await refuses({ ...base(DEV_KEY), from: TO }, 'key_mismatch', /does not belong to this wallet/);
    const ok = await signEip1559({ ...base(DEV_KEY), from: DEV_ADDRESS.toUpperCase().replace('0X', '0x') });
    assert.equal(ok.from, DEV_ADDRESS);
  });

  test('withZeroedKey wipes the buffer, also when signing fails', async () => {
    const key = Buffer.from(DEV_KEY.slice(2), 'hex');
    await withZeroedKey(key, (k) => signEip1559(base(k)));
    assert.ok(key.every((byte) => byte === 0));
    const other = Buffer.from(DEV_KEY.slice(2), 'hex');
    await assert.rejects(withZeroedKey(other, (k) => signEip1559({ ...base(k), to: '' })));
    assert.ok(other.every((byte) => byte === 0));
  });
});
