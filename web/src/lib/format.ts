/**
 * Pure formatting helpers. Amounts are never rounded: a hidden digit is a
 * hidden amount. Amounts and chain names come from the one formatter the
 * server's summary titles use (domains/chain/amounts.ts), so the card and the
 * title cannot disagree; the warning list is the server's too.
 */
import { formatAmount, formatUnits, isUnlimitedAmount, nativeSymbol, type AmountSpec, type AmountUnit } from '../../../domains/chain/amounts';
import { WARNINGS, isBlockingWarning } from '../../../domains/chain/warnings';
import { cleanText } from './sanitize';
import type { Transaction } from './types';

export { chainName, formatAmount, formatBaseUnits, formatUnits, nativeSymbol } from '../../../domains/chain/amounts';
export { isBlockingWarning } from '../../../domains/chain/warnings';

/** 2^96-1 and above is what "unlimited" approvals look like (the server's threshold). */
export function isHugeAmount(amount: unknown): boolean {
  return typeof amount === 'string' && isUnlimitedAmount(amount);
}

const UNITS: readonly AmountUnit[] = ['native', 'token', 'not_a_token'];

/** The summary's machine-readable amount, checked field by field (the page trusts no field to be present). */
export function amountSpecOf(value: unknown): AmountSpec | null {
  if (typeof value !== 'object' || value === null) return null;
  const spec = value as Record<string, unknown>;
  if (typeof spec.raw !== 'string' || !/^-?(0|[1-9][0-9]{0,77})$/.test(spec.raw)) return null;
  if (!UNITS.includes(spec.unit as AmountUnit)) return null;
  const decimals = spec.decimals === null || (typeof spec.decimals === 'number' && Number.isInteger(spec.decimals)) ? (spec.decimals as number | null) : undefined;
  if (decimals === undefined) return null;
  const symbol = typeof spec.symbol === 'string' ? cleanText(spec.symbol, 16) : null;
  return { raw: spec.raw, unit: spec.unit as AmountUnit, symbol, decimals, unlimited: spec.unlimited === true };
}

/** The Amount row: the summary's amount through the shared formatter, so it reads exactly as the title does. */
export function amountText(tx: Transaction): string {
  const spec = amountSpecOf(tx.summary?.amount);
  if (spec) return formatAmount(spec);
  return legacyAmountText(tx);
}

/** Base units beside a token amount ("= 250000000 base units"); null for native amounts (their wei is in the digest fields). */
export function rawAmountText(tx: Transaction): string | null {
  const spec = amountSpecOf(tx.summary?.amount);
  if (!spec || spec.unit === 'native') return null;
  return `${spec.raw} base units`;
}

/** Summaries stored before `amount` existed. */
function legacyAmountText(tx: Transaction): string {
  const token = tx.summary?.token;
  const warnings = Array.isArray(tx.summary?.warnings) ? tx.summary.warnings : [];
  if (token && typeof token === 'object' && token.address) {
    const symbol = cleanText(token.symbol, 16) || 'tokens';
    if (isHugeAmount(tx.amount) && warnings.includes('unlimited_approval')) return `unlimited ${symbol}`;
    const formatted = formatUnits(tx.amount, token.decimals);
    if (formatted) return `${formatted} ${symbol}`;
    const raw = cleanText(tx.amount, 80);
    return raw ? `${raw} base units of ${symbol}` : cleanText(tx.summary?.amount_formatted, 80) || '—';
  }
  if (tx.kind === 'erc20') return cleanText(tx.amount, 80) ? `${cleanText(tx.amount, 80)} base units (not a token)` : '—';
  const formatted = formatUnits(tx.value ?? tx.amount, 18);
  if (formatted) return `${formatted} ${nativeSymbol(tx.chain_id)}`;
  return cleanText(tx.summary?.amount_formatted, 80) || '—';
}

/** What the counterparty is, by the summary's recipient_role. */
export function counterpartyLabel(role: unknown): string {
  switch (role) {
    case 'spender':
      return 'Spender';
    case 'operator':
      return 'Operator';
    case 'contract':
      return 'Contract';
    default:
      return 'Recipient';
  }
}

export interface WarningView {
  code: string;
  blocking: boolean;
  message: string;
}

/** The summary's warnings with their messages, blocking first; unknown codes count as blocking. */
export function warningsOf(tx: Transaction): WarningView[] {
  const details = Array.isArray(tx.summary?.warning_details) ? tx.summary.warning_details : null;
  const codes = Array.isArray(tx.summary?.warnings) ? tx.summary.warnings.filter((w): w is string => typeof w === 'string') : [];
  const list: WarningView[] = details
    ? details.flatMap((d) =>
        d && typeof d === 'object' && typeof d.code === 'string'
          ? [{ code: cleanText(d.code, 40), blocking: isBlockingWarning(d.code) || d.blocking === true, message: cleanText(d.message, 300) || labelOf(d.code) }]
          : [],
      )
    : codes.map((code) => ({ code: cleanText(code, 40), blocking: isBlockingWarning(code), message: labelOf(code) }));
  return [...list.filter((w) => w.blocking), ...list.filter((w) => !w.blocking)].slice(0, 20);
}

function labelOf(code: string): string {
  return WARNING_LABEL[code] ?? cleanText(code, 60);
}

export function timeLeft(expiresAtIso: unknown, nowMs: number): { expired: boolean; text: string; seconds: number } {
  const ms = typeof expiresAtIso === 'string' ? Date.parse(expiresAtIso) : NaN;
  if (!Number.isFinite(ms)) return { expired: false, text: 'unknown', seconds: Infinity };
  const seconds = Math.floor((ms - nowMs) / 1000);
  if (seconds <= 0) return { expired: true, text: 'Expired', seconds: 0 };
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const text = d > 0 ? `${d}d ${h}h left` : h > 0 ? `${h}h ${m}m left` : m > 0 ? `${m}m ${s}s left` : `${s}s left`;
  return { expired: false, text, seconds };
}

export function formatDate(iso: unknown): string {
  if (typeof iso !== 'string') return '—';
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return '—';
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

export function shortHex(hex: unknown, keep = 6): string {
  if (typeof hex !== 'string' || !/^0x[0-9a-fA-F]*$/.test(hex)) return '—';
  if (hex.length <= 2 + keep * 2) return hex;
  return `${hex.slice(0, 2 + keep)}…${hex.slice(-keep)}`;
}

export const STATUS_LABEL: Record<string, string> = {
  pending_approval: 'Pending approval',
  approved: 'Approved',
  signing: 'Signing',
  broadcast: 'Broadcast',
  confirmed: 'Confirmed',
  failed: 'Failed',
  rejected: 'Rejected',
  expired: 'Expired',
  cancelled: 'Cancelled',
};

export function statusLabel(status: unknown): string {
  return typeof status === 'string' && STATUS_LABEL[status] ? STATUS_LABEL[status] : 'Unknown';
}

export const WARNING_LABEL: Record<string, string> = Object.fromEntries(Object.entries(WARNINGS).map(([code, { label }]) => [code, label]));
