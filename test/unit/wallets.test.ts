/**
 * The wallet domain's pure parts and its failure paths that need no service:
 * key generation, label sanitising, bounded concurrency, the request schemas,
 * and `create` when the key store fails (the plaintext is zeroed anyway).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Wallet } from 'ethers';
import { z } from 'zod';
import { generateWalletKey, isValidPrivateKey } from '../../domains/wallets/keys';
import { createWalletService, normalizeLabel } from '../../domains/wallets/service';
import { mapLimit } from '../../lib/concurrency';
import { chainIdQuery, CreateWalletBody, GrantBody, loadWalletBody, TokensQuery, walletDetailQuery } from '../../domains/wallets/schemas';
import { KeyStoreError } from '../../domains/keystore/types';
import { AppError } from '../../lib/errors';
import { createTestClock } from '../../lib/clock';
import type { WalletServiceDeps } from '../../domains/wallets/types';

const ORDER_HEX = 'fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141';

describe('generateWalletKey', () => {
  test('derives the same address as ethers does for the key, lowercase', () => {
    const fixed = Buffer.from('4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318', 'hex');
    const key = generateWalletKey(() => Uint8Array.from(fixed));
    assert.equal(key.address, new Wallet(`0x${fixed.toString('hex')}`).address.toLowerCase());
    assert.match(key.address, /^0x[0-9a-f]{40}$/);
    assert.equal(key.privateKey.length, 32);
    assert.deepEqual(Buffer.from(key.privateKey), fixed);
  });

  test('returns the random bytes themselves (so zeroing the Buffer wipes them), not a copy', () => {
    const source = new Uint8Array(32).fill(7);
    const key = generateWalletKey(() => source);
    key.privateKey.fill(0);
    assert.ok(source.every((b) => b === 0));
  });

  test('fresh keys differ and match their addresses', () => {
    const a = generateWalletKey();
    const b = generateWalletKey();
    assert.notEqual(a.address, b.address);
    assert.equal(new Wallet(`0x${a.privateKey.toString('hex')}`).address.toLowerCase(), a.address);
  });

  test('draws again on zero or a value ≥ the curve order, and zeroes the rejected draws', () => {
    const draws = [new Uint8Array(32), Uint8Array.from(Buffer.from(ORDER_HEX, 'hex')), new Uint8Array(32).fill(1)];
    const handed: Uint8Array[] = [];
    const key = generateWalletKey(() => {
      const next = draws.shift()!;
      handed.push(next);
      return next;
    });
    assert.deepEqual(Buffer.from(key.privateKey), Buffer.alloc(32, 1));
    assert.ok(handed[1]!.every((b) => b === 0), 'a rejected draw is wiped');
  });

  test('gives up on a broken random source', () => {
    assert.throws(() => generateWalletKey(() => new Uint8Array(32)), /no valid secp256k1 key/);
  });

  test('isValidPrivateKey bounds', () => {
    assert.equal(isValidPrivateKey(new Uint8Array(32)), false);
    assert.equal(isValidPrivateKey(Buffer.from(ORDER_HEX, 'hex')), false);
    const belowOrder = Buffer.from(ORDER_HEX, 'hex');
    belowOrder[31] = 0x40;
    assert.equal(isValidPrivateKey(belowOrder), true);
    assert.equal(isValidPrivateKey(new Uint8Array(31).fill(1)), false);
  });
});

describe('normalizeLabel', () => {
  test('strips control and bidi characters, collapses whitespace, caps at 100 code points', () => {
    assert.equal(normalizeLabel('  trading\u202e gnp.exe \u0000bot\n\tmain '), 'trading gnp.exe bot main');
    assert.equal(normalizeLabel(undefined), null);
    assert.equal(normalizeLabel(null), null);
    assert.equal(normalizeLabel('\u200b\u202a '), null);
    const long = normalizeLabel('😀'.repeat(150))!;
    assert.equal([...long].length, 100);
    assert.ok(long.endsWith('…'));
    assert.equal(normalizeLabel('\ud800x'), 'x', 'a lone surrogate is removed');
  });
});

describe('mapLimit', () => {
  test('keeps input order and never exceeds the limit', async () => {
    let inFlight = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3, 0, 6], 3, async (n) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await new Promise((resolve) => setTimeout(resolve, n * 2));
      inFlight -= 1;
      return n * 10;
    });
    assert.deepEqual(out, [50, 10, 40, 20, 30, 0, 60]);
    assert.ok(peak <= 3);
    assert.deepEqual(await mapLimit([], 3, async () => 1), []);
  });

  test('rejects when one item fails', async () => {
    await assert.rejects(mapLimit([1, 2, 3], 2, async (n) => {
      if (n === 2) throw new Error('boom');
      return n;
    }), /boom/);
  });
});

describe('schemas', () => {
  const body = loadWalletBody([31337, 11155111]);
  const address = '0x' + 'aB'.repeat(20);

  test('load_wallet accepts the agent form ({}) and the user form, nothing in between', () => {
    assert.deepEqual(body.parse({}), {});
    assert.deepEqual(body.parse({ chain_id: 11155111 }), { chain_id: 11155111 });
    assert.deepEqual(body.parse({ password: 'p', mfa_code: '123456', address }), { password: 'p', mfa_code: '123456', address });
    for (const bad of [{ password: 'p' }, { address }, { password: 'p', mfa_code: '12345', address }, { chain_id: 1 }, { extra: 1 }, { chain_id: '31337' }]) {
      assert.equal(body.safeParse(bad).success, false, JSON.stringify(bad));
    }
  });

  test('load_wallet publishes both forms in its JSON Schema', () => {
    const schema = z.toJSONSchema(body, { io: 'input' }) as { anyOf: Array<{ required?: string[]; additionalProperties: boolean }> };
    assert.equal(schema.anyOf.length, 2);
    assert.deepEqual(schema.anyOf[0]!.required?.sort(), ['address', 'mfa_code', 'password']);
    assert.equal(schema.anyOf[1]!.required, undefined);
    assert.ok(schema.anyOf.every((s) => s.additionalProperties === false));
  });

  test('tokens: up to 20 comma-separated addresses, deduplicated and lowercased; empty means none', () => {
    const t = (n: number) => Array.from({ length: n }, (_, i) => `0x${i.toString(16).padStart(40, 'A')}`);
    assert.deepEqual(TokensQuery.parse(''), []);
    assert.deepEqual(TokensQuery.parse(`${t(1)[0]},${t(1)[0]!.toLowerCase()}`), [t(1)[0]!.toLowerCase()]);
    assert.equal(TokensQuery.parse(t(20).join(',')).length, 20);
    assert.equal(TokensQuery.safeParse(t(21).join(',')).success, false);
    assert.equal(TokensQuery.safeParse(`${t(1)[0]},`).success, false);
    assert.equal(TokensQuery.safeParse('0x1234').success, false);
  });

  test('chain_id in a query is a string enum of the configured chains', () => {
    const q = chainIdQuery([31337]);
    assert.equal(q.parse('31337'), 31337);
    assert.equal(q.safeParse('1').success, false);
    assert.deepEqual((z.toJSONSchema(q, { io: 'input' }) as { enum: string[] }).enum, ['31337']);
    assert.deepEqual(walletDetailQuery([31337]).parse({ tokens: '', chain_id: '31337' }), { tokens: [], chain_id: 31337 });
    assert.equal(walletDetailQuery([31337]).safeParse({ other: '1' }).success, false);
  });

  test('labels count code points, like JSON Schema', () => {
    assert.equal(CreateWalletBody.safeParse({ password: 'x', label: '😀'.repeat(100) }).success, true);
    assert.equal(CreateWalletBody.safeParse({ password: 'x', label: '😀'.repeat(101) }).success, false);
    assert.equal(CreateWalletBody.safeParse({ password: 'x', label: null }).success, true);
    assert.equal(CreateWalletBody.safeParse({ password: 'x', private_key: '0x01' }).success, false, 'strict: nothing else');
    assert.equal(GrantBody.safeParse({ address, mfa_code: '000000' }).success, true);
  });
});

describe('create when the key store fails', () => {
  function deps(encrypt: WalletServiceDeps['keystore']['encrypt'], seen: { buffers: Buffer[]; logs: unknown[] }): WalletServiceDeps {
    return {
      db: {} as WalletServiceDeps['db'],
      clock: createTestClock(),
      logger: { warn: (...args: unknown[]) => seen.logs.push(args), error: (...args: unknown[]) => seen.logs.push(args) } as unknown as WalletServiceDeps['logger'],
      config: { CHAIN_ID: 31337 },
      keystore: { encrypt, describe: () => ({ kind: 'vault' }) },
      chain: { chainIds: () => [31337], nativeBalance: async () => 0n, pendingNonce: async () => 0, tokenBalances: async () => [] },
      passwords: { verifyPassword: async () => {} },
      mfa: { verifyAndConsume: async () => ({ mfaUseId: 'x', step: 0 }) },
      audit: { append: async () => {} },
    };
  }

  test('an unavailable key store is a 503 and the key bytes are zeroed', async () => {
    const seen = { buffers: [] as Buffer[], logs: [] as unknown[] };
    let snapshot = '';
    const service = createWalletService(
      deps(async (purpose, subject, plaintext) => {
        assert.equal(purpose, 'wallet');
        assert.match(subject, /^[0-9a-f-]{36}$/);
        snapshot = plaintext.toString('hex');
        seen.buffers.push(plaintext);
        throw new KeyStoreError('unavailable', 'key store is unreachable (encrypt)');
      }, seen),
    );
    await assert.rejects(service.create('u', { password: 'pw' }), (err: unknown) => err instanceof AppError && err.status === 503 && err.code === 'unavailable');
    assert.equal(seen.buffers.length, 1);
    assert.ok(seen.buffers[0]!.every((b) => b === 0), 'the plaintext buffer is zeroed after a failed encrypt');
    assert.ok(!JSON.stringify(seen.logs).includes(snapshot), 'the key is not logged');
  });

  test('a wrong password stops before any key is generated', async () => {
    const seen = { buffers: [] as Buffer[], logs: [] as unknown[] };
    const d = deps(async (_p, _s, plaintext) => {
      seen.buffers.push(plaintext);
      return 'vault:v1:x';
    }, seen);
    d.passwords = {
      verifyPassword: async () => {
        throw new AppError('password_invalid', 'the password is not correct');
      },
    };
    await assert.rejects(createWalletService(d).create('u', { password: 'bad' }), (err: unknown) => err instanceof AppError && err.code === 'password_invalid');
    assert.equal(seen.buffers.length, 0);
  });

  test('after a successful encrypt the Buffer is zeroed too', async () => {
    const seen = { buffers: [] as Buffer[], logs: [] as unknown[] };
    const d = deps(async (_p, _s, plaintext) => {
      seen.buffers.push(plaintext);
      return 'vault:v1:abc';
    }, seen);
    // The insert fails (no database here): the key must already be wiped by then.
    d.db = { transaction: async () => {
      assert.ok(seen.buffers[0]!.every((b) => b === 0), 'zeroed before the row is written');
      throw new Error('no database in a unit test');
    } } as unknown as WalletServiceDeps['db'];
    await assert.rejects(createWalletService(d).create('u', { password: 'pw' }), /no database/);
    assert.equal(seen.buffers.length, 1);
  });
});
