import { useEffect, useRef, useState, type FormEvent } from 'react';
import { checkDigest, digestInput, type DigestCheck } from '../lib/digest';
import { amountText, chainName, counterpartyLabel, formatUnits, nativeSymbol, rawAmountText, shortHex, statusLabel, timeLeft, warningsOf } from '../lib/format';
import { cleanText, wasAltered } from '../lib/sanitize';
import type { Transaction } from '../lib/types';
import { Address } from '../ui';

export interface CardOutcome {
  ok: boolean;
  message: string;
}

interface Props {
  tx: Transaction;
  now: number;
  selected: boolean;
  onSelect(selected: boolean): void;
  onReject(reason: string): Promise<void>;
  onDismiss(): void;
  outcome: CardOutcome | undefined;
  busy: boolean;
}

const STATUS_CLASS = new Set(['pending_approval', 'approved', 'signing', 'broadcast', 'confirmed', 'failed', 'rejected', 'expired', 'cancelled']);

const FINAL_NOTE: Record<string, string> = {
  approved: 'You approved this request. The agent can now execute it.',
  signing: 'Approved; being signed.',
  broadcast: 'Approved and sent to the network; waiting for confirmation.',
  confirmed: 'Approved and confirmed on chain.',
  failed: 'Approved, but the transaction failed. See History for details.',
  rejected: 'You rejected this request.',
  expired: 'This request expired before it was approved. Ask the agent to prepare it again if it is still needed.',
  cancelled: 'This request was cancelled.',
};

export { amountText };

const TX_HASH = /^0x[0-9a-f]{64}$/;

