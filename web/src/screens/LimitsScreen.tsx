import { useCallback, useEffect, useMemo, useState, type FormEvent } from 'react';
import { api } from '../lib/api';
import { formatDate } from '../lib/format';
import { addressWithLabel, assetAmountText, fraction, isValidLabel, labelMap, MAX_LABEL_LENGTH, ruleText } from '../lib/limits';
import { errorMessage } from '../lib/messages';
import { cleanText } from '../lib/sanitize';
import type { Agent, LabelEntry, Policy, Rule, Wallet } from '../lib/types';
import { Address, CodeInput, ErrorBox, PageTitle, SuccessBox } from '../ui';
import { fetchWallets } from './WalletsScreen';

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const RULE_TYPES: { type: string; label: string }[] = [
  { type: 'rolling_limit', label: 'Limit over time' },
  { type: 'max_per_transaction', label: 'Limit per transaction' },
  { type: 'allowed_recipients', label: 'Only these recipients' },
  { type: 'allowed_contracts', label: 'Only these contracts' },
  { type: 'deny_unlimited_approvals', label: 'No unlimited token allowances' },
  { type: 'allowed_chains', label: 'Only these networks' },
  { type: 'max_requests', label: 'At most N requests per agent' },
  { type: 'frozen', label: 'Freeze (stop all proposals)' },
];
const WINDOWS = [
  { value: '1h', label: 'hour' },
  { value: '24h', label: '24 hours' },
  { value: '7d', label: '7 days' },
  { value: '30d', label: '30 days' },
];

/** The wallet named in the hash (`#/limits?wallet=0x…`), if any. */
function walletFromHash(): string | null {
  const query = window.location.hash.split('?')[1] ?? '';
  const wallet = new URLSearchParams(query).get('wallet');
  return wallet && ADDRESS.test(wallet) ? wallet.toLowerCase() : null;
}

/** "1.5" (in 18-decimal units) → base units; null if it is not a plain positive decimal. */
function toBaseUnits(text: string, decimals: number): string | null {
  const match = /^([0-9]{1,60})(?:\.([0-9]{1,36}))?$/.exec(text.trim());
  if (!match) return null;
  const fraction = match[2] ?? '';
  if (fraction.length > decimals) return null;
  const units = BigInt(match[1]!) * 10n ** BigInt(decimals) + BigInt((fraction.padEnd(decimals, '0') || '0'));
  return units > 0n ? units.toString() : null;
}

/** A rule as the PUT body takes it: its id is derived by the server. */
function withoutId(rule: Rule): Rule {
  const { id: _id, ...rest } = rule;
  return rest;
}

