/**
 * A human-readable revert reason from a failed eth_call / estimateGas. The
 * reason is contract-controlled text shown to a human: always sanitised.
 */
import { dataLength, isHexString, type Interface } from 'ethers';
import { sanitizeReason } from './display';
import { nodeMessages } from './errors';

type Loose = Record<string, unknown>;
const asObject = (value: unknown): Loose | undefined =>
  typeof value === 'object' && value !== null ? (value as Loose) : undefined;

/** Revert data (selector + arguments) wherever ethers or the node put it. */
export function revertDataOf(err: unknown): string | undefined {
  const obj = asObject(err);
  const candidates = [obj?.data, asObject(asObject(obj?.info)?.error)?.data, asObject(obj?.error)?.data];
  for (const candidate of candidates) {
    if (typeof candidate === 'string' && isHexString(candidate) && candidate.length > 2) return candidate.toLowerCase();
    // Some nodes nest it: { data: { data: "0x…" } }.
    const nested = asObject(candidate)?.data;
    if (typeof nested === 'string' && isHexString(nested) && nested.length > 2) return nested.toLowerCase();
  }
  return undefined;
}

/** The reason: Error(string), Panic(code), a custom error of the supplied ABI, or the node's text. */
export function revertReasonOf(err: unknown, iface?: Interface): string {
  const obj = asObject(err);
  const data = revertDataOf(err);
  if (data && iface) {
    try {
      const parsed = iface.parseError(data);
      if (parsed && parsed.name !== 'Error' && parsed.name !== 'Panic') {
        return sanitizeReason(`${parsed.name}(${Array.from(parsed.args, (arg) => String(arg)).join(', ')})`);
      }
    } catch {
      // not one of the ABI's errors
    }
  }
  if (typeof obj?.reason === 'string' && obj.reason.length > 0) return sanitizeReason(obj.reason);
  const revert = asObject(obj?.revert);
  if (revert && typeof revert.name === 'string' && Array.isArray(revert.args)) {
    return sanitizeReason(`${revert.name}(${revert.args.map((arg) => String(arg)).join(', ')})`);
  }
  if (data && dataLength(data) >= 4) return sanitizeReason(`custom error ${data.slice(0, 10)}`);
  const node = nodeMessages(err)[0];
  if (node) return sanitizeReason(node);
  return 'execution reverted';
}
