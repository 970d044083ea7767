/**
 * Password hashing: argon2id (RFC 9106 / OWASP minimum: 19 MiB, t=2, p=1).
 *
 * argon2 is memory hungry by design, so hashing runs through a small
 * semaphore: at most `maxConcurrent` hashes at once (≈ 19 MiB each) and a
 * bounded queue behind them; past that the API answers 503 rather than let a
 * login flood exhaust memory.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { hash, parseOptions, verify, type Algorithm } from '@node-rs/argon2';
import { unavailable } from '../../lib/errors';

// `Algorithm` is a const enum, which isolatedModules cannot read at run time.
const ARGON2ID = 2 as Algorithm;

export const ARGON2_POLICY = { algorithm: ARGON2ID, memoryCost: 19456, timeCost: 2, parallelism: 1, outputLen: 32 } as const;

export interface Semaphore {
  run<T>(task: () => Promise<T>): Promise<T>;
  /** Tasks running and waiting (for tests and metrics). */
  load(): { running: number; waiting: number };
}

/** Runs at most `limit` tasks at once; refuses (503) when `maxQueue` are already waiting. */
export function createSemaphore(limit: number, maxQueue: number): Semaphore {
  let running = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else running -= 1;
  };
  return {
    async run(task) {
      if (running < limit) {
        running += 1;
      } else {
        if (waiting.length >= maxQueue) throw unavailable('too many sign-ins at once, try again shortly', 2);
        // The releasing task hands its slot straight to us, so `running` stays put.
        await new Promise<void>((resolve) => waiting.push(resolve));
      }
      try {
        return await task();
      } finally {
        release();
      }
    },
    load: () => ({ running, waiting: waiting.length }),
  };
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(passwordHash: string, password: string): Promise<boolean>;
  /**
   * Spends one verification against a fixed dummy hash: the unknown-user and
   * locked-account paths take as long as a real check, so timing reveals nothing.
   */
  verifyDummy(password: string): Promise<void>;
  /** True when a stored hash is weaker than the current policy (rehash after a successful login). */
  needsRehash(passwordHash: string): boolean;
}

export function createPasswordHasher(options: { maxConcurrent?: number; maxQueue?: number } = {}): PasswordHasher {
  // More hashes at once than cores only adds memory (19 MiB each), not throughput.
  const gate = createSemaphore(options.maxConcurrent ?? Math.min(4, os.availableParallelism()), options.maxQueue ?? 256);
  let dummy: Promise<string> | undefined;
  const hashNow = (password: string) => gate.run(() => hash(password, ARGON2_POLICY));
  const verifyNow = (passwordHash: string, password: string) =>
    gate.run(async () => {
      try {
        return await verify(passwordHash, password);
      } catch {
        return false; // a malformed stored hash never authenticates
      }
    });
  return {
    hash: hashNow,
    verify: verifyNow,
    async verifyDummy(password) {
      dummy ??= hashNow(randomBytes(18).toString('base64url'));
      await verifyNow(await dummy, password);
    },
    needsRehash(passwordHash) {
      try {
        const current = parseOptions(passwordHash);
        return (
          current.algorithm !== ARGON2ID ||
          current.memoryCost < ARGON2_POLICY.memoryCost ||
          current.timeCost < ARGON2_POLICY.timeCost ||
          current.outputLen < ARGON2_POLICY.outputLen
        );
      } catch {
        return true;
      }
    },
  };
}
