/**
 * What a call would change for the wallet, from a trace of it at the latest
 * block: native currency moved (every value transfer, inner ones included),
 * ERC-20 and ERC-721 `Transfer` logs to or from the wallet, and allowances the
 * wallet grants (`Approval`, `ApprovalForAll` logs with the wallet as owner).
 *
 * Two node methods can answer, tried in this order:
 * * `eth_simulateV1` with `traceTransfers` (native transfers arrive as
 *   `Transfer` logs from 0xEeee…EEeE); logs of failed calls are already dropped;
 * * `debug_traceCall` with the `callTracer` and `withLog`: the call tree,
 *   value per frame; a frame that failed is skipped with everything inside it.
 * A node with neither (or that fails or answers nonsense) gives undefined: the
 * caller warns `balance_changes_unavailable`, it is never an error. A lying
 * node can mislead this picture, never what is signed (the digest covers the
 * bytes). Logs are emitted by whatever contract wants to; the summary names
 * each emitter by its address.
 */
import { toQuantity, type JsonRpcProvider } from 'ethers';
import type { Address } from './types';

export const TRANSFER_TOPIC = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef';
export const APPROVAL_TOPIC = '0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925';
export const APPROVAL_FOR_ALL_TOPIC = '0x17307eab39ab6107e8899845ad3d59bd9653f200f220920489ca2b5937696c31';
/** Where eth_simulateV1 (traceTransfers) says native currency moved. */
export const NATIVE_TRANSFER_EMITTER = '0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee';

/** Distinct assets (and allowances) reported per request; more set `incomplete`. */
export const MAX_EFFECTS = 20;
/** Logs and frames looked at per trace: a call can emit far more than a person reads. */
const MAX_LOGS = 5000;

export interface AssetChange {
  asset: 'native' | 'erc20' | 'erc721';
  /** Lowercase; absent for native. */
  token?: Address;
  /** ERC-721 only. */
  tokenId?: bigint;
  /** Signed: negative leaves the wallet. */
  delta: bigint;
}

export interface AllowanceChange {
  kind: 'erc20' | 'erc721' | 'erc721_all';
  token: Address;
  spender: Address;
  /** ERC-20: the allowance after the call (Approval logs carry the new value, not a delta). */
  amount?: bigint;
  /** ERC-721 single-token approval. */
  tokenId?: bigint;
  /** ApprovalForAll: granted (true) or revoked. */
  approved?: boolean;
}

export type TraceMethod = 'eth_simulateV1' | 'debug_traceCall';

export interface CallEffects {
  method: TraceMethod;
  /** False when the traced call failed: then nothing changes. */
  succeeded: boolean;
  changes: AssetChange[];
  allowances: AllowanceChange[];
  /** More assets or logs than are reported. */
  incomplete: boolean;
}

export interface TraceTx {
  from: string;
  to: string;
  value: bigint;
  data: string;
}

interface Log {
  address: string;
  topics: string[];
  data: string;
}

interface Movement {
  from: string;
  to: string;
  value: bigint;
}

export async function traceCallEffects(
  provider: Pick<JsonRpcProvider, 'send'>,
  tx: TraceTx,
  options: { methods?: readonly TraceMethod[] } = {},
): Promise<CallEffects | undefined> {
  const wallet = tx.from.toLowerCase();
  for (const method of options.methods ?? ['eth_simulateV1', 'debug_traceCall']) {
    const traced = method === 'eth_simulateV1' ? await simulateV1(provider, tx) : await callTrace(provider, tx);
    if (traced) return effectsFor(method, traced, wallet);
  }
  return undefined;
}

interface Traced {
  succeeded: boolean;
  logs: Log[];
  movements: Movement[];
  incomplete: boolean;
}

const rpcTx = (tx: TraceTx) => ({ from: tx.from, to: tx.to, value: toQuantity(tx.value), data: tx.data });