export function LimitsScreen() {
  const [wallets, setWallets] = useState<Wallet[]>([]);
  const [address, setAddress] = useState<string | null>(walletFromHash);
  const [policy, setPolicy] = useState<Policy | null>(null);
  const [agents, setAgents] = useState<Agent[]>([]);
  const [book, setBook] = useState<LabelEntry[]>([]);
  const [draft, setDraft] = useState<Rule[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    Promise.all([fetchWallets(), api.get<{ agents?: Agent[] }>('/api/agents')])
      .then(([list, answer]) => {
        setWallets(list);
        setAgents((answer?.agents ?? []).filter((a) => a && typeof a.agent_id === 'string'));
        setAddress((current) => current ?? (list[0] ? list[0].address.toLowerCase() : null));
      })
      .catch((e: unknown) => setError(errorMessage(e)));
  }, []);

  const load = useCallback(() => {
    if (!address) return;
    Promise.all([api.get<Policy>(`/api/wallets/${encodeURIComponent(address)}/policy`), api.get<{ entries?: LabelEntry[] }>('/api/address_book')])
      .then(([answer, entries]) => {
        setPolicy(answer);
        setBook(Array.isArray(entries?.entries) ? entries.entries : []);
        setDraft(null);
        setError(null);
      })
      .catch((e: unknown) => setError(errorMessage(e)));
  }, [address]);
  useEffect(load, [load]);

  const wallet = wallets.find((w) => w.address.toLowerCase() === address);
  const labels = useMemo(() => labelMap(book), [book]);
  const agentNames = useMemo(() => new Map(agents.map((a) => [a.agent_id.toLowerCase(), cleanText(a.name, 60)])), [agents]);
  const context = { chainId: wallet?.chain_id, labels, agents: agentNames };
  const rules = draft ?? policy?.rules ?? [];
  const usage = new Map((policy?.usage ?? []).map((u) => [u.rule_id, u.used]));

  return (
    <section>
      <PageTitle>Limits</PageTitle>
      <p className="lead">Limits can only refuse a request before it reaches you. They never approve anything: you still approve every transaction with your code.</p>
      <ErrorBox message={error} testId="limits-error" />

      {wallets.length > 1 && (
        <div className="field">
          <label htmlFor="limits-wallet">Wallet</label>
          <select id="limits-wallet" data-testid="limits-wallet" value={address ?? ''} onChange={(e) => setAddress(e.target.value)}>
            {wallets.map((w) => (
              <option key={w.address} value={w.address.toLowerCase()}>
                {cleanText(w.label, 40) || 'Wallet'} — {w.address.slice(0, 8)}…{w.address.slice(-4)}
              </option>
            ))}
          </select>
        </div>
      )}
      {wallets.length === 0 && <p className="card empty">Create a wallet first.</p>}

      {policy && address && (
        <>
          <div className="card" data-testid="limits-rules" data-version={policy.version ?? 0}>
            <h2>Rules for {cleanText(wallet?.label, 40) || 'this wallet'}</h2>
            <Address value={wallet?.address ?? address} />
            {rules.length === 0 && (
              <p className="empty" data-testid="limits-none">
                No limits: every request from your agents reaches your inbox.
              </p>
            )}
            <ul className="rules">
              {rules.map((rule, index) => {
                const used = rule.id ? usage.get(rule.id) : undefined;
                return (
                  <li key={rule.id ?? `new-${index}`} className="rule" data-testid="limits-rule" data-type={rule.type}>
                    <span data-testid="limits-rule-text">{ruleText(rule, context)}</span>
                    {rule.type === 'rolling_limit' && typeof used === 'string' && rule.amount && (
                      <span className="usage">
                        <meter min={0} max={1} value={fraction(used, rule.amount)} aria-label="used of the limit" />
                        <span className="hint" data-testid="limits-rule-usage">
                          {assetAmountText(rule.asset ?? 'native', used, context)} used or waiting for you
                        </span>
                      </span>
                    )}
                    {rule.type === 'max_requests' && typeof used === 'string' && (
                      <span className="hint" data-testid="limits-rule-usage">
                        {used} so far
                      </span>
                    )}
                    {!rule.id && <span className="badge badge-warn">not saved yet</span>}
                    <button type="button" className="button button-secondary small-button" data-testid="limits-rule-remove" onClick={() => setDraft(rules.filter((_, i) => i !== index))}>
                      Remove
                    </button>
                  </li>
                );
              })}
            </ul>
            <AddRuleForm agents={agents} onAdd={(rule) => setDraft([...rules, rule])} />
            {draft && <SaveRules address={address} rules={draft} onSaved={load} onDiscard={() => setDraft(null)} />}
          </div>

          <Refusals policy={policy} agents={agentNames} />
          <AddressBook entries={book} onChanged={load} />
        </>
      )}
    </section>
  );
}