/** A link to the block explorer the server configured (CHAIN_EXPLORER_URLS); nothing if it is not a plain http(s) URL. */
function ExplorerLink({ href, testId }: { href: unknown; testId: string }) {
  if (typeof href !== 'string' || !/^https?:\/\/[^\s"'<>]+$/.test(href)) return null;
  return (
    <a className="small explorer-link" href={href} target="_blank" rel="noopener noreferrer" data-testid={testId}>
      View on explorer
    </a>
  );
}

function argText(arg: unknown): string {
  if (arg === null || arg === undefined) return '—';
  if (typeof arg === 'string' || typeof arg === 'number' || typeof arg === 'boolean') return cleanText(String(arg), 120);
  if (typeof arg === 'object') {
    const { name, type, value } = arg as { name?: unknown; type?: unknown; value?: unknown };
    if (value !== undefined) {
      const label = [cleanText(name, 40), cleanText(type, 40)].filter(Boolean).join(' ');
      const shown = typeof value === 'object' && value !== null ? safeJson(value) : cleanText(String(value), 120);
      return label ? `${label}: ${shown}` : shown;
    }
    return safeJson(arg);
  }
  return '—';
}

function digestFieldsOrNull(tx: Transaction): Record<string, string> | null {
  try {
    return digestInput(tx);
  } catch {
    return null;
  }
}

function safeJson(value: unknown): string {
  try {
    return cleanText(JSON.stringify(value), 160);
  } catch {
    return '—';
  }
}

/** One transaction as the approver sees it. Every agent- or chain-supplied string goes through cleanText. */
export function TransactionCard({ tx, now, selected, onSelect, onReject, onDismiss, outcome, busy }: Props) {
  const [check, setCheck] = useState<DigestCheck | null>(null);
  const [rejecting, setRejecting] = useState(false);
  const [reason, setReason] = useState('');
  const [rejectBusy, setRejectBusy] = useState(false);
  const rejectButton = useRef<HTMLButtonElement>(null);

  const id = tx.transaction_id;
  const pending = tx.status === 'pending_approval';
  const expiry = timeLeft(tx.approval_expires_at ?? tx.expires_at, now);
  const selectable = pending && !expiry.expired && check?.state === 'ok';
  const summary = tx.summary ?? {};
  const warnings = warningsOf(tx);
  const call = summary.decoded_call;
  const args = Array.isArray(call?.args) ? call.args.slice(0, 12) : [];
  const hasData = typeof tx.data === 'string' && tx.data !== '0x' && tx.data !== '';
  const simulation = summary.simulation;
  const fee = formatUnits(summary.fee_cap_wei, 18);
  const title = cleanText(summary.title, 300) || (tx.kind ? `${cleanText(tx.kind, 30)} transaction` : 'Transaction');
  const agentName = cleanText(tx.agent?.name, 60);
  const memo = cleanText(tx.memo, 280);
  const token = summary.token && typeof summary.token === 'object' ? summary.token : null;
  const raw = rawAmountText(tx);
  const role = counterpartyLabel(summary.recipient_role);
  const explorer = tx.explorer && typeof tx.explorer === 'object' ? tx.explorer : null;
  const changes = Array.isArray(summary.balance_changes) ? summary.balance_changes.slice(0, 20) : [];
  const allowances = Array.isArray(summary.allowances) ? summary.allowances.slice(0, 20) : [];
  const innerCalls = Array.isArray(summary.calls) ? summary.calls.slice(0, 32) : [];
  const hash = typeof tx.tx_hash === 'string' && TX_HASH.test(tx.tx_hash) ? tx.tx_hash : null;

  useEffect(() => {
    let live = true;
    void checkDigest(tx).then((result) => {
      if (live) setCheck(result);
    });
    return () => {
      live = false;
    };
  }, [tx]);

  useEffect(() => {
    if (selected && !selectable) onSelect(false);
  }, [selected, selectable]);

  const fields = digestFieldsOrNull(tx);

  const submitReject = (event: FormEvent) => {
    event.preventDefault();
    setRejectBusy(true);
    onReject(reason.trim())
      .then(() => setRejecting(false))
      .catch(() => undefined)
      .finally(() => setRejectBusy(false));
  };

  const headingId = `tx-${id}-title`;
  return (
    <article
      className={`card tx ${pending ? '' : 'tx-decided'} ${selected ? 'tx-selected' : ''}`}
      data-testid="tx-card"
      data-transaction-id={id}
      data-status={tx.status ?? ''}
      aria-labelledby={headingId}
    >
      <header className="tx-head">
        <h2 id={headingId} className="tx-title" data-testid="tx-title">
          {title}
        </h2>
        <span className={`badge status-${STATUS_CLASS.has(String(tx.status)) ? String(tx.status) : 'unknown'}`} data-testid="tx-status">
          {statusLabel(tx.status)}
        </span>
      </header>

      {check && check.state !== 'ok' && (
        <p className="notice notice-error" role="alert" data-testid="tx-digest-mismatch">
          {check.state === 'mismatch'
            ? 'The server’s digest does not match the transaction shown. Do not approve; report this.'
            : `Cannot verify this transaction: ${check.message}. It cannot be approved here.`}
        </p>
      )}

      {pending && (
        <p className={`expiry ${expiry.expired ? 'expired' : expiry.seconds < 300 ? 'soon' : ''}`} data-testid="tx-expiry">
          {expiry.expired ? 'Expired — can no longer be approved' : `Approve within ${expiry.text.replace(/ left$/, '')}`}
        </p>
      )}

      {!pending && (
        <p className="small" data-testid="tx-final-note">
          {FINAL_NOTE[String(tx.status)] ?? 'This request is no longer waiting for you.'}
        </p>
      )}

      {!pending && (
        <dl className="facts facts-compact small">
          <dt>Amount</dt>
          <dd data-testid="tx-amount">{amountText(tx)}</dd>
          <dt data-testid="tx-recipient-label">{role}</dt>
          <dd>
            <Address value={summary.recipient ?? tx.to} testId="tx-recipient" />
          </dd>
          {hash && (
            <>
              <dt>Transaction</dt>
              <dd>
                <code className="mono address" data-testid="tx-hash">
                  {hash}
                </code>{' '}
                <ExplorerLink href={explorer?.tx} testId="tx-hash-explorer" />
              </dd>
            </>
          )}
          <dt>Proposed by</dt>
          <dd data-testid="tx-agent">{agentName || 'Unknown agent'}</dd>
          {tx.rejection_reason && (
            <>
              <dt>Your reason</dt>
              <dd data-testid="tx-rejection-reason">{cleanText(tx.rejection_reason, 500)}</dd>
            </>
          )}
        </dl>
      )}

      {pending && (
        <>
        <dl className="facts">
          <dt>Proposed by</dt>
          <dd data-testid="tx-agent">{agentName || 'Unknown agent'}</dd>

          {memo && (
            <>
              <dt>Agent’s note (unverified)</dt>
              <dd className="memo" data-testid="tx-memo">
                “{memo}”{(tx.memo_altered === true || wasAltered(tx.memo, 280)) && <span className="hint"> (hidden characters or excess text removed)</span>}
              </dd>
            </>
          )}

          <dt>Amount</dt>
          <dd className="amount">
            <span data-testid="tx-amount">{amountText(tx)}</span>
            {raw && (
              <span className="hint" data-testid="tx-amount-raw">
                {' '}
                (= {cleanText(raw, 100)})
              </span>
            )}
            {summary.value_formatted && summary.decoded_call && (
              <span className="hint" data-testid="tx-value">
                {' '}
                and sends {cleanText(summary.value_formatted, 80)}
              </span>
            )}
          </dd>

          {changes.length > 0 && (
            <>
              <dt>Balance changes</dt>
              <dd data-testid="tx-balance-changes">
                <ul className="plain-list">
                  {changes.map((change, index) => (
                    <li key={index} data-testid="tx-balance-change" data-asset={cleanText(change.asset, 10)}>
                      {cleanText(change.delta_formatted, 120)}
                      {change.before_formatted && change.after_formatted && (
                        <span className="hint">
                          {' '}
                          ({cleanText(change.before_formatted, 100)} → {cleanText(change.after_formatted, 100)})
                        </span>
                      )}
                      {change.token && (
                        <>
                          {' '}
                          <Address value={change.token} />
                        </>
                      )}
                    </li>
                  ))}
                </ul>
              </dd>
            </>
          )}
          {warnings.some((w) => w.code === 'balance_changes_unavailable') && (
            <>
              <dt>Balance changes</dt>
              <dd className="warn-text" data-testid="tx-balance-changes-unavailable">
                Not available from this node
              </dd>
            </>
          )}

          {allowances.length > 0 && (
            <>
              <dt>Allowances granted</dt>
              <dd data-testid="tx-allowances">
                <ul className="plain-list">
                  {allowances.map((granted, index) => (
                    <li key={index} data-testid="tx-allowance">
                      {cleanText(granted.amount_formatted, 120)} to <Address value={granted.spender} />
                    </li>
                  ))}
                </ul>
              </dd>
            </>
          )}

          <dt data-testid="tx-recipient-label">{role}</dt>
          <dd>
            <Address value={summary.recipient ?? tx.to} testId="tx-recipient" />{' '}
            <ExplorerLink href={explorer?.recipient ?? explorer?.to} testId="tx-recipient-explorer" />
            {warnings.some((w) => w.code === 'new_recipient') && (
              <span className="badge badge-warn" data-testid="tx-new-recipient">
                New recipient
              </span>
            )}
          </dd>

          {token && (
            <>
              <dt>Token contract</dt>
              <dd>
                <Address value={token.address} testId="tx-token-address" />{' '}
                <ExplorerLink href={explorer?.token} testId="tx-token-explorer" />
              </dd>
            </>
          )}

          <dt>From wallet</dt>
          <dd>
            <Address value={tx.wallet_address} testId="tx-wallet" />{' '}
            <ExplorerLink href={explorer?.wallet} testId="tx-wallet-explorer" />
          </dd>

          <dt>Network</dt>
          <dd data-testid="tx-chain">{chainName(tx.chain_id)}</dd>

          {(call || hasData) && (
            <>
              <dt>Contract call</dt>
              <dd data-testid="tx-call">
                {call && call.function ? (
                  <>
                    <code className="mono">{cleanText(call.function, 80)}</code>
                    {call.source !== 'known' && (
                      <span className="hint" data-testid="tx-call-unverified">
                        {' '}
                        (names from the agent’s ABI, not verified)
                      </span>
                    )}
                    {args.length > 0 && (
                      <ol className="args">
                        {args.map((arg, index) => (
                          <li key={index} className="mono">
                            {argText(arg)}
                          </li>
                        ))}
                      </ol>
                    )}
                  </>
                ) : (
                  <span className="warn-text">Call data could not be decoded — approve only if you know what it does.</span>
                )}
                {innerCalls.length > 0 && (
                  <ol className="args" data-testid="tx-inner-calls">
                    {innerCalls.map((inner, index) => (
                      <li key={index} className={inner.operation === 'delegatecall' ? 'warn-text' : ''} data-testid="tx-inner-call">
                        {cleanText(inner.index, 12)}. {cleanText(inner.title, 300)}
                      </li>
                    ))}
                  </ol>
                )}
              </dd>
            </>
          )}

          <dt>Simulation</dt>
          <dd data-testid="tx-simulation" className={simulation?.ok === false ? 'warn-text' : ''}>
            {simulation?.ok === true
              ? 'Succeeds'
              : simulation?.ok === false
                ? `Would revert${simulation.revert_reason ? `: ${cleanText(simulation.revert_reason, 160)}` : ''}`
                : 'Not available'}
          </dd>

          <dt>Max network fee</dt>
          <dd data-testid="tx-fee-cap">{fee ? `${fee} ${nativeSymbol(tx.chain_id)}` : '—'}</dd>
        </dl>

        {warnings.length > 0 && (
          <ul className="warnings" aria-label="Warnings">
            {warnings.map((warning) => (
              <li
                key={warning.code}
                className={`warning ${warning.blocking ? 'warning-blocking' : ''}`}
                data-testid="tx-warning"
                data-code={warning.code}
                data-blocking={warning.blocking ? 'true' : 'false'}
              >
                {warning.blocking ? 'Check before approving: ' : ''}
                {warning.message}
              </li>
            ))}
          </ul>
        )}

        <details className="raw" data-testid="tx-details">
          <summary>Exactly what you approve</summary>
          {fields ? (
            <dl className="facts mono small">
              {Object.entries(fields).map(([key, value]) => (
                <div key={key} className="fact-row">
                  <dt>{key}</dt>
                  <dd className="address">{value}</dd>
                </div>
              ))}
              <div className="fact-row">
                <dt>digest</dt>
                <dd className="address">{cleanText(tx.digest, 80) || '—'}</dd>
              </div>
            </dl>
          ) : (
            <p>Some fields are missing.</p>
          )}
        </details>

        {check?.state === 'ok' && (
          <p className="digest-ok small" data-testid="tx-digest-ok">
            Digest {shortHex(check.digest, 6)} matches what is shown.
          </p>
        )}
        </>
      )}

      {outcome && (
        <p className={`notice ${outcome.ok ? 'notice-ok' : 'notice-error'}`} role={outcome.ok ? 'status' : 'alert'} data-testid="tx-result">
          {outcome.message}
        </p>
      )}

      <div className="actions tx-actions">
        {pending ? (
          <>
            <label className={`select ${selectable ? '' : 'disabled'}`}>
              <input
                type="checkbox"
                data-testid="tx-select"
                checked={selected}
                disabled={!selectable || busy}
                onChange={(e) => onSelect(e.target.checked)}
              />
              Select to approve
              <span className="visually-hidden">: {title}, {amountText(tx)}</span>
            </label>
            {!rejecting && (
              <button
                type="button"
                ref={rejectButton}
                className="button button-danger-outline"
                data-testid="reject-open"
                disabled={busy}
                onClick={() => setRejecting(true)}
              >
                Reject…
              </button>
            )}
          </>
        ) : (
          <button type="button" className="button button-secondary" data-testid="tx-dismiss" onClick={onDismiss}>
            Dismiss
          </button>
        )}
      </div>

      {pending && rejecting && (
        <form className="form reject-form" onSubmit={submitReject}>
          <div className="field">
            <label htmlFor={`reject-${id}`}>Reason for rejecting (the agent will see it)</label>
            <textarea
              id={`reject-${id}`}
              data-testid="reject-reason"
              required
              maxLength={500}
              rows={2}
              autoFocus
              value={reason}
              onChange={(e) => setReason(e.target.value)}
            />
          </div>
          <div className="actions">
            <button type="submit" className="button button-danger" data-testid="reject-submit" disabled={rejectBusy || reason.trim() === ''}>
              Reject request
            </button>
            <button
              type="button"
              className="button button-secondary"
              data-testid="reject-cancel"
              onClick={() => {
                setRejecting(false);
                // Return focus to where the keyboard user came from.
                setTimeout(() => rejectButton.current?.focus(), 0);
              }}
            >
              Cancel
            </button>
          </div>
        </form>
      )}
    </article>
  );
}
