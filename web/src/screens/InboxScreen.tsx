import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { api, ApiError, withQuery } from '../lib/api';
import { checkDigest } from '../lib/digest';
import { timeLeft } from '../lib/format';
import { useLiveMessages } from '../lib/live';
import { errorMessage, resultErrorMessage } from '../lib/messages';
import type { ApprovalResult, Transaction, TransactionPage } from '../lib/types';
import { CodeInput, ErrorBox, PageTitle, SuccessBox, useNow } from '../ui';
import { TransactionCard, type CardOutcome } from './TransactionCard';

const MAX_PAGES = 10;

async function fetchPending(): Promise<Transaction[]> {
  const all: Transaction[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const answer: TransactionPage = await api.get<TransactionPage>(withQuery('/api/transactions', { status: 'pending_approval', cursor }));
    for (const tx of answer?.transactions ?? []) if (tx && typeof tx.transaction_id === 'string') all.push(tx);
    cursor = typeof answer?.next_cursor === 'string' && answer.next_cursor ? answer.next_cursor : null;
    if (!cursor) break;
  }
  return all;
}

function fetchOne(id: string): Promise<Transaction> {
  return api.get<Transaction>(`/api/transactions/${encodeURIComponent(id)}`);
}

const DONE_MESSAGE: Record<string, string> = {
  approved: 'Approved.',
  signing: 'Approved — signing.',
  broadcast: 'Approved — sent to the network.',
  confirmed: 'Approved and confirmed on chain.',
  failed: 'This transaction failed.',
  rejected: 'Rejected.',
  expired: 'Expired before it was approved.',
  cancelled: 'Cancelled.',
};

/**
 * Pending approvals, live. The list is refetched from the JSON API on every SSE
 * event (events carry ids and statuses only, never content to trust). Items
 * that leave `pending_approval` while shown stay visible with their new status
 * until dismissed, so a person sees what happened to them.
 */
