/**
 * What prepare_transaction refuses by default: a request the simulation says
 * cannot succeed. It would revert, the wallet cannot pay the value plus the
 * fee cap, or an ERC-20 transfer names a target that is no token (a transfer
 * "succeeds" on an address without code and moves nothing). Such a request is
 * not stored, starts no workflow and is never put in front of the owner; the
 * agent gets 422 `simulation_failed` with a reason it can act on. With
 * `allow_simulation_failure: true` it is queued anyway and the owner sees the
 * same warnings in its summary, as before.
 *
 * Pure: it reads the summary the preparation built (domains/chain/simulate.ts
 * decides the warnings), so the refusal and what the human would see agree.
 */
import { simulationFailed, type AppError } from '../../lib/errors';
import type { Summary } from './schemas';

export function simulationRefusal(kind: 'native' | 'erc20' | 'contract_call', summary: Pick<Summary, 'warnings' | 'simulation'>): AppError | undefined {
  const warnings = new Set(summary.warnings);
  const extra = { warnings: summary.warnings };
  // Most specific first: a non-token target explains a revert, and a revert is not cured by funding.
  if (kind === 'erc20' && warnings.has('unknown_contract')) {
    return simulationFailed('not_a_token', 'token_address is not an ERC-20 token contract on this chain', extra);
  }
  if (warnings.has('would_revert')) {
    const revertReason = summary.simulation.revert_reason ?? 'execution reverted';
    return simulationFailed('would_revert', `the transaction would revert: ${revertReason}`, { revert_reason: revertReason, ...extra });
  }
  if (warnings.has('insufficient_funds')) {
    return simulationFailed('insufficient_funds', 'the wallet cannot pay the value plus the maximum network fee', extra);
  }
  return undefined;
}
