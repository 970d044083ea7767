/**
 * Every error body carries a one-sentence `hint` telling the caller what to
 * do next (lib/errors.ts): by code, by reason where a code has several, by
 * what was not found, with Retry-After spelled out. The hints are part of the
 * API: pinned here. Also the pure halves of the agent features: which
 * simulations refuse a proposal, and when a long-poll has news.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError, ERROR_STATUS, errorHint, invalidState, notFound, unavailable, type ErrorCode } from '../../lib/errors';
import { errorBody, toAppError } from '../../api/http/errors';
import { simulationRefusal } from '../../domains/transactions/refusals';
import { isNews, nextDeadline } from '../../domains/transactions/status-wait';
import { ERROR_CODES as SDK_ERROR_CODES, CountersignError } from '../../sdk/typescript/src/errors';

const oneSentence = (hint: string) => /^[A-Z][^\n]*\.$/.test(hint) && !/\.\s+[A-Z]/.test(hint.slice(0, -1));

describe('hints', () => {
  test('every code has a one-sentence hint, and the TypeScript SDK knows exactly these codes', () => {
    for (const code of Object.keys(ERROR_STATUS) as ErrorCode[]) {
      const hint = errorHint(code);
      assert.ok(oneSentence(hint), `${code}: ${hint}`);
    }
    assert.deepEqual([...SDK_ERROR_CODES].sort(), Object.keys(ERROR_STATUS).sort());
  });

  test('pinned: by code, by reason, by what was not found, with Retry-After in seconds', () => {
    assert.equal(errorHint('invalid_request'), 'Fix the fields named in details and send the request again.');
    assert.equal(notFound('wallet').hint, 'Check the address: an agent may use only the wallets its owner granted it, so ask the owner to grant this one.');
    assert.equal(notFound('transaction').hint, 'Check the transaction id: an agent sees only the transactions it prepared, a person those of their own wallets.');
    assert.equal(notFound('agent').hint, 'Check the id or address: it does not exist or is not yours, and both look the same.');
    assert.equal(
      invalidState('not_approved', 'x').hint,
      'Wait for the owner to approve it (GET /api/transaction_status?wait=60 answers when the status changes), then execute it.',
    );
    assert.equal(invalidState('expired', 'x').hint, 'It expired before it was approved or executed: propose it again with POST /api/prepare_transaction.');
    assert.equal(unavailable('x', 7).hint, 'Try again after 7 seconds (Retry-After); repeat a prepare with the same idempotency key.');
    assert.equal(new AppError('rate_limited', 'x', { headers: { 'Retry-After': '5' } }).hint, 'Slow down and try again after 5 seconds (Retry-After).');
    const doomed = simulationRefusal('native', { warnings: ['insufficient_funds'], simulation: { ok: false, revert_reason: null, trace: null } })!;
    assert.equal(doomed.hint, 'Lower the amount, or ask the owner to fund the wallet with the value plus the fee cap, or send allow_simulation_failure: true to queue it anyway.');
    for (const reason of ['not_approved', 'already_decided', 'expired', 'stale_digest', 'signing_started', 'execution_window_passed'] as const) {
      assert.ok(oneSentence(invalidState(reason, 'x').hint), reason);
      assert.notEqual(invalidState(reason, 'x').hint, errorHint('invalid_state'), `${reason} has its own hint`);
    }
  });

  test('the body is {error:{code,message,…extra,hint}}, also for zod and unknown errors; a foreign and an unknown object read the same', () => {
    const conflict = invalidState('signing_started', 'signing has already started');
    assert.deepEqual(errorBody(conflict.code, conflict.message, conflict.extra, conflict.hint), {
      error: { code: 'invalid_state', message: 'signing has already started', reason: 'signing_started', hint: 'Signing has started and cannot be undone: wait for the final status with GET /api/transaction_status?wait=60.' },
    });
    assert.equal(toAppError(new Error('boom')).hint, errorHint('internal'));
    assert.deepEqual(JSON.stringify(errorBody('not_found', notFound('transaction').message, undefined, notFound('transaction').hint)), JSON.stringify(errorBody('not_found', 'transaction not found', undefined, notFound('transaction').hint)));
  });
});

describe('simulation refusals (prepare_transaction)', () => {
  const sim = (warnings: string[], revert: string | null = null) => ({ warnings, simulation: { ok: warnings.length === 0, revert_reason: revert, trace: null } });

  test('would_revert (with the reason), insufficient_funds, not_a_token — most specific first; other warnings do not refuse', () => {
    const revert = simulationRefusal('contract_call', sim(['would_revert', 'insufficient_funds'], 'Reverter: always fails'))!;
    assert.equal(revert.status, 422);
    assert.equal(revert.code, 'simulation_failed');
    assert.deepEqual(revert.extra, { reason: 'would_revert', revert_reason: 'Reverter: always fails', warnings: ['would_revert', 'insufficient_funds'] });
    assert.equal(simulationRefusal('native', sim(['insufficient_funds', 'new_recipient']))!.extra!.reason, 'insufficient_funds');
    assert.equal(simulationRefusal('erc20', sim(['would_revert', 'unknown_contract']))!.extra!.reason, 'not_a_token');
    // A contract call to an address without code is odd but can succeed: shown to the owner, not refused.
    assert.equal(simulationRefusal('contract_call', sim(['unknown_contract', 'new_recipient', 'unlimited_approval', 'wallet_frozen'])), undefined);
    assert.equal(simulationRefusal('native', sim([])), undefined);
  });
});

describe('long-poll news (status-wait.ts)', () => {
  const view = (status: string, version: number, rejection_reason: string | null = null) => ({ status, version, rejection_reason }) as never;

  test('news: another status than if_status, or a version newer than if_version; a rejection only with its reason', () => {
    assert.equal(isNews(view('pending_approval', 1), { status: 'pending_approval' }), false);
    assert.equal(isNews(view('approved', 2), { status: 'pending_approval' }), true);
    assert.equal(isNews(view('approved', 2), { version: 2 }), false);
    assert.equal(isNews(view('approved', 3), { version: 2 }), true);
    assert.equal(isNews(view('expired', 1), { status: 'pending_approval', version: 1 }), true, 'an expiry that wrote nothing yet');
    assert.equal(isNews(view('rejected', 2), { status: 'pending_approval' }), false, 'the reason follows');
    assert.equal(isNews(view('rejected', 2, 'no'), { status: 'pending_approval' }), true);
  });

  test('a pending or approved request may turn expired at its deadline; others never do', () => {
    assert.equal(nextDeadline({ status: 'pending_approval', expires_at: '2030-01-01T00:00:00.000Z' }), Date.parse('2030-01-01T00:00:00.000Z'));
    assert.equal(nextDeadline({ status: 'confirmed', expires_at: '2030-01-01T00:00:00.000Z' }), undefined);
  });
});

describe('the SDK reads error bodies', () => {
  test('CountersignError carries code, reason, hint and revert reason as the API sent them', () => {
    const error = new CountersignError({ status: 422, code: 'simulation_failed', message: 'm', reason: 'would_revert', hint: 'h.', revertReason: 'r' });
    assert.deepEqual(error.toJSON(), { status: 422, code: 'simulation_failed', message: 'm', reason: 'would_revert', hint: 'h.', revert_reason: 'r' });
  });
});