async function simulateV1(provider: Pick<JsonRpcProvider, 'send'>, tx: TraceTx): Promise<Traced | undefined> {
  let result: unknown;
  try {
    result = await provider.send('eth_simulateV1', [{ blockStateCalls: [{ calls: [rpcTx(tx)] }], traceTransfers: true, validation: false }, 'latest']);
  } catch {
    return undefined;
  }
  const block = asRecord(asArray(result)?.[0]);
  const call = asRecord(asArray(block?.calls)?.[0]);
  if (!call || typeof call.status !== 'string') return undefined;
  const succeeded = call.status === '0x1';
  const rawLogs = asArray(call.logs) ?? [];
  const logs = rawLogs.slice(0, MAX_LOGS).map(asLog);
  if (logs.some((log) => log === undefined)) return undefined;
  const valid = logs as Log[];
  const movements: Movement[] = [];
  const tokenLogs: Log[] = [];
  for (const log of valid) {
    if (log.address === NATIVE_TRANSFER_EMITTER) {
      const moved = transferOf(log);
      if (moved && moved.kind === 'fungible') movements.push({ from: moved.from, to: moved.to, value: moved.amount });
    } else tokenLogs.push(log);
  }
  // A node that ignores traceTransfers reports no native movement even for the call's own value:
  // its picture would be wrong, so let the next method answer.
  if (succeeded && tx.value > 0n && movements.length === 0) return undefined;
  return { succeeded, logs: tokenLogs, movements, incomplete: rawLogs.length > MAX_LOGS };
}

async function callTrace(provider: Pick<JsonRpcProvider, 'send'>, tx: TraceTx): Promise<Traced | undefined> {
  let result: unknown;
  try {
    result = await provider.send('debug_traceCall', [rpcTx(tx), 'latest', { tracer: 'callTracer', tracerConfig: { withLog: true } }]);
  } catch {
    return undefined;
  }
  const root = asRecord(result);
  if (!root || typeof root.type !== 'string') return undefined;
  const traced: Traced = { succeeded: root.error === undefined, logs: [], movements: [], incomplete: false };
  let seen = 0;
  // Depth-first; a failed frame's value and logs did not happen, nor did anything inside it.
  const stack: Record<string, unknown>[] = [root];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    if (++seen > MAX_LOGS) {
      traced.incomplete = true;
      break;
    }
    if (frame.error !== undefined) continue;
    const type = String(frame.type).toUpperCase();
    const value = quantity(frame.value);
    if (value !== undefined && value > 0n && ['CALL', 'CREATE', 'CREATE2', 'SELFDESTRUCT'].includes(type)) {
      const from = address(frame.from);
      const to = address(frame.to);
      if (from && to) traced.movements.push({ from, to, value });
    }
    for (const raw of asArray(frame.logs) ?? []) {
      const log = asLog(raw);
      // A malformed log makes the whole picture doubtful: better none than a wrong one.
      if (!log) return undefined;
      traced.logs.push(log);
    }
    for (const child of asArray(frame.calls) ?? []) {
      const record = asRecord(child);
      if (record) stack.push(record);
    }
  }
  return traced;
}

/** Pure: sums what reaches or leaves the wallet. */
export function effectsFor(method: TraceMethod, traced: Traced, wallet: string): CallEffects {
  const effects: CallEffects = { method, succeeded: traced.succeeded, changes: [], allowances: [], incomplete: traced.incomplete };
  if (!traced.succeeded) return effects;
  const deltas = new Map<string, AssetChange>();
  const add = (key: string, change: Omit<AssetChange, 'delta'>, delta: bigint) => {
    const entry = deltas.get(key) ?? { ...change, delta: 0n };
    entry.delta += delta;
    deltas.set(key, entry);
  };
  for (const move of traced.movements) {
    if (move.from === wallet) add('native', { asset: 'native' }, -move.value);
    if (move.to === wallet) add('native', { asset: 'native' }, move.value);
  }
  const allowances = new Map<string, AllowanceChange>();
  for (const log of traced.logs) {
    const token = log.address as Address;
    const moved = transferOf(log);
    if (moved) {
      if (moved.kind === 'fungible') {
        if (moved.from === wallet) add(`erc20:${token}`, { asset: 'erc20', token }, -moved.amount);
        if (moved.to === wallet) add(`erc20:${token}`, { asset: 'erc20', token }, moved.amount);
      } else {
        const key = `erc721:${token}:${moved.tokenId}`;
        if (moved.from === wallet) add(key, { asset: 'erc721', token, tokenId: moved.tokenId }, -1n);
        if (moved.to === wallet) add(key, { asset: 'erc721', token, tokenId: moved.tokenId }, 1n);
      }
      continue;
    }
    const granted = allowanceOf(log, wallet);
    // The last Approval per (token, spender[, id]) is the allowance left after the call.
    if (granted) allowances.set(`${granted.kind}:${token}:${granted.spender}:${granted.tokenId ?? ''}`, granted);
  }
  const changes = [...deltas.values()].filter((change) => change.delta !== 0n);
  const granted = [...allowances.values()];
  effects.changes = changes.slice(0, MAX_EFFECTS);
  effects.allowances = granted.slice(0, MAX_EFFECTS);
  effects.incomplete ||= changes.length > MAX_EFFECTS || granted.length > MAX_EFFECTS;
  return effects;
}

