import { useCallback, useEffect, useRef, useState } from 'react';
import { api, withQuery } from '../lib/api';
import { amountText, formatDate, statusLabel } from '../lib/format';
import { useLiveMessages } from '../lib/live';
import { errorMessage } from '../lib/messages';
import { cleanText } from '../lib/sanitize';
import type { Transaction, TransactionPage } from '../lib/types';
import { Address, ErrorBox, PageTitle } from '../ui';

const TX_HASH = /^0x[0-9a-fA-F]{64}$/;

function errorText(error: unknown): string {
  if (!error) return '';
  if (typeof error === 'string') return cleanText(error, 160);
  if (typeof error === 'object') {
    const { message, code } = error as { message?: unknown; code?: unknown };
    return cleanText(message ?? code, 160);
  }
  return '';
}

/**
 * Every transaction of the user, newest first, with cursor paging. Live: an SSE
 * event for a shown row refetches that row; for an unknown one, the first page.
 */
export function HistoryScreen() {
  const [rows, setRows] = useState<Transaction[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  const pagedBeyondFirst = useRef(false);

  const loadFirst = useCallback(async () => {
    try {
      const page = await api.get<TransactionPage>('/api/transactions');
      const fresh = (page?.transactions ?? []).filter((t) => t && typeof t.transaction_id === 'string');
      setRows((previous) => {
        const freshIds = new Set(fresh.map((t) => t.transaction_id));
        return [...fresh, ...previous.filter((t) => !freshIds.has(t.transaction_id))];
      });
      // A live refresh of page one must not lose the place of "Show older".
      if (!pagedBeyondFirst.current) setCursor(page?.next_cursor ?? null);
      setError(null);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setLoaded(true);
    }
  }, []);

  const loadMore = async () => {
    if (!cursor) return;
    setBusy(true);
    try {
      const page = await api.get<TransactionPage>(withQuery('/api/transactions', { cursor }));
      const more = (page?.transactions ?? []).filter((t) => t && typeof t.transaction_id === 'string');
      setRows((previous) => {
        const seen = new Set(previous.map((t) => t.transaction_id));
        return [...previous, ...more.filter((t) => !seen.has(t.transaction_id))];
      });
      pagedBeyondFirst.current = true;
      setCursor(page?.next_cursor ?? null);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  useEffect(() => {
    void loadFirst();
  }, [loadFirst]);

  useLiveMessages((message) => {
    if (message.kind === 'event' && rowsRef.current.some((t) => t.transaction_id === message.event.transaction_id)) {
      const id = message.event.transaction_id;
      api
        .get<Transaction>(`/api/transactions/${encodeURIComponent(id)}`)
        .then((tx) => setRows((previous) => previous.map((t) => (t.transaction_id === id ? tx : t))))
        .catch(() => undefined);
    } else {
      void loadFirst();
    }
  });

  return (
    <section>
      <PageTitle>History</PageTitle>
      <ErrorBox message={error} testId="history-error" />
      {loaded && rows.length === 0 && !error && (
        <p className="card empty" data-testid="history-empty">
          No transactions yet.
        </p>
      )}
      <ul className="history" data-testid="history-list">
        {rows.map((tx) => {
          const hash = typeof tx.tx_hash === 'string' && TX_HASH.test(tx.tx_hash) ? tx.tx_hash : null;
          const status = typeof tx.status === 'string' ? tx.status : '';
          const confirmations = typeof tx.confirmations === 'number' && tx.confirmations >= 0 ? tx.confirmations : null;
          const failure = errorText(tx.error);
          return (
            <li key={tx.transaction_id} className="card history-row" data-testid="history-row" data-transaction-id={tx.transaction_id} data-status={status}>
              <div className="history-head">
                <span className="history-title">{cleanText(tx.summary?.title, 300) || amountText(tx)}</span>
                <span className={`badge status-${cleanText(status, 20) || 'unknown'}`} data-testid="history-status">
                  {statusLabel(status)}
                </span>
              </div>
              <dl className="facts facts-compact small">
                <dt>Amount</dt>
                <dd>{amountText(tx)}</dd>
                <dt>To</dt>
                <dd>
                  <Address value={tx.summary?.recipient ?? tx.to} />
                </dd>
                <dt>Agent</dt>
                <dd>{cleanText(tx.agent?.name, 60) || '—'}</dd>
                <dt>Created</dt>
                <dd>{formatDate(tx.created_at)}</dd>
                <dt>Tx hash</dt>
                <dd>
                  {hash ? (
                    <code className="mono address" data-testid="history-tx-hash">
                      {hash}
                    </code>
                  ) : (
                    '—'
                  )}
                </dd>
                <dt>Confirmations</dt>
                <dd data-testid="history-confirmations">{confirmations ?? '—'}</dd>
                {tx.rejection_reason && (
                  <>
                    <dt>Rejected because</dt>
                    <dd data-testid="history-rejection-reason">{cleanText(tx.rejection_reason, 500)}</dd>
                  </>
                )}
                {failure && status !== 'rejected' && (
                  <>
                    <dt>Error</dt>
                    <dd className="warn-text" data-testid="history-error-text">
                      {failure}
                    </dd>
                  </>
                )}
              </dl>
            </li>
          );
        })}
      </ul>
      {cursor && (
        <button type="button" className="button button-secondary" data-testid="history-more" disabled={busy} onClick={() => void loadMore()}>
          {busy ? 'Loading…' : 'Show older'}
        </button>
      )}
    </section>
  );
}