function AddRuleForm({ agents, onAdd }: { agents: Agent[]; onAdd(rule: Rule): void }) {
  const [type, setType] = useState('rolling_limit');
  const [agentId, setAgentId] = useState('');
  const [asset, setAsset] = useState('native');
  const [amount, setAmount] = useState('');
  const [window, setWindow] = useState('24h');
  const [list, setList] = useState('');
  const [functions, setFunctions] = useState('');
  const [count, setCount] = useState('');
  const [problem, setProblem] = useState<string | null>(null);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const base: Rule = { type, ...(agentId ? { agent_id: agentId } : {}) };
    const addresses = list.split(/[\s,]+/).filter(Boolean);
    const native = asset === 'native';
    const units = () => (native ? toBaseUnits(amount, 18) : /^[1-9][0-9]{0,76}$/.test(amount.trim()) ? amount.trim() : null);
    let rule: Rule;
    switch (type) {
      case 'rolling_limit':
      case 'max_per_transaction': {
        const value = units();
        if (!native && !ADDRESS.test(asset)) return setProblem('Enter the token contract address, or choose the native currency.');
        if (!value) return setProblem(native ? 'Enter an amount such as 0.5.' : 'Enter the amount in the token’s base units (a whole number).');
        rule = { ...base, asset, amount: value, ...(type === 'rolling_limit' ? { window } : {}) };
        break;
      }
      case 'allowed_recipients':
        if (addresses.length === 0 || !addresses.every((a) => ADDRESS.test(a))) return setProblem('Enter one or more addresses (0x…), one per line.');
        rule = { ...base, addresses };
        break;
      case 'allowed_contracts': {
        if (addresses.length === 0 || !addresses.every((a) => ADDRESS.test(a))) return setProblem('Enter one or more contract addresses (0x…).');
        const fns = functions.split(/;|\n/).map((f) => f.trim()).filter(Boolean);
        rule = { ...base, contracts: addresses.map((address) => ({ address, ...(fns.length ? { functions: fns } : {}) })) };
        break;
      }
      case 'deny_unlimited_approvals':
        if (amount.trim() && !/^(0|[1-9][0-9]{0,76})$/.test(amount.trim())) return setProblem('Leave empty, or enter the largest allowance in base units.');
        rule = { ...base, ...(amount.trim() ? { max_amount: amount.trim() } : {}) };
        break;
      case 'allowed_chains': {
        const ids = list.split(/[\s,]+/).filter(Boolean).map(Number);
        if (ids.length === 0 || !ids.every((n) => Number.isInteger(n) && n > 0)) return setProblem('Enter network ids, such as 1, 8453.');
        rule = { ...base, chain_ids: ids };
        break;
      }
      case 'max_requests': {
        const n = Number(count);
        if (!Number.isInteger(n) || n < 1) return setProblem('Enter how many requests, a whole number of at least 1.');
        rule = { ...base, count: n, window };
        break;
      }
      default:
        rule = base;
    }
    setProblem(null);
    onAdd(rule);
    setAmount('');
    setList('');
    setFunctions('');
    setCount('');
  };

  const needsAsset = type === 'rolling_limit' || type === 'max_per_transaction';
  return (
    <form className="form add-rule" onSubmit={submit} data-testid="limits-add">
      <h3>Add a limit</h3>
      <div className="field">
        <label htmlFor="rule-type">Kind</label>
        <select id="rule-type" data-testid="limits-add-type" value={type} onChange={(e) => setType(e.target.value)}>
          {RULE_TYPES.map((t) => (
            <option key={t.type} value={t.type}>
              {t.label}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor="rule-agent">For</label>
        <select id="rule-agent" data-testid="limits-add-agent" value={agentId} onChange={(e) => setAgentId(e.target.value)}>
          <option value="">Every agent</option>
          {agents.map((a) => (
            <option key={a.agent_id} value={a.agent_id}>
              {cleanText(a.name, 60) || a.agent_id}
            </option>
          ))}
        </select>
      </div>
      {needsAsset && (
        <div className="field">
          <label htmlFor="rule-asset">Asset</label>
          <input id="rule-asset" data-testid="limits-add-asset" value={asset} onChange={(e) => setAsset(e.target.value.trim())} aria-describedby="rule-asset-hint" />
          <span id="rule-asset-hint" className="hint">
            “native” for the network’s currency, or a token contract address
          </span>
        </div>
      )}
      {(needsAsset || type === 'deny_unlimited_approvals') && (
        <div className="field">
          <label htmlFor="rule-amount">{type === 'deny_unlimited_approvals' ? 'Largest allowance (base units, optional)' : asset === 'native' ? 'Amount (e.g. 0.5)' : 'Amount (base units)'}</label>
          <input id="rule-amount" data-testid="limits-add-amount" inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} />
        </div>
      )}
      {(type === 'rolling_limit' || type === 'max_requests') && (
        <div className="field">
          <label htmlFor="rule-window">In any</label>
          <select id="rule-window" data-testid="limits-add-window" value={window} onChange={(e) => setWindow(e.target.value)}>
            {WINDOWS.map((w) => (
              <option key={w.value} value={w.value}>
                {w.label}
              </option>
            ))}
          </select>
        </div>
      )}
      {type === 'max_requests' && (
        <div className="field">
          <label htmlFor="rule-count">Requests</label>
          <input id="rule-count" data-testid="limits-add-count" inputMode="numeric" value={count} onChange={(e) => setCount(e.target.value)} />
        </div>
      )}
      {(type === 'allowed_recipients' || type === 'allowed_contracts' || type === 'allowed_chains') && (
        <div className="field">
          <label htmlFor="rule-list">{type === 'allowed_chains' ? 'Network ids' : 'Addresses (one per line)'}</label>
          <textarea id="rule-list" data-testid="limits-add-list" rows={3} value={list} onChange={(e) => setList(e.target.value)} />
        </div>
      )}
      {type === 'allowed_contracts' && (
        <div className="field">
          <label htmlFor="rule-functions">Functions (optional, separated by “;”)</label>
          <input id="rule-functions" data-testid="limits-add-functions" className="mono" placeholder="transfer(address,uint256)" value={functions} onChange={(e) => setFunctions(e.target.value)} />
        </div>
      )}
      <ErrorBox message={problem} testId="limits-add-problem" />
      <button type="submit" className="button button-secondary" data-testid="limits-add-submit">
        Add to the list
      </button>
    </form>
  );
}

function SaveRules({ address, rules, onSaved, onDiscard }: { address: string; rules: Rule[]; onSaved(): void; onDiscard(): void }) {
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    api
      .put<Policy>(`/api/wallets/${encodeURIComponent(address)}/policy`, { rules: rules.map(withoutId), mfa_code: code })
      .then((answer) => {
        setSaved(`Saved: version ${answer?.version ?? '?'}.`);
        setCode('');
        onSaved();
      })
      .catch((e: unknown) => setError(errorMessage(e)))
      .finally(() => setBusy(false));
  };
  return (
    <form className="form save-rules" onSubmit={submit} data-testid="limits-save">
      <p className="notice notice-warn">Unsaved changes. They apply to requests already waiting too, when they are signed.</p>
      <CodeInput id="limits-code" value={code} onChange={setCode} testId="limits-code" />
      <ErrorBox message={error} testId="limits-save-error" />
      <SuccessBox message={saved} testId="limits-saved" />
      <div className="actions">
        <button type="submit" className="button" data-testid="limits-save-submit" disabled={busy || code.length !== 6}>
          {busy ? 'Saving…' : 'Save limits'}
        </button>
        <button type="button" className="button button-secondary" data-testid="limits-discard" onClick={onDiscard}>
          Discard
        </button>
      </div>
    </form>
  );
}