export function InboxScreen() {
  const [items, setItems] = useState<Transaction[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [listError, setListError] = useState<string | null>(null);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [outcomes, setOutcomes] = useState<Record<string, CardOutcome>>({});
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [approveError, setApproveError] = useState<string | null>(null);
  const [approveDone, setApproveDone] = useState<string | null>(null);
  const [lockedUntil, setLockedUntil] = useState(0);
  const now = useNow(1000);
  const itemsRef = useRef(items);
  itemsRef.current = items;
  const loading = useRef<{ running: boolean; again: boolean }>({ running: false, again: false });

  const merge = useCallback((fresh: Transaction[]) => {
    const freshIds = new Set(fresh.map((t) => t.transaction_id));
    // Items we showed as pending that left the list: fetch their new status.
    const vanished = itemsRef.current.filter((t) => !freshIds.has(t.transaction_id) && t.status === 'pending_approval');
    setItems((previous) => {
      // Keep what we showed that is no longer pending, until dismissed.
      const kept = previous.filter((t) => !freshIds.has(t.transaction_id));
      return [...fresh, ...kept];
    });
    for (const t of vanished) void refreshOne(t.transaction_id);
  }, []);

  const load = useCallback(async () => {
    if (loading.current.running) {
      loading.current.again = true;
      return;
    }
    loading.current.running = true;
    try {
      do {
        loading.current.again = false;
        const fresh = await fetchPending();
        merge(fresh);
        setListError(null);
      } while (loading.current.again);
    } catch (e) {
      setListError(errorMessage(e));
    } finally {
      loading.current.running = false;
      setLoaded(true);
    }
  }, [merge]);

  const replace = (tx: Transaction) =>
    setItems((previous) => previous.map((t) => (t.transaction_id === tx.transaction_id ? tx : t)));

  async function refreshOne(id: string) {
    try {
      replace(await fetchOne(id));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setItems((previous) => previous.filter((t) => t.transaction_id !== id));
    }
  }

  useEffect(() => {
    void load();
  }, [load]);

  useLiveMessages((message) => {
    if (message.kind === 'resync') {
      void load();
      return;
    }
    const { transaction_id, status } = message.event;
    const known = itemsRef.current.some((t) => t.transaction_id === transaction_id);
    if (known) void refreshOne(transaction_id);
    if (!known || status === 'pending_approval') void load();
  });

  const pendingIds = items.filter((t) => t.status === 'pending_approval').map((t) => t.transaction_id);
  const chosen = items.filter((t) => selected.has(t.transaction_id) && t.status === 'pending_approval');
  const locked = lockedUntil > now;

  const setSelectedOne = (id: string, on: boolean) =>
    setSelected((previous) => {
      if (previous.has(id) === on) return previous;
      const next = new Set(previous);
      if (on) next.add(id);
      else next.delete(id);
      return next;
    });

  const approve = async (event: FormEvent) => {
    event.preventDefault();
    setApproveError(null);
    setApproveDone(null);
    const batch = chosen.filter((t) => !timeLeft(t.approval_expires_at ?? t.expires_at, Date.now()).expired);
    if (batch.length === 0) {
      setApproveError('Select at least one request that has not expired.');
      return;
    }
    setBusy(true);
    try {
      // The digests sent are the ones recomputed here from what is displayed;
      // any disagreement with the server's digest stops the approval outright.
      const checks = await Promise.all(batch.map((t) => checkDigest(t)));
      const bad = batch.filter((_, index) => checks[index]?.state !== 'ok');
      if (bad.length > 0) {
        setApproveError(
          `Not sent: ${bad.length === 1 ? 'one request does' : `${bad.length} requests do`} not match the digest the server asked you to approve. Deselect ${bad.length === 1 ? 'it' : 'them'} and report this.`,
        );
        return;
      }
      const digests = checks.map((c) => (c.state === 'ok' ? c.digest : ''));
      let results: ApprovalResult[];
      if (batch.length === 1) {
        const answer = await api.post<Partial<ApprovalResult> & { results?: ApprovalResult[] }>('/api/authorize_transaction', {
          transaction_id: batch[0]!.transaction_id,
          digest: digests[0],
          mfa_code: code,
        });
        results = Array.isArray(answer?.results)
          ? answer.results
          : [{ transaction_id: batch[0]!.transaction_id, status: typeof answer?.status === 'string' ? answer.status : 'approved' }];
      } else {
        const answer = await api.post<{ results?: ApprovalResult[] }>('/api/authorize_transaction', {
          transaction_ids: batch.map((t) => t.transaction_id),
          digests,
          mfa_code: code,
        });
        results = Array.isArray(answer?.results) ? answer.results : [];
      }
      setCode('');
      const nextOutcomes: Record<string, CardOutcome> = {};
      let approved = 0;
      for (const result of results) {
        if (!result || typeof result.transaction_id !== 'string') continue;
        const failed = Boolean(result.error) || (typeof result.status === 'string' && result.status === 'pending_approval');
        if (failed) nextOutcomes[result.transaction_id] = { ok: false, message: resultErrorMessage(result.error) };
        else {
          approved += 1;
          nextOutcomes[result.transaction_id] = { ok: true, message: DONE_MESSAGE[String(result.status)] ?? 'Approved.' };
        }
      }
      setOutcomes((previous) => ({ ...previous, ...nextOutcomes }));
      setSelected(new Set());
      setApproveDone(
        approved === results.length
          ? `Approved ${approved} request${approved === 1 ? '' : 's'}.`
          : `Approved ${approved} of ${results.length}; see the messages on the others.`,
      );
      for (const t of batch) void refreshOne(t.transaction_id);
    } catch (e) {
      if (e instanceof ApiError && e.code === 'mfa_locked') setLockedUntil(Date.now() + (e.retryAfter ?? 60) * 1000);
      if (e instanceof ApiError && (e.code === 'mfa_invalid' || e.code === 'mfa_code_used')) setCode('');
      setApproveError(errorMessage(e));
      if (e instanceof ApiError && e.code === 'invalid_state') {
        const reason = e.reason;
        for (const t of batch) setOutcomes((previous) => ({ ...previous, [t.transaction_id]: { ok: false, message: errorMessage(e) } }));
        if (reason === 'stale_digest') void load();
        else for (const t of batch) void refreshOne(t.transaction_id);
      }
    } finally {
      setBusy(false);
    }
  };

  const reject = async (tx: Transaction, reason: string) => {
    try {
      await api.post('/api/reject_transaction', { transaction_id: tx.transaction_id, reason });
      setOutcomes((previous) => ({ ...previous, [tx.transaction_id]: { ok: true, message: 'Rejected. The agent has been told your reason.' } }));
      setSelectedOne(tx.transaction_id, false);
      await refreshOne(tx.transaction_id);
    } catch (e) {
      setOutcomes((previous) => ({ ...previous, [tx.transaction_id]: { ok: false, message: errorMessage(e) } }));
      throw e;
    }
  };

  const dismiss = (id: string) => {
    setItems((previous) => previous.filter((t) => t.transaction_id !== id));
    setOutcomes((previous) => {
      const next = { ...previous };
      delete next[id];
      return next;
    });
  };

  const selectableIds = items
    .filter((t) => t.status === 'pending_approval' && !timeLeft(t.approval_expires_at ?? t.expires_at, now).expired)
    .map((t) => t.transaction_id);
  const allSelected = selectableIds.length > 0 && selectableIds.every((id) => selected.has(id));

  return (
    <section>
      <PageTitle>Inbox</PageTitle>
      <p className="lead" data-testid="inbox-count" aria-live="polite">
        {loaded ? `${pendingIds.length} request${pendingIds.length === 1 ? '' : 's'} waiting for your approval` : 'Loading…'}
      </p>
      <ErrorBox message={listError} testId="inbox-error" />

      {loaded && items.length === 0 && !listError && (
        <p className="card empty" data-testid="inbox-empty">
          Nothing to approve. New requests from your agents appear here as they arrive.
        </p>
      )}

      {selectableIds.length > 1 && (
        <label className="select select-all">
          <input
            type="checkbox"
            data-testid="select-all"
            checked={allSelected}
            onChange={(e) => setSelected(e.target.checked ? new Set(selectableIds) : new Set())}
          />
          Select all {selectableIds.length}
        </label>
      )}

      <div className="tx-list" data-testid="inbox-list">
        {items.map((tx) => (
          <TransactionCard
            key={tx.transaction_id}
            tx={tx}
            now={now}
            selected={selected.has(tx.transaction_id)}
            onSelect={(on) => setSelectedOne(tx.transaction_id, on)}
            onReject={(reason) => reject(tx, reason)}
            onDismiss={() => dismiss(tx.transaction_id)}
            outcome={outcomes[tx.transaction_id]}
            busy={busy}
          />
        ))}
      </div>

      {pendingIds.length === 0 && (
        <>
          <ErrorBox message={approveError} testId="approve-error" />
          <SuccessBox message={approveDone} testId="approve-done" />
        </>
      )}

      {pendingIds.length > 0 && (
        <form className="approve-bar" onSubmit={(e) => void approve(e)} aria-label="Approve selected requests">
          <ErrorBox message={approveError} testId="approve-error" />
          <SuccessBox message={approveDone} testId="approve-done" />
          <p className="approve-count" data-testid="approve-count">
            {chosen.length === 0 ? 'Select the requests to approve' : `${chosen.length} selected`}
          </p>
          <div className="approve-row">
            <CodeInput id="approve-code" testId="approve-code" value={code} onChange={setCode} disabled={busy || locked} compact />
            <button
              type="submit"
              className="button"
              data-testid="approve-submit"
              disabled={busy || locked || chosen.length === 0 || code.length !== 6}
            >
              {busy ? 'Approving…' : chosen.length > 1 ? `Approve ${chosen.length}` : 'Approve'}
            </button>
          </div>
        </form>
      )}
    </section>
  );
}
