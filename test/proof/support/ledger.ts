/**
 * The auditor's reconciliation at the end of a fault test: what PostgreSQL
 * says was approved and signed, against what is actually on the chain.
 *
 * Read straight from anvil (every block, full transactions, plus its mempool)
 * and from the application's tables — never from the API's own status alone:
 *
 *   on chain        an approved request whose stored tx hash is mined, from its wallet
 *   duplicates      more than one signature stored for a request, or a mined
 *                   transaction from the wallet that repeats a request's call
 *                   (same to/value/data) under another hash
 *   losses          an approved request that is not mined, or not `confirmed`
 *   unapproved      a signature or mined transaction for a request without an
 *                   approval by the owner (the control group), or a mined
 *                   transaction from one of the wallets that no request explains
 *
 * Per wallet the nonce must equal the number of approved requests: no gap, no
 * extra transaction.
 */
import type { Db } from '../../../lib/db';
import type { ProofCounts } from './summary';

export interface LedgerRequest {
  id: string;
  wallet: string;
  /** The test approved it with TOTP (false: control group, must never be signed). */
  approved: boolean;
}

export interface ChainTx {
  hash: string;
  from: string;
  to: string | null;
  value: bigint;
  input: string;
  nonce: number;
  blockNumber: number | null;
}

export type Rpc = <T = unknown>(method: string, params?: unknown[]) => Promise<T>;

export interface LedgerResult extends Pick<ProofCounts, 'requests' | 'approved' | 'onChain' | 'duplicates' | 'losses' | 'unapprovedSignatures'> {
  /** One line per thing that is wrong; empty when the books balance. */
  problems: string[];
  /** Mined transactions from the audited wallets. */
  mined: number;
}

interface RpcTx {
  hash: string;
  from: string;
  to: string | null;
  value: string;
  input: string;
  nonce: string;
  blockNumber: string | null;
}

/** Every transaction sent from one of `wallets`: mined (blocks fromBlock..latest) and pending (mempool). */
export async function chainTransactions(rpc: Rpc, wallets: Iterable<string>, fromBlock = 0): Promise<{ mined: ChainTx[]; pending: ChainTx[] }> {
  const ours = new Set([...wallets].map((w) => w.toLowerCase()));
  const toTx = (t: RpcTx): ChainTx => ({
    hash: t.hash.toLowerCase(),
    from: t.from.toLowerCase(),
    to: t.to ? t.to.toLowerCase() : null,
    value: BigInt(t.value),
    input: t.input.toLowerCase(),
    nonce: Number(BigInt(t.nonce)),
    blockNumber: t.blockNumber === null ? null : Number(BigInt(t.blockNumber)),
  });
  const latest = Number(BigInt(await rpc<string>('eth_blockNumber')));
  const mined: ChainTx[] = [];
  for (let n = Math.max(0, fromBlock); n <= latest; n++) {
    const block = await rpc<{ transactions: RpcTx[] } | null>('eth_getBlockByNumber', [`0x${n.toString(16)}`, true]);
    for (const t of block?.transactions ?? []) if (ours.has(t.from.toLowerCase())) mined.push(toTx(t));
  }
  const pending: ChainTx[] = [];
  try {
    const pool = await rpc<{ pending?: Record<string, Record<string, RpcTx>> }>('txpool_content');
    for (const [from, byNonce] of Object.entries(pool.pending ?? {})) {
      if (ours.has(from.toLowerCase())) pending.push(...Object.values(byNonce).map(toTx));
    }
  } catch {
    // Not every node has txpool_content; mined transactions are what counts.
  }
  return { mined, pending };
}

interface TxRow {
  id: string;
  status: string;
  tx_hash: string | null;
  from_address: string;
  to_address: string;
  value: string;
  data: string;
  wallet_id: string;
}

