/**
 * Crash points for the crash-safety tests: with NODE_ENV=test and
 * COUNTERSIGN_FAILPOINT=<name>, the process kills itself (SIGKILL, no cleanup)
 * when it reaches that point — e.g. right after a signature is committed and
 * before the activity reports back. Inert in every other environment.
 */
/** `after_prepare_commit` is the API's: a request is stored and its workflow not yet started. */
export type FailpointName = 'after_sign' | 'after_broadcast' | 'after_prepare_commit';

export function failpoint(name: FailpointName): void {
  if (process.env.NODE_ENV !== 'test' || process.env.COUNTERSIGN_FAILPOINT !== name) return;
  process.kill(process.pid, 'SIGKILL');
}