function Refusals({ policy, agents }: { policy: Policy; agents: ReadonlyMap<string, string> }) {
  const refusals = policy.refusals;
  if (!refusals) return null;
  const recent = Array.isArray(refusals.recent) ? refusals.recent.slice(0, 10) : [];
  return (
    <div className="card" data-testid="limits-refusals">
      <h2>Refused by your limits</h2>
      <p data-testid="limits-refused-count">
        {refusals.last_24h ?? 0} request{refusals.last_24h === 1 ? '' : 's'} refused in the last 24 hours. Refused requests never reach your inbox.
      </p>
      {recent.length > 0 && (
        <ul className="plain-list small">
          {recent.map((r, i) => (
            <li key={i} data-testid="limits-refusal">
              {formatDate(r.at)} · {r.stage === 'signing' ? 'at signing' : 'when proposed'} · {cleanText(agents.get(String(r.agent_id ?? '').toLowerCase()), 60) || 'an agent'}:{' '}
              {(r.violations ?? []).map((v) => cleanText(v.message, 300)).join('; ')}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function AddressBook({ entries, onChanged }: { entries: LabelEntry[]; onChanged(): void }) {
  const [address, setAddress] = useState('');
  const [label, setLabel] = useState('');
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const labels = labelMap(entries);

  const run = (work: Promise<unknown>, message: string) => {
    setBusy(true);
    setError(null);
    setDone(null);
    work
      .then(() => {
        setDone(message);
        setCode('');
        onChanged();
      })
      .catch((e: unknown) => setError(errorMessage(e)))
      .finally(() => setBusy(false));
  };
  const save = (event: FormEvent) => {
    event.preventDefault();
    if (!ADDRESS.test(address.trim())) return setError('Enter an address (0x followed by 40 hex digits).');
    if (!isValidLabel(label.trim())) return setError(`A label is 1–${MAX_LABEL_LENGTH} plain letters, digits and punctuation, and must not look like an address.`);
    run(api.post('/api/address_book', { address: address.trim(), label: label.trim(), mfa_code: code }), `Saved “${label.trim()}”.`);
    setAddress('');
    setLabel('');
  };

  return (
    <div className="card" data-testid="address-book">
      <h2>Address book</h2>
      <p className="hint">Labels appear beside addresses on approval cards — never instead of them. Your agents see only the labels of the wallets you grant them.</p>
      <ul className="plain-list">
        {entries.map((entry) => (
          <li key={entry.address} className="book-entry" data-testid="address-book-entry" data-address={entry.address.toLowerCase()}>
            <strong>{labels.get(entry.address.toLowerCase())}</strong> <Address value={entry.address} />
            <button
              type="button"
              className="button button-secondary small-button"
              data-testid="address-book-delete"
              disabled={busy || code.length !== 6}
              title={code.length !== 6 ? 'Enter a code below first' : undefined}
              onClick={() => run(api.del(`/api/address_book/${encodeURIComponent(entry.address)}`, { mfa_code: code }), `Removed ${addressWithLabel(entry.address, labels)}.`)}
            >
              Remove
            </button>
          </li>
        ))}
      </ul>
      <form className="form" onSubmit={save}>
        <div className="field">
          <label htmlFor="book-address">Address</label>
          <input id="book-address" data-testid="address-book-address" className="mono" value={address} onChange={(e) => setAddress(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="book-label">Label</label>
          <input id="book-label" data-testid="address-book-label" maxLength={MAX_LABEL_LENGTH} value={label} onChange={(e) => setLabel(e.target.value)} />
        </div>
        <CodeInput id="book-code" value={code} onChange={setCode} testId="address-book-code" />
        <ErrorBox message={error} testId="address-book-error" />
        <SuccessBox message={done} testId="address-book-done" />
        <button type="submit" className="button" data-testid="address-book-save" disabled={busy || code.length !== 6}>
          Save label
        </button>
      </form>
    </div>
  );
}
