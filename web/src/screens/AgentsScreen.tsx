import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api } from '../lib/api';
import { formatDate } from '../lib/format';
import { errorMessage } from '../lib/messages';
import { cleanText } from '../lib/sanitize';
import type { Agent, Wallet } from '../lib/types';
import { Address, CodeInput, CopyButton, ErrorBox, PageTitle, SuccessBox } from '../ui';
import { fetchWallets } from './WalletsScreen';

const lower = (address: string) => address.toLowerCase();

/** datetime-local (local time) → ISO-8601 UTC, or undefined when empty/invalid. */
function localToIso(value: string): string | undefined {
  if (!value) return undefined;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}

export function AgentsScreen() {
  const [agents, setAgents] = useState<Agent[]>([]);
  const [wallets, setWallets] = useState<Wallet[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [newKey, setNewKey] = useState<{ agentId: string; apiKey: string; name: string } | null>(null);

  const load = useCallback(() => {
    Promise.all([api.get<{ agents?: Agent[] }>('/api/agents'), fetchWallets()])
      .then(([answer, walletList]) => {
        setAgents((answer?.agents ?? []).filter((a) => a && typeof a.agent_id === 'string'));
        setWallets(walletList);
        setError(null);
      })
      .catch((e: unknown) => setError(errorMessage(e)))
      .finally(() => setLoaded(true));
  }, []);

  useEffect(load, [load]);

  return (
    <section>
      <PageTitle>Agents</PageTitle>
      <p className="lead">An agent can propose transactions from the wallets you grant it. Nothing is signed until you approve it.</p>
      <ErrorBox message={error} testId="agent-error" />

      {newKey && (
        <div className="card key-once" data-testid="agent-key-panel">
          <h2>API key for “{cleanText(newKey.name, 60)}”</h2>
          <p className="notice notice-warn">This is the only time the key is shown. Store it in your agent’s secret store now.</p>
          <div className="field">
            <label htmlFor="agent-api-key">API key</label>
            <input
              id="agent-api-key"
              data-testid="agent-api-key"
              className="mono"
              readOnly
              autoFocus
              value={newKey.apiKey}
              onFocus={(e) => e.target.select()}
            />
          </div>
          <div className="actions">
            <CopyButton text={newKey.apiKey} testId="agent-api-key-copy" label="Copy key" />
            <button type="button" className="button button-secondary" data-testid="agent-key-done" onClick={() => setNewKey(null)}>
              I have stored it
            </button>
          </div>
        </div>
      )}

      {loaded && agents.length === 0 && !error && (
        <p className="card empty" data-testid="agent-empty">
          No agents yet.
        </p>
      )}
      <ul className="agents" data-testid="agent-list">
        {agents.map((agent) => (
          <AgentRow key={agent.agent_id} agent={agent} wallets={wallets} onChanged={load} />
        ))}
      </ul>

      <CreateAgent
        wallets={wallets}
        onCreated={(created) => {
          setNewKey(created);
          load();
        }}
      />
    </section>
  );
}

function CreateAgent({ wallets, onCreated }: { wallets: Wallet[]; onCreated(created: { agentId: string; apiKey: string; name: string }): void }) {
  const [name, setName] = useState('');
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [expires, setExpires] = useState('');
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const body: { name: string; wallet_addresses?: string[]; expires_at?: string; mfa_code: string } = { name: name.trim(), mfa_code: code };
    if (chosen.size > 0) body.wallet_addresses = [...chosen];
    const expiresAt = localToIso(expires);
    if (expiresAt) body.expires_at = expiresAt;
    api
      .post<{ agent_id?: string; api_key?: string }>('/api/agents', body)
      .then((answer) => {
        if (typeof answer?.api_key !== 'string' || typeof answer.agent_id !== 'string') throw new Error('no key in the answer');
        onCreated({ agentId: answer.agent_id, apiKey: answer.api_key, name: body.name });
        setName('');
        setChosen(new Set());
        setExpires('');
        setCode('');
      })
      .catch((e: unknown) => setError(errorMessage(e)))
      .finally(() => setBusy(false));
  };

  return (
    <div className="card">
      <h2>Create an agent</h2>
      <form className="form" onSubmit={submit}>
        <div className="field">
          <label htmlFor="agent-create-name">Name</label>
          <input
            id="agent-create-name"
            data-testid="agent-create-name"
            required
            maxLength={64}
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
        </div>
        <fieldset className="field">
          <legend>Wallets it may use</legend>
          {wallets.length === 0 && <p className="hint">No wallets yet — you can grant wallets later.</p>}
          {wallets.map((wallet) => (
            <label key={wallet.address} className="select">
              <input
                type="checkbox"
                data-testid="agent-create-wallet"
                value={lower(wallet.address)}
                checked={chosen.has(lower(wallet.address))}
                onChange={(e) =>
                  setChosen((previous) => {
                    const next = new Set(previous);
                    if (e.target.checked) next.add(lower(wallet.address));
                    else next.delete(lower(wallet.address));
                    return next;
                  })
                }
              />
              <span>
                {cleanText(wallet.label, 40) || 'Wallet'} <code className="mono address">{wallet.address}</code>
              </span>
            </label>
          ))}
        </fieldset>
        <div className="field">
          <label htmlFor="agent-create-expires">Key expires (optional)</label>
          <input
            id="agent-create-expires"
            data-testid="agent-create-expires"
            type="datetime-local"
            value={expires}
            onChange={(e) => setExpires(e.target.value)}
          />
        </div>
        <CodeInput id="agent-create-code" testId="agent-create-code" value={code} onChange={setCode} />
        <ErrorBox message={error} testId="agent-create-error" />
        <button type="submit" className="button" data-testid="agent-create-submit" disabled={busy || code.length !== 6}>
          {busy ? 'Creating…' : 'Create agent'}
        </button>
      </form>
    </div>
  );
}

