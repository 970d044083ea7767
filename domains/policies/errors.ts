/** The answer to a request the owner's policy refuses (CONTRACT.md: 403 `policy_denied`). */
import { AppError } from '../../lib/errors';
import type { Verdict } from './types';

export const POLICY_DENIED_MESSAGE = "the wallet owner's policy refuses this request";

/**
 * 403 `policy_denied`, `details` naming each rule that refused (rule_id, type,
 * message) and a `hint`. Nothing was stored and the owner was not asked.
 */
export function policyDenied(verdict: Pick<Verdict, 'violations'>): AppError {
  return new AppError('policy_denied', POLICY_DENIED_MESSAGE, {
    extra: {
      details: verdict.violations.map(({ rule_id, type, message }) => ({ rule_id, type, message })),
      hint: 'Nothing was stored and the owner was not asked. Change the request to fit these rules (GET /api/wallets/{address}/policy lists the rules that apply to you), or ask the owner to change them.',
    },
  });
}
