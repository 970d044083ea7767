/**
 * Crash points for the crash-safety tests: with NODE_ENV=test and
 * COUNTERSIGN_FAILPOINT=<name>, the process kills itself (SIGKILL, no cleanup)
 * when it reaches that point — e.g. right after a signature is committed and
 * before the activity reports back. Inert in every other environment.
 */
export type FailpointName = 'after_sign' | 'after_broadcast';

export function failpoint(name: FailpointName): void {
  if (process.env.NODE_ENV !== 'test' || process.env.COUNTERSIGN_FAILPOINT !== name) return;
  process.kill(process.pid, 'SIGKILL');
}