function AgentRow({ agent, wallets, onChanged }: { agent: Agent; wallets: Wallet[]; onChanged(): void }) {
  const granted = (agent.wallets ?? []).filter((w): w is string => typeof w === 'string');
  const grantedSet = new Set(granted.map(lower));
  const grantable = wallets.filter((w) => !grantedSet.has(lower(w.address)));
  const revoked = Boolean(agent.revoked_at);
  const expired = typeof agent.expires_at === 'string' && Date.parse(agent.expires_at) <= Date.now();
  const [grantAddress, setGrantAddress] = useState('');
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [confirmRevoke, setConfirmRevoke] = useState(false);
  const id = agent.agent_id;
  const base = `/api/agents/${encodeURIComponent(id)}`;

  const run = (action: Promise<unknown>, message: string) => {
    setBusy(true);
    setError(null);
    setDone(null);
    action
      .then(() => {
        setDone(message);
        onChanged();
      })
      .catch((e: unknown) => setError(errorMessage(e)))
      .finally(() => setBusy(false));
  };

  const grant = (event: FormEvent) => {
    event.preventDefault();
    const address = grantAddress || (grantable[0] ? lower(grantable[0].address) : '');
    if (!address) return;
    run(
      api.post(`${base}/wallets`, { address, mfa_code: code }).then(() => setCode('')),
      'Wallet granted.',
    );
  };

  return (
    <li className="card agent" data-testid="agent-row" data-agent-id={id} data-revoked={revoked ? 'true' : 'false'}>
      <div className="history-head">
        <h2 className="agent-name" data-testid="agent-name">
          {cleanText(agent.name, 60) || 'Unnamed agent'}
        </h2>
        <span className={`badge ${revoked || expired ? 'status-done' : 'status-pending'}`} data-testid="agent-state">
          {revoked ? 'Revoked' : expired ? 'Expired' : 'Active'}
        </span>
      </div>
      <dl className="facts facts-compact small">
        <dt>Created</dt>
        <dd>{formatDate(agent.created_at)}</dd>
        <dt>Key expires</dt>
        <dd>{agent.expires_at ? formatDate(agent.expires_at) : 'Never'}</dd>
        <dt>Last used</dt>
        <dd>{agent.last_used_at ? formatDate(agent.last_used_at) : 'Never'}</dd>
        {revoked && (
          <>
            <dt>Revoked</dt>
            <dd>{formatDate(agent.revoked_at)}</dd>
          </>
        )}
      </dl>

      <h3>Wallets</h3>
      {granted.length === 0 && <p className="hint">No wallet granted.</p>}
      <ul className="granted">
        {granted.map((address) => (
          <li key={address} data-testid="agent-wallet" data-address={lower(address)}>
            <Address value={address} />
            {!revoked && (
              <button
                type="button"
                className="button button-secondary small-button"
                data-testid="agent-withdraw"
                data-address={lower(address)}
                disabled={busy}
                onClick={() => run(api.del(`${base}/wallets/${encodeURIComponent(lower(address))}`), 'Wallet withdrawn.')}
              >
                Withdraw
              </button>
            )}
          </li>
        ))}
      </ul>

      {!revoked && grantable.length > 0 && (
        <form className="form grant-form" onSubmit={grant}>
          <div className="field">
            <label htmlFor={`grant-${id}`}>Grant a wallet</label>
            <select
              id={`grant-${id}`}
              data-testid="agent-grant-select"
              value={grantAddress || lower(grantable[0]!.address)}
              onChange={(e) => setGrantAddress(e.target.value)}
            >
              {grantable.map((wallet) => (
                <option key={wallet.address} value={lower(wallet.address)}>
                  {`${cleanText(wallet.label, 30) || 'Wallet'} ${wallet.address}`}
                </option>
              ))}
            </select>
          </div>
          <CodeInput id={`grant-code-${id}`} testId="agent-grant-code" value={code} onChange={setCode} />
          <button type="submit" className="button button-secondary" data-testid="agent-grant-submit" disabled={busy || code.length !== 6}>
            Grant
          </button>
        </form>
      )}

      <ErrorBox message={error} testId="agent-row-error" />
      <SuccessBox message={done} testId="agent-row-done" />

      {!revoked && (
        <div className="actions">
          {!confirmRevoke ? (
            <button type="button" className="button button-danger-outline" data-testid="agent-revoke" disabled={busy} onClick={() => setConfirmRevoke(true)}>
              Revoke agent…
            </button>
          ) : (
            <>
              <button
                type="button"
                className="button button-danger"
                data-testid="agent-revoke-confirm"
                disabled={busy}
                onClick={() => run(api.del(base), 'Agent revoked; its key no longer works.')}
              >
                Revoke now
              </button>
              <button type="button" className="button button-secondary" data-testid="agent-revoke-cancel" onClick={() => setConfirmRevoke(false)}>
                Keep agent
              </button>
            </>
          )}
        </div>
      )}
    </li>
  );
}
