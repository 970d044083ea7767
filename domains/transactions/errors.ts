/**
 * Failures of the custody path that retrying cannot change. Each names its
 * Temporal failure type (workflows/definitions.ts FAILURE_TYPES); the
 * activities turn them into non-retryable ApplicationFailures, and every other
 * error is retried.
 */
import type { FAILURE_TYPES, SigningRefusal } from '../../workflows/definitions';
import type { Verdict } from '../policies';

export class FinalFailure extends Error {
  override name = 'FinalFailure';
  constructor(
    readonly type: keyof typeof FAILURE_TYPES,
    message: string,
  ) {
    super(message);
  }
}

/** The signing gate said no: nothing was signed. The message is the SigningRefusal (never the violations: they stay out of Temporal's history). */
export class SigningRefusedError extends FinalFailure {
  override name = 'SigningRefusedError';
  constructor(
    readonly reason: SigningRefusal,
    /** `policy_denied`: the policy's verdict, for the refusal record. */
    readonly verdict?: Verdict,
  ) {
    super('signingRefused', reason);
  }
}
