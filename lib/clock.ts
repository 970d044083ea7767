/**
 * Time comes from a Clock so tests can move it. Only the system clock exists
 * in production: `createTestClock` is wired in solely when ALLOW_TEST_CLOCK is
 * set, which the configuration refuses in production.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export interface TestClock extends Clock {
  set(at: Date): void;
  advance(ms: number): void;
}

export function createTestClock(start: Date = new Date()): TestClock {
  let current = start.getTime();
  return {
    now: () => new Date(current),
    set: (at) => {
      current = at.getTime();
    },
    advance: (ms) => {
      current += ms;
    },
  };
}

export const unixSeconds = (date: Date) => Math.floor(date.getTime() / 1000);