export async function reconcile(input: { db: Db; rpc: Rpc; requests: LedgerRequest[]; fromBlock?: number }): Promise<LedgerResult> {
  const { db, rpc, requests } = input;
  const problems: string[] = [];
  const ids = requests.map((r) => r.id);
  const wallets = [...new Set(requests.map((r) => r.wallet.toLowerCase()))];

  const rows = (await db('transactions').whereIn('id', ids).select('id', 'status', 'tx_hash', 'from_address', 'to_address', 'value', 'data', 'wallet_id')) as TxRow[];
  const rowById = new Map(rows.map((r) => [r.id, r]));
  const walletIds = [...new Set(rows.map((r) => r.wallet_id))];
  const signed = (await db('signed_transactions').whereIn('wallet_id', walletIds).select('transaction_id', 'tx_hash', 'nonce', 'wallet_id')) as Array<{
    transaction_id: string;
    tx_hash: string;
    nonce: string;
    wallet_id: string;
  }>;
  const approvals = (await db('approvals')
    .join('transactions', 'transactions.id', 'approvals.transaction_id')
    .join('mfa_uses', 'mfa_uses.id', 'approvals.mfa_use_id')
    .whereIn('approvals.transaction_id', ids)
    .whereRaw('approvals.user_id = transactions.user_id')
    .whereRaw('mfa_uses.user_id = approvals.user_id')
    .whereRaw('approvals.digest = transactions.digest')
    .select('approvals.transaction_id')) as Array<{ transaction_id: string }>;
  const validlyApproved = new Set(approvals.map((a) => a.transaction_id));
  // Every request stored for these wallets must be one the test knows about.
  const untracked = (await db('transactions').whereIn('wallet_id', walletIds).whereNotIn('id', ids).select('id')) as Array<{ id: string }>;
  for (const u of untracked) problems.push(`request ${u.id} exists for an audited wallet but the test never prepared it`);

  const signedBy = new Map<string, typeof signed>();
  for (const s of signed) signedBy.set(s.transaction_id, [...(signedBy.get(s.transaction_id) ?? []), s]);
  for (const s of signed) if (!rowById.has(s.transaction_id)) problems.push(`signature ${s.tx_hash} for request ${s.transaction_id}, which the test never prepared`);

  const { mined, pending } = await chainTransactions(rpc, wallets, input.fromBlock ?? 0);
  const minedByHash = new Map(mined.map((t) => [t.hash, t]));
  const explained = new Set<string>();

  let approved = 0;
  let onChain = 0;
  let duplicates = 0;
  let losses = 0;
  let unapprovedSignatures = signed.filter((s) => !rowById.has(s.transaction_id)).length;

  for (const request of requests) {
    const row = rowById.get(request.id);
    if (!row) {
      problems.push(`request ${request.id} is missing from the database`);
      if (request.approved) losses += 1;
      continue;
    }
    const stored = signedBy.get(request.id) ?? [];
    const ownMined = stored.map((s) => minedByHash.get(s.tx_hash.toLowerCase())).filter((t): t is ChainTx => t !== undefined && t.from === row.from_address.toLowerCase());
    ownMined.forEach((t) => explained.add(t.hash));
    // The same call under another hash (a second signature that never got stored, or a re-sign with a new nonce).
    const storedHashes = new Set(stored.map((s) => s.tx_hash.toLowerCase()));
    const lookalikes = mined.filter(
      (t) => !storedHashes.has(t.hash) && t.from === row.from_address.toLowerCase() && t.to === row.to_address.toLowerCase() && t.value === BigInt(row.value) && t.input === row.data.toLowerCase(),
    );
    lookalikes.forEach((t) => explained.add(t.hash));

    if (stored.length > 1) {
      duplicates += stored.length - 1;
      problems.push(`request ${request.id} has ${stored.length} stored signatures`);
    }
    if (lookalikes.length > 0) {
      problems.push(`request ${request.id}: ${lookalikes.length} mined transaction(s) repeat its call under another hash (${lookalikes.map((t) => t.hash).join(', ')})`);
    }

    if (request.approved) {
      approved += 1;
      if (!validlyApproved.has(request.id)) problems.push(`request ${request.id} was approved by the test but has no valid approval row`);
      duplicates += lookalikes.length + Math.max(0, ownMined.length - 1);
      if (ownMined.length > 0) onChain += 1;
      else {
        losses += 1;
        const inPool = stored.some((s) => pending.some((p) => p.hash === s.tx_hash.toLowerCase()));
        problems.push(`approved request ${request.id} is not on chain (status ${row.status}, ${stored.length} signature(s)${inPool ? ', still in the mempool' : ''})`);
      }
      if (ownMined.length > 0 && row.status !== 'confirmed') {
        losses += 1;
        problems.push(`approved request ${request.id} is on chain but its status is ${row.status}`);
      }
      if (ownMined.length > 0 && row.tx_hash?.toLowerCase() !== ownMined[0]!.hash) problems.push(`request ${request.id}: projected tx_hash ${row.tx_hash} differs from the mined ${ownMined[0]!.hash}`);
    } else {
      if (validlyApproved.has(request.id)) problems.push(`control request ${request.id} has an approval row although the owner never approved it`);
      const bad = stored.length + ownMined.length + lookalikes.length;
      if (bad > 0) {
        unapprovedSignatures += bad;
        problems.push(`unapproved request ${request.id}: ${stored.length} signature(s), ${ownMined.length + lookalikes.length} mined transaction(s)`);
      }
    }
  }

  const unexplained = mined.filter((t) => !explained.has(t.hash));
  if (unexplained.length > 0) {
    unapprovedSignatures += unexplained.length;
    problems.push(`${unexplained.length} mined transaction(s) from audited wallets match no request: ${unexplained.map((t) => `${t.from}#${t.nonce} ${t.hash}`).join(', ')}`);
  }
  if (pending.length > 0) problems.push(`${pending.length} transaction(s) from audited wallets still in the mempool`);

  // Per wallet: nonce = approved requests, and the stored nonces are exactly 0..n-1 with no repeats.
  for (const wallet of wallets) {
    const expected = requests.filter((r) => r.approved && r.wallet.toLowerCase() === wallet).length;
    const nonce = Number(BigInt(await rpc<string>('eth_getTransactionCount', [wallet, 'latest'])));
    if (nonce !== expected) problems.push(`wallet ${wallet}: chain nonce ${nonce}, expected ${expected} (one per approved request)`);
    const walletId = rows.find((r) => r.from_address.toLowerCase() === wallet)?.wallet_id;
    const nonces = signed.filter((s) => s.wallet_id === walletId).map((s) => Number(s.nonce)).sort((a, b) => a - b);
    if (nonces.some((n, i) => n !== i)) problems.push(`wallet ${wallet}: stored signature nonces ${nonces.join(',')} are not 0..${nonces.length - 1}`);
  }

  return { requests: requests.length, approved, onChain, duplicates, losses, unapprovedSignatures, problems, mined: mined.length };
}
