/**
 * Failures of the custody path that retrying cannot change. Each names its
 * Temporal failure type (workflows/definitions.ts FAILURE_TYPES); the
 * activities turn them into non-retryable ApplicationFailures, and every other
 * error is retried.
 */
import type { FAILURE_TYPES, SigningRefusal } from '../../workflows/definitions';

export class FinalFailure extends Error {
  override name = 'FinalFailure';
  constructor(
    readonly type: keyof typeof FAILURE_TYPES,
    message: string,
  ) {
    super(message);
  }
}

/** The signing gate said no: nothing was signed. The message is the SigningRefusal. */
export class SigningRefusedError extends FinalFailure {
  override name = 'SigningRefusedError';
  constructor(readonly reason: SigningRefusal) {
    super('signingRefused', reason);
  }
}
