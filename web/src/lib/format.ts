/** Pure formatting helpers. Amounts are never rounded: a hidden digit is a hidden amount. */

const CHAINS: Record<string, { name: string; symbol: string }> = {
  '1': { name: 'Ethereum', symbol: 'ETH' },
  '10': { name: 'OP Mainnet', symbol: 'ETH' },
  '137': { name: 'Polygon', symbol: 'POL' },
  '8453': { name: 'Base', symbol: 'ETH' },
  '42161': { name: 'Arbitrum One', symbol: 'ETH' },
  '11155111': { name: 'Sepolia', symbol: 'ETH' },
  '17000': { name: 'Holesky', symbol: 'ETH' },
  '31337': { name: 'Local dev chain (anvil)', symbol: 'ETH' },
};

export function chainName(chainId: unknown): string {
  const id = String(chainId ?? '');
  if (!/^[0-9]{1,20}$/.test(id)) return 'Unknown chain';
  return CHAINS[id] ? `${CHAINS[id].name} (${id})` : `Chain ${id}`;
}

export function nativeSymbol(chainId: unknown): string {
  return CHAINS[String(chainId ?? '')]?.symbol ?? 'ETH';
}

/** Base units → decimal string with every significant digit. null if not an integer string. */
export function formatUnits(amount: unknown, decimals: number): string | null {
  const text = typeof amount === 'number' && Number.isSafeInteger(amount) ? String(amount) : amount;
  if (typeof text !== 'string' || !/^(0|[1-9][0-9]*)$/.test(text)) return null;
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 77) return null;
  if (decimals === 0) return groupThousands(text);
  const padded = text.padStart(decimals + 1, '0');
  const whole = padded.slice(0, padded.length - decimals);
  const fraction = padded.slice(padded.length - decimals).replace(/0+$/, '');
  return fraction ? `${groupThousands(whole)}.${fraction}` : groupThousands(whole);
}

function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** 2^256-1 and anything ≥ 2^255 is what "unlimited" approvals look like. */
export function isHugeAmount(amount: unknown): boolean {
  return typeof amount === 'string' && /^[0-9]+$/.test(amount) && amount.length >= 77;
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

export const WARNING_LABEL: Record<string, string> = {
  would_revert: 'Simulation says this transaction would revert',
  unlimited_approval: 'Grants an unlimited token allowance',
  unknown_contract: 'Target is an unknown contract',
  new_recipient: 'This wallet has never sent to this recipient',
};
