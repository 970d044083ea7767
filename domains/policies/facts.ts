/**
 * What a request does, in the terms rules speak: how much of each asset
 * leaves the wallet, who receives or may spend, which contract functions are
 * called, which allowances are granted — read from the bytes that will be
 * signed (domains/chain decodes them; the agent's description and ABI play no
 * part), including every call inside a batch. Pure.
 *
 * What cannot be read is said, not guessed:
 *  - `opaque`: a batch not decoded in full (deeper or longer than decoded, a
 *    malformed multiSend) or containing a delegatecall, whose effects no rule
 *    can count;
 *  - `unknownCalls`: calls whose function is not one of the recognised token
 *    calls (any contract's own functions): they may move that contract's
 *    tokens in ways that cannot be counted.
 */
import { decodeCall, type DecodedCall } from '../chain';
import { selectorOf } from './normalize';
import type { Asset } from './types';

export interface Counterparty {
  address: string;
  role: 'recipient' | 'spender' | 'operator';
}

export interface ContractCall {
  address: string;
  selector: string;
}

export interface Grant {
  token: string;
  spender: string;
  /** null: every token of the contract (setApprovalForAll). */
  amount: bigint | null;
  unlimited: boolean;
}

export interface RequestFacts {
  chainId: number;
  /** The proposing agent; null for an owner's dry run without one. */
  agentId: string | null;
  /** What leaves the wallet, per asset (only assets with an amount above 0). */
  outflows: Map<Asset, bigint>;
  counterparties: Counterparty[];
  contractCalls: ContractCall[];
  grants: Grant[];
  /** Targets of calls that are not recognised token calls (lowercase). */
  unknownCalls: Set<string>;
  opaque: boolean;
}

export interface RawRequest {
  chainId: number;
  agentId: string | null;
  to: string;
  value: string | bigint;
  data: string;
}

const KNOWN_SIGNATURES: Partial<Record<DecodedCall['type'], string>> = {
  erc20_transfer: 'transfer(address,uint256)',
  erc20_approve: 'approve(address,uint256)',
  erc20_increase_allowance: 'increaseAllowance(address,uint256)',
  erc20_transfer_from: 'transferFrom(address,address,uint256)',
  set_approval_for_all: 'setApprovalForAll(address,bool)',
};
const KNOWN_SELECTORS = new Map(Object.entries(KNOWN_SIGNATURES).map(([type, signature]) => [type, selectorOf(signature)]));

/** The selector a decoded call was made with ('' for a native transfer, which calls no function). */
function selectorOfCall(call: DecodedCall): string {
  switch (call.type) {
    case 'native_transfer':
      return '';
    case 'erc20_permit':
      return selectorOf(call.signature);
    case 'batch':
    case 'contract_call':
      return call.selector;
    default:
      return KNOWN_SELECTORS.get(call.type)!;
  }
}

const targetOf = (call: DecodedCall): string => {
  switch (call.type) {
    case 'native_transfer':
      return call.to;
    case 'set_approval_for_all':
    case 'batch':
    case 'contract_call':
      return call.contract;
    default:
      return call.token;
  }
};

export function factsOf(request: RawRequest): RequestFacts {
  const value = BigInt(request.value);
  const data = request.data.toLowerCase();
  const decoded = decodeCall({ to: request.to.toLowerCase() as `0x${string}`, value, data: data as `0x${string}` });
  const facts: RequestFacts = {
    chainId: request.chainId,
    agentId: request.agentId,
    outflows: new Map(),
    counterparties: [],
    contractCalls: [],
    grants: [],
    unknownCalls: new Set(),
    opaque: false,
  };
  const add = (asset: Asset, amount: bigint) => {
    if (amount > 0n) facts.outflows.set(asset, (facts.outflows.get(asset) ?? 0n) + amount);
  };
  const native = walk(decoded, facts, add);
  add('native', native);
  return facts;
}

/**
 * Records one call (and those inside it) and returns the native value it
 * accounts for. A batch's inner values are paid either from the value sent
 * with it (Multicall3 aggregate3Value) or from the batch contract's own
 * balance (a Safe the wallet controls), so a batch counts the larger of its
 * own value and the sum of its calls' — never less than what can leave.
 */
function walk(call: DecodedCall, facts: RequestFacts, add: (asset: Asset, amount: bigint) => void): bigint {
  const value = BigInt(call.value);
  const target = targetOf(call).toLowerCase();
  if (call.type !== 'native_transfer') {
    facts.contractCalls.push({ address: target, selector: selectorOfCall(call) });
  }
  switch (call.type) {
    case 'native_transfer':
      if (value > 0n) facts.counterparties.push({ address: target, role: 'recipient' });
      return value;
    case 'erc20_transfer':
    case 'erc20_transfer_from':
      add(target as Asset, BigInt(call.amount));
      facts.counterparties.push({ address: call.to.toLowerCase(), role: 'recipient' });
      return value;
    case 'erc20_approve':
    case 'erc20_increase_allowance':
    case 'erc20_permit':
      facts.counterparties.push({ address: call.spender.toLowerCase(), role: 'spender' });
      facts.grants.push({ token: target, spender: call.spender.toLowerCase(), amount: BigInt(call.amount), unlimited: call.unlimited });
      return value;
    case 'set_approval_for_all':
      if (call.approved) {
        facts.counterparties.push({ address: call.operator.toLowerCase(), role: 'operator' });
        facts.grants.push({ token: target, spender: call.operator.toLowerCase(), amount: null, unlimited: true });
      }
      return value;
    case 'contract_call':
      facts.unknownCalls.add(target);
      return value;
    case 'batch': {
      if (call.truncated) facts.opaque = true;
      let inner = 0n;
      for (const item of call.calls) {
        if (item.operation === 'delegatecall') facts.opaque = true;
        inner += walk(item.decoded, facts, add);
      }
      return value > inner ? value : inner;
    }
  }
}
