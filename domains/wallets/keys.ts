/**
 * New wallet keys.
 *
 * Security invariants:
 * * The key comes from ethers' CSPRNG (`randomBytes`, Node's crypto underneath).
 * * The private key exists only as bytes in a Buffer the caller owns: no hex
 *   string, no `Wallet` object (both would keep a copy that cannot be wiped).
 *   The address is derived from the bytes directly; the caller encrypts them
 *   at once and zeroes the Buffer (`fill(0)`) in a `finally`.
 */
import { computeAddress, randomBytes, SigningKey } from 'ethers';

/** The secp256k1 group order: a private key must lie in [1, n-1]. */
const CURVE_ORDER = Buffer.from('fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141', 'hex');

export interface NewWalletKey {
  /** Lowercase 0x-hex, as stored. */
  address: string;
  /** 32 bytes. The caller must zero it once encrypted. */
  privateKey: Buffer;
}

export const isValidPrivateKey = (key: Uint8Array): boolean =>
  key.length === 32 && key.some((byte) => byte !== 0) && Buffer.compare(Buffer.from(key.buffer, key.byteOffset, key.length), CURVE_ORDER) < 0;

/** `random` is injectable for tests only. */
export function generateWalletKey(random: (length: number) => Uint8Array = randomBytes): NewWalletKey {
  // A value outside [1, n-1] has probability ~2^-128; draw again rather than reduce (reduction would bias).
  for (let attempt = 0; attempt < 8; attempt += 1) {
    const bytes = random(32);
    const privateKey = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    if (!isValidPrivateKey(privateKey)) {
      privateKey.fill(0);
      continue;
    }
    try {
      const address = computeAddress(SigningKey.computePublicKey(privateKey, false)).toLowerCase();
      return { address, privateKey };
    } catch (error) {
      privateKey.fill(0);
      throw error;
    }
  }
  throw new Error('the random source produced no valid secp256k1 key');
}
