import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api } from '../lib/api';
import { chainName, formatDate, formatUnits, nativeSymbol } from '../lib/format';
import { errorMessage } from '../lib/messages';
import { cleanText } from '../lib/sanitize';
import type { Wallet } from '../lib/types';
import { Address, CopyButton, ErrorBox, PageTitle, SuccessBox } from '../ui';

export async function fetchWallets(): Promise<Wallet[]> {
  const answer = await api.get<{ wallets?: Wallet[] }>('/api/wallets');
  return (answer?.wallets ?? []).filter((w) => w && typeof w.address === 'string');
}

export function WalletsScreen() {
  const [wallets, setWallets] = useState<Wallet[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [label, setLabel] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [createError, setCreateError] = useState<string | null>(null);
  const [created, setCreated] = useState<string | null>(null);

  const load = useCallback(() => {
    fetchWallets()
      .then((list) => {
        setWallets(list);
        setError(null);
      })
      .catch((e: unknown) => setError(errorMessage(e)))
      .finally(() => setLoaded(true));
  }, []);

  useEffect(load, [load]);

  const create = (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setCreateError(null);
    setCreated(null);
    const body: { password: string; label?: string } = { password };
    if (label.trim()) body.label = label.trim();
    api
      .post<{ wallet_id?: string; address?: string }>('/api/create_wallet', body)
      .then((answer) => {
        setCreated(typeof answer?.address === 'string' ? answer.address : 'a new wallet');
        setPassword('');
        setLabel('');
        load();
      })
      .catch((e: unknown) => setCreateError(errorMessage(e)))
      .finally(() => setBusy(false));
  };

  return (
    <section>
      <PageTitle>Wallets</PageTitle>
      <ErrorBox message={error} testId="wallet-error" />
      {loaded && wallets.length === 0 && !error && (
        <p className="card empty" data-testid="wallet-empty">
          You have no wallet yet. Create one below, then grant it to an agent.
        </p>
      )}
      <ul className="wallets" data-testid="wallet-list">
        {wallets.map((wallet) => {
          const balance = formatUnits(wallet.balance, 18);
          return (
            <li key={wallet.address} className="card wallet" data-testid="wallet-row" data-address={wallet.address.toLowerCase()}>
              <h2 className="wallet-label" data-testid="wallet-label">
                {cleanText(wallet.label, 60) || 'Wallet'}
              </h2>
              <Address value={wallet.address} testId="wallet-address" />
              <dl className="facts facts-compact small">
                <dt>Balance</dt>
                <dd data-testid="wallet-balance">{balance ? `${balance} ${nativeSymbol(wallet.chain_id)}` : '—'}</dd>
                <dt>Network</dt>
                <dd>{chainName(wallet.chain_id)}</dd>
                <dt>Created</dt>
                <dd>{formatDate(wallet.created_at)}</dd>
              </dl>
              <div className="actions">
                <CopyButton text={wallet.address} testId="wallet-copy" label="Copy address" />
                <a className="button button-secondary" href={`#/limits?wallet=${wallet.address.toLowerCase()}`} data-testid="wallet-limits">
                  Limits
                </a>
              </div>
            </li>
          );
        })}
      </ul>

      <div className="card">
        <h2>Create a wallet</h2>
        <p>A new key is generated and stored encrypted on the server; it never reaches this browser.</p>
        <form className="form" onSubmit={create}>
          <div className="field">
            <label htmlFor="wallet-create-label">Label (optional)</label>
            <input
              id="wallet-create-label"
              data-testid="wallet-create-label"
              maxLength={64}
              value={label}
              onChange={(e) => setLabel(e.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor="wallet-create-password">Your password</label>
            <input
              id="wallet-create-password"
              data-testid="wallet-create-password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </div>
          <ErrorBox message={createError} testId="wallet-create-error" />
          <SuccessBox message={created ? `Created ${created}.` : null} testId="wallet-created" />
          <button type="submit" className="button" data-testid="wallet-create-submit" disabled={busy}>
            {busy ? 'Creating…' : 'Create wallet'}
          </button>
        </form>
      </div>
    </section>
  );
}
