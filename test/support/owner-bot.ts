/**
 * A scripted wallet owner for agent tests: it watches its own events over
 * HTTP (GET /api/events, JSON batches) and decides each new pending request
 * by the agent's memo — "approve" is approved with a fresh TOTP code after a
 * short pause (so the agent really waits), "reject: <reason>" is rejected with
 * that reason, anything else is left pending (or approved, with `approveUnmarked`:
 * for examples that write their own memo). Only the public API, as a person
 * with the web app would use it; one decision at a time (TOTP steps must rise).
 */
import { call, expectStatus, type TestUser } from './actors';

export interface OwnerBot {
  /** Requests decided so far, by id. */
  decided: Map<string, 'approved' | 'rejected'>;
  stop(): Promise<void>;
}

export function startOwnerBot(base: string, owner: TestUser, options: { approveAfterMs?: number; pollMs?: number; approveUnmarked?: boolean } = {}): OwnerBot {
  const approveAfterMs = options.approveAfterMs ?? 1_000;
  const pollMs = options.pollMs ?? 150;
  const decided = new Map<string, 'approved' | 'rejected'>();
  const seen = new Set<string>();
  let cursor = '0';
  let stopped = false;
  let failure: unknown;

  async function decide(transactionId: string) {
    const view = await call<{ memo: string | null; digest: string; status: string }>(base, 'GET', `/api/transactions/${transactionId}`, { token: owner.token });
    expectStatus(view, 200, 'owner reads the request');
    const memo = view.body.memo ?? '';
    if (view.body.status !== 'pending_approval') return;
    const unmarked = memo !== 'approve' && !memo.startsWith('reject:') && memo !== 'leave pending';
    if (memo === 'approve' || (unmarked && options.approveUnmarked)) {
      await new Promise((r) => setTimeout(r, approveAfterMs));
      const approved = await call(base, 'POST', '/api/authorize_transaction', { token: owner.token, body: { transaction_id: transactionId, digest: view.body.digest, mfa_code: await owner.nextCode() } });
      expectStatus(approved, 200, 'owner approves with TOTP');
      decided.set(transactionId, 'approved');
    } else if (memo.startsWith('reject:')) {
      await new Promise((r) => setTimeout(r, approveAfterMs));
      const rejected = await call(base, 'POST', '/api/reject_transaction', { token: owner.token, body: { transaction_id: transactionId, reason: memo.slice('reject:'.length).trim() } });
      expectStatus(rejected, 200, 'owner rejects');
      decided.set(transactionId, 'rejected');
    }
  }

  const loop = (async () => {
    while (!stopped) {
      const batch = await call<{ events: Array<{ transaction_id: string; status: string; id: string }>; last_event_id: string | null }>(base, 'GET', `/api/events?after=${cursor}`, { token: owner.token });
      expectStatus(batch, 200, 'owner reads events');
      for (const event of batch.body.events) {
        if (event.status === 'pending_approval' && !seen.has(event.transaction_id)) {
          seen.add(event.transaction_id);
          await decide(event.transaction_id);
        }
      }
      if (batch.body.last_event_id) cursor = batch.body.last_event_id;
      await new Promise((r) => setTimeout(r, pollMs));
    }
  })().catch((error: unknown) => {
    failure = error;
  });

  return {
    decided,
    /** Stops, and throws what went wrong inside the bot, if anything did. */
    async stop() {
      stopped = true;
      await loop;
      if (failure) throw failure;
    },
  };
}
