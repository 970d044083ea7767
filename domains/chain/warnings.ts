/**
 * The warnings a summary can carry: machine codes (part of the API: the
 * README lists them), whether each is blocking, and the sentence a person
 * reads. No imports, so the web app uses the same list.
 *
 * Blocking means "do not approve this without looking at it on its own": a
 * batch "select all" leaves such a request out, and the card shows it first.
 */

export const WARNINGS = {
  would_revert: { blocking: true, label: 'Simulation says this transaction would revert' },
  insufficient_funds: { blocking: true, label: 'The wallet cannot pay the value and the network fee' },
  wallet_frozen: { blocking: true, label: 'The wallet is frozen: nothing will be signed for it' },
  not_a_token: { blocking: true, label: 'The target does not answer like an ERC-20 token: the amount is shown in base units' },
  confusable_symbol: { blocking: true, label: 'The token symbol contains characters that can imitate another token’s (non-ASCII)' },
  symbol_impersonates_native: { blocking: true, label: 'The token calls itself by the chain’s own currency symbol: this is a token, not the native currency' },
  implausible_decimals: { blocking: true, label: 'The token claims more decimals than any real token: the amount is shown in base units' },
  inconsistent_decimals: { blocking: true, label: 'The token answered decimals() differently to two reads: the amount is shown in base units' },
  delegatecall_in_batch: { blocking: true, label: 'A batched call runs another contract’s code with the batch contract’s own rights (delegatecall)' },
  batch_truncated: { blocking: true, label: 'The batch is too large or too deeply nested to show every call' },
  unlimited_approval: { blocking: true, label: 'Grants an unlimited token allowance' },
  allowance_granted: { blocking: false, label: 'Lets another address spend tokens from this wallet' },
  unknown_contract: { blocking: false, label: 'Target is an unknown contract' },
  new_recipient: { blocking: false, label: 'This wallet has never sent to this recipient' },
  balance_changes_unavailable: { blocking: false, label: 'The node cannot trace the call: balance changes are not shown' },
  balance_changes_incomplete: { blocking: false, label: 'The call touches more assets than are shown' },
} as const satisfies Record<string, { blocking: boolean; label: string }>;

export type Warning = keyof typeof WARNINGS;

/** The order warnings are listed in: blocking first, then the rest. */
export const WARNING_ORDER = Object.keys(WARNINGS) as Warning[];

export const isWarning = (code: unknown): code is Warning => typeof code === 'string' && Object.prototype.hasOwnProperty.call(WARNINGS, code);

/** Unknown codes (a newer server) count as blocking: caution costs one click, the opposite could cost the wallet. */
export const isBlockingWarning = (code: unknown): boolean => (isWarning(code) ? WARNINGS[code].blocking : true);

export const warningLabel = (code: string): string | undefined => (isWarning(code) ? WARNINGS[code].label : undefined);

/** Deduplicated, in WARNING_ORDER; unknown codes last, as given. */
export function sortWarnings<T extends string>(codes: Iterable<T>): T[] {
  const set = new Set(codes);
  const known = WARNING_ORDER.filter((code) => set.has(code as unknown as T)) as unknown as T[];
  const unknown = [...set].filter((code) => !isWarning(code));
  return [...known, ...unknown];
}
