/** The answer to a request the owner's policy refuses (docs/http-contract.md: 403 `policy_denied`). */
import { AppError } from '../../lib/errors';
import type { Verdict } from './types';

export const POLICY_DENIED_MESSAGE = "the wallet owner's policy refuses this request";

/**
 * 403 `policy_denied`, `details` naming each rule that refused (rule_id, type,
 * message); the `hint` is the code's (lib/errors.ts). Nothing was stored and
 * the owner was not asked.
 */
export function policyDenied(verdict: Pick<Verdict, 'violations'>): AppError {
  return new AppError('policy_denied', POLICY_DENIED_MESSAGE, {
    extra: {
      details: verdict.violations.map(({ rule_id, type, message }) => ({ rule_id, type, message })),
    },
  });
}
