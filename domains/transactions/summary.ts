/**
 * The human summary shown to the approver. It is derived from the bytes that
 * will be signed (`to`, `value`, decoded `data`), never from the agent's own
 * description; token symbols are hostile text and arrive already sanitised.
 */
import { formatUnits, getAddress } from 'ethers';
import type { DecodedCall, DisplayValue } from '../chain';
import type { Summary } from './schemas';

export interface SummaryInput {
  decoded: DecodedCall;
  token?: { address: string; symbol: string; decimals: number } | undefined;
  simulation: { ok: boolean; revertReason?: string | undefined };
  warnings: string[];
  gasLimit: bigint;
  maxFeePerGas: bigint;
  nativeSymbol: string;
}

export function buildSummary(input: SummaryInput): Summary {
  const { decoded, token } = input;
  const feeCap = (input.gasLimit * input.maxFeePerGas).toString();
  const base = {
    token: token ? { address: getAddress(token.address), symbol: token.symbol, decimals: token.decimals } : null,
    simulation: { ok: input.simulation.ok, revert_reason: input.simulation.revertReason ?? null },
    warnings: [...new Set(input.warnings)],
    fee_cap_wei: feeCap,
  };
  const tokenAmount = (amount: string) => (token ? `${formatUnits(BigInt(amount), token.decimals)} ${token.symbol || 'tokens'}` : `${amount} token units`);
  switch (decoded.type) {
    case 'native_transfer': {
      const amount = `${formatUnits(BigInt(decoded.value), 18)} ${input.nativeSymbol}`;
      return { ...base, title: `Send ${amount} to ${decoded.to}`, recipient: decoded.to, amount_formatted: amount, decoded_call: null };
    }
    case 'erc20_transfer': {
      const amount = tokenAmount(decoded.amount);
      return {
        ...base,
        title: `Send ${amount} to ${decoded.to}`,
        recipient: decoded.to,
        amount_formatted: amount,
        decoded_call: { function: 'transfer(address,uint256)', args: [decoded.to, decoded.amount] },
      };
    }
    case 'erc20_transfer_from': {
      const amount = tokenAmount(decoded.amount);
      return {
        ...base,
        title: `Move ${amount} from ${decoded.from} to ${decoded.to}`,
        recipient: decoded.to,
        amount_formatted: amount,
        decoded_call: { function: 'transferFrom(address,address,uint256)', args: [decoded.from, decoded.to, decoded.amount] },
      };
    }
    case 'erc20_approve': {
      const amount = decoded.unlimited ? `an unlimited amount of ${token?.symbol || 'tokens'}` : tokenAmount(decoded.amount);
      return {
        ...base,
        title: `Allow ${decoded.spender} to spend ${amount}`,
        recipient: decoded.spender,
        amount_formatted: amount,
        decoded_call: { function: 'approve(address,uint256)', args: [decoded.spender, decoded.amount] },
      };
    }
    case 'set_approval_for_all':
      return {
        ...base,
        title: `${decoded.approved ? 'Allow' : 'Stop allowing'} ${decoded.operator} to move every token of ${decoded.contract}`,
        recipient: decoded.operator,
        amount_formatted: null,
        decoded_call: { function: 'setApprovalForAll(address,bool)', args: [decoded.operator, String(decoded.approved)] },
      };
    case 'contract_call': {
      const fn = decoded.function;
      const value = BigInt(decoded.value);
      const withValue = value > 0n ? ` sending ${formatUnits(value, 18)} ${input.nativeSymbol}` : '';
      const name = fn ? fn.signature : decoded.selector ? `unknown function ${decoded.selector}` : 'no function (plain call)';
      return {
        ...base,
        title: `Call ${name} on ${decoded.contract}${withValue}`,
        recipient: decoded.contract,
        amount_formatted: value > 0n ? `${formatUnits(value, 18)} ${input.nativeSymbol}` : null,
        decoded_call: fn ? { function: fn.signature, args: fn.args.map((arg) => `${arg.name || arg.type}: ${displayText(arg.value)}`) } : null,
      };
    }
  }
}

function displayText(value: DisplayValue): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `[${value.map(displayText).join(', ')}]`;
  return `{${Object.entries(value)
    .map(([k, v]) => `${k}: ${displayText(v)}`)
    .join(', ')}}`;
}
