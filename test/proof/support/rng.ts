/**
 * Seeded randomness for the fault schedule, so a failing run can be replayed:
 * the seed is printed, and COUNTERSIGN_PROOF_SEED=<seed> reproduces the same
 * choices (kill delays, failpoints, which wallet gets which request).
 */
export interface Rng {
  seed: number;
  /** [0, 1) */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
}

/** mulberry32: tiny, fast, good enough for a test schedule (not for anything secret). */
export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed: seed >>> 0,
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[Math.floor(next() * items.length)]!;
    },
  };
}

/** COUNTERSIGN_PROOF_SEED when set (decimal or 0x-hex), else a fresh one. */
export function proofSeed(env: NodeJS.ProcessEnv = process.env): number {
  const configured = env.COUNTERSIGN_PROOF_SEED?.trim();
  if (configured) {
    const value = Number(configured);
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new Error(`COUNTERSIGN_PROOF_SEED must be an integer 0..4294967295, got ${configured}`);
    return value;
  }
  return Math.floor(Math.random() * 0x100000000);
}

/** COUNTERSIGN_PROOF_FULL=1: the nightly-size runs. */
export const fullRun = (env: NodeJS.ProcessEnv = process.env) => env.COUNTERSIGN_PROOF_FULL === '1' || env.COUNTERSIGN_PROOF_FULL === 'true';