type Transfer = { kind: 'fungible'; from: string; to: string; amount: bigint } | { kind: 'nft'; from: string; to: string; tokenId: bigint };

/** ERC-20 Transfer (3 topics + a 32-byte amount) or ERC-721 Transfer (4 topics, no data). */
function transferOf(log: Log): Transfer | undefined {
  if (log.topics[0] !== TRANSFER_TOPIC) return undefined;
  const from = topicAddress(log.topics[1]);
  const to = topicAddress(log.topics[2]);
  if (!from || !to) return undefined;
  if (log.topics.length === 3 && log.data.length === 66) return { kind: 'fungible', from, to, amount: BigInt(log.data) };
  if (log.topics.length === 4 && log.data === '0x') return { kind: 'nft', from, to, tokenId: BigInt(log.topics[3]!) };
  return undefined;
}

function allowanceOf(log: Log, wallet: string): AllowanceChange | undefined {
  const token = log.address as Address;
  const owner = topicAddress(log.topics[1]);
  const spender = topicAddress(log.topics[2]) as Address | undefined;
  if (owner !== wallet || !spender) return undefined;
  if (log.topics[0] === APPROVAL_TOPIC) {
    if (log.topics.length === 3 && log.data.length === 66) return { kind: 'erc20', token, spender, amount: BigInt(log.data) };
    if (log.topics.length === 4 && log.data === '0x') return { kind: 'erc721', token, spender, tokenId: BigInt(log.topics[3]!) };
  }
  if (log.topics[0] === APPROVAL_FOR_ALL_TOPIC && log.topics.length === 3 && log.data.length === 66) {
    return { kind: 'erc721_all', token, spender, approved: BigInt(log.data) !== 0n };
  }
  return undefined;
}

// ---- defensive readers: the node's answer is untrusted JSON ----

type Loose = Record<string, unknown>;
const asRecord = (value: unknown): Loose | undefined => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Loose) : undefined);
const asArray = (value: unknown): unknown[] | undefined => (Array.isArray(value) ? value : undefined);
const HEX = /^0x[0-9a-fA-F]*$/;
const WORD = /^0x[0-9a-fA-F]{64}$/;

function quantity(value: unknown): bigint | undefined {
  return typeof value === 'string' && HEX.test(value) && value.length > 2 && value.length <= 66 ? BigInt(value) : undefined;
}

function address(value: unknown): string | undefined {
  return typeof value === 'string' && /^0x[0-9a-fA-F]{40}$/.test(value) ? value.toLowerCase() : undefined;
}

function topicAddress(topic: string | undefined): string | undefined {
  if (topic === undefined || !WORD.test(topic) || !/^0x0{24}/.test(topic)) return undefined;
  return `0x${topic.slice(26)}`.toLowerCase();
}

function asLog(value: unknown): Log | undefined {
  const log = asRecord(value);
  const emitter = address(log?.address);
  const topics = asArray(log?.topics);
  const data = log?.data;
  if (!emitter || !topics || topics.length > 4 || !topics.every((t) => typeof t === 'string' && WORD.test(t))) return undefined;
  if (typeof data !== 'string' || !HEX.test(data) || data.length % 2 !== 0) return undefined;
  return { address: emitter, topics: (topics as string[]).map((t) => t.toLowerCase()), data: data.toLowerCase() };
}
