import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { api, ApiError } from '../lib/api';
import { formatDate } from '../lib/format';
import { errorMessage } from '../lib/messages';
import { cleanText } from '../lib/sanitize';
import type { MfaSetup, SessionInfo } from '../lib/types';
import { CodeInput, ErrorBox, PageTitle, SuccessBox } from '../ui';

const ALREADY_ACTIVE =
  'Two-factor authentication is already on for this account. To move to a new app, use “Replace your authenticator” below with your password and a current code.';

/** Without a body, setup_mfa is refused only because a factor is active (it then needs password + code). */
function factorAlreadyActive(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 400 || (error.status === 403 && error.code !== 'wrong_principal'));
}

const QR_DATA_URL = /^data:image\/(png|svg\+xml|gif|jpeg|webp)[;,]/;

/**
 * MFA enrolment: start (POST /api/setup_mfa) → scan the QR or type the secret →
 * confirm with a first code (POST /api/confirm_mfa). Replacing an active
 * factor needs the password and a code of the current one. A new factor signs
 * out every other session (the backend does it; the list below shows it).
 *
 * Also: change the password (POST /api/change_password — other sessions are
 * signed out, this one stays), the list of signed-in sessions (GET
 * /api/sessions), signing one out (DELETE /api/sessions/:id) or all of them,
 * this one included (POST /api/logout_all → `onSignedOutEverywhere`).
 */
export function SecurityScreen({ welcome, onSignedOutEverywhere }: { welcome: boolean; onSignedOutEverywhere(): void }) {
  const [sessionsVersion, setSessionsVersion] = useState(0);
  const sessionsChanged = () => setSessionsVersion((v) => v + 1);
  const [setup, setSetup] = useState<MfaSetup | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [confirmCode, setConfirmCode] = useState('');
  const [enabled, setEnabled] = useState(false);
  const [replacePassword, setReplacePassword] = useState('');
  const [replaceCode, setReplaceCode] = useState('');
  const [replaceError, setReplaceError] = useState<string | null>(null);

  const start = (body: object | undefined, onError: (message: string) => void) => {
    setError(null);
    setBusy(true);
    setEnabled(false);
    api
      .post<MfaSetup>('/api/setup_mfa', body)
      .then((answer) => {
        setSetup(answer ?? {});
        setConfirmCode('');
        setReplacePassword('');
        setReplaceCode('');
      })
      .catch((e: unknown) => onError(body === undefined && factorAlreadyActive(e) ? ALREADY_ACTIVE : errorMessage(e)))
      .finally(() => setBusy(false));
  };

  const confirm = (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    api
      .post('/api/confirm_mfa', { mfa_code: confirmCode })
      .then(() => {
        setEnabled(true);
        setSetup(null);
        sessionsChanged();
      })
      .catch((e: unknown) => setError(errorMessage(e)))
      .finally(() => setBusy(false));
  };

  const secret = typeof setup?.secret === 'string' && /^[A-Z2-7=]{16,128}$/i.test(setup.secret) ? setup.secret : null;
  const qr = typeof setup?.qr_code === 'string' && QR_DATA_URL.test(setup.qr_code) ? setup.qr_code : null;
  const uri = typeof setup?.mfa_uri === 'string' && setup.mfa_uri.startsWith('otpauth://totp/') ? setup.mfa_uri : null;

  return (
    <section>
      <PageTitle>Security</PageTitle>
      {welcome && (
        <p className="notice" data-testid="welcome">
          Welcome! Before you can approve anything, set up an authenticator app (Google Authenticator, Aegis, 1Password…).
        </p>
      )}
      <SuccessBox
        message={enabled ? 'Two-factor authentication is on. Use a fresh code from your app for every approval. Your other sessions were signed out.' : null}
        testId="mfa-enabled"
      />
      {enabled && welcome && (
        <p>
          Next: <a href="#/wallets">create a wallet</a>, then <a href="#/agents">create an agent</a> and grant it the wallet.
        </p>
      )}

      {!setup && (
        <div className="card">
          <h2>Set up your authenticator</h2>
          <p>Every approval is countersigned with a 6-digit code from an authenticator app on your phone.</p>
          <ErrorBox message={error} testId="mfa-error" />
          <button
            type="button"
            className="button"
            data-testid="mfa-start"
            disabled={busy}
            onClick={() => {
              setError(null);
              start(undefined, (message) => setError(message));
            }}
          >
            Set up authenticator
          </button>
        </div>
      )}

      {setup && (
        <div className="card" data-testid="mfa-setup">
          <h2>1. Add Countersign to your app</h2>
          {qr ? (
            <img className="qr" src={qr} alt="QR code to add Countersign to your authenticator app" data-testid="mfa-qr" width={220} height={220} />
          ) : (
            <p className="notice">No QR code available — type the key below instead.</p>
          )}
          <p>Cannot scan? Enter this key manually (time-based, 6 digits, 30 seconds):</p>
          <p>
            <code className="mono secret" data-testid="mfa-secret">
              {secret ?? '—'}
            </code>
          </p>
          {uri && (
            <p>
              <a href={uri} data-testid="mfa-open-app">
                Open in an authenticator app on this device
              </a>
            </p>
          )}
          <h2>2. Enter the code it shows</h2>
          <form className="form" onSubmit={confirm}>
            <CodeInput id="mfa-confirm-code" testId="mfa-confirm-code" value={confirmCode} onChange={setConfirmCode} />
            <ErrorBox message={error} testId="mfa-error" />
            <div className="actions">
              <button type="submit" className="button" data-testid="mfa-confirm-submit" disabled={busy || confirmCode.length !== 6}>
                Confirm
              </button>
              <button type="button" className="button button-secondary" data-testid="mfa-cancel" onClick={() => setSetup(null)}>
                Cancel
              </button>
            </div>
          </form>
        </div>
      )}

      <div className="card">
        <h2>Replace your authenticator</h2>
        <p>Lost or changing phones? Prove it is you with your password and a code from the current app.</p>
        <form
          className="form"
          onSubmit={(event) => {
            event.preventDefault();
            setReplaceError(null);
            start({ password: replacePassword, mfa_code: replaceCode }, setReplaceError);
          }}
        >
          <div className="field">
            <label htmlFor="mfa-replace-password">Password</label>
            <input
              id="mfa-replace-password"
              data-testid="mfa-replace-password"
              type="password"
              autoComplete="current-password"
              required
              value={replacePassword}
              onChange={(e) => setReplacePassword(e.target.value)}
            />
          </div>
          <CodeInput
            id="mfa-replace-code"
            testId="mfa-replace-code"
            label="Code from your current app"
            value={replaceCode}
            onChange={setReplaceCode}
          />
          <ErrorBox message={replaceError} testId="mfa-replace-error" />
          <button type="submit" className="button button-secondary" data-testid="mfa-replace-submit" disabled={busy}>
            Replace authenticator
          </button>
        </form>
      </div>

      <ChangePasswordCard onChanged={sessionsChanged} />
      <SessionsCard version={sessionsVersion} onSignedOutEverywhere={onSignedOutEverywhere} />
    </section>
  );
}

/** The new password is refused (common, the username): the server says which; anything else reads as usual. */
function passwordErrorMessage(error: unknown): string {
  if (error instanceof ApiError && error.code === 'password_invalid' && error.message !== 'the password is not correct') {
    return `Choose another new password: ${cleanText(error.message, 120)}.`;
  }
  if (error instanceof ApiError && error.code === 'password_invalid') return 'Your current password is not correct.';
  return errorMessage(error);
}

function ChangePasswordCard({ onChanged }: { onChanged(): void }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [repeat, setRepeat] = useState('');
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setDone(false);
    if (next !== repeat) {
      setError('The two new passwords differ.');
      return;
    }
    setBusy(true);
    setError(null);
    api
      .post('/api/change_password', { current_password: current, new_password: next, mfa_code: code })
      .then(() => {
        setDone(true);
        setCurrent('');
        setNext('');
        setRepeat('');
        setCode('');
        onChanged();
      })
      .catch((e: unknown) => setError(passwordErrorMessage(e)))
      .finally(() => setBusy(false));
  };

  return (
    <div className="card" data-testid="password-card">
      <h2>Change your password</h2>
      <p>Every other session is signed out; this one stays.</p>
      <form className="form" onSubmit={submit}>
        <div className="field">
          <label htmlFor="password-current">Current password</label>
          <input id="password-current" data-testid="password-current" type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="password-new">New password</label>
          <input id="password-new" data-testid="password-new" type="password" autoComplete="new-password" required minLength={8} maxLength={128} value={next} onChange={(e) => setNext(e.target.value)} aria-describedby="password-new-hint" />
          <span id="password-new-hint" className="hint">
            8 to 128 characters; common passwords are refused.
          </span>
        </div>
        <div className="field">
          <label htmlFor="password-repeat">New password again</label>
          <input id="password-repeat" data-testid="password-repeat" type="password" autoComplete="new-password" required value={repeat} onChange={(e) => setRepeat(e.target.value)} />
        </div>
        <CodeInput id="password-code" testId="password-code" value={code} onChange={setCode} />
        <ErrorBox message={error} testId="password-error" />
        <SuccessBox message={done ? 'Password changed. Your other sessions were signed out.' : null} testId="password-changed" />
        <button type="submit" className="button" data-testid="password-submit" disabled={busy || code.length !== 6}>
          Change password
        </button>
      </form>
    </div>
  );
}

function SessionsCard({ version, onSignedOutEverywhere }: { version: number; onSignedOutEverywhere(): void }) {
  const [sessions, setSessions] = useState<SessionInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirmAll, setConfirmAll] = useState(false);

  const load = useCallback(() => {
    api
      .get<{ sessions?: SessionInfo[] }>('/api/sessions')
      .then((answer) => {
        setSessions((answer?.sessions ?? []).filter((s) => s && typeof s.id === 'string'));
        setError(null);
      })
      .catch((e: unknown) => setError(errorMessage(e)));
  }, []);
  useEffect(load, [load, version]);

  const signOut = (id: string) => {
    setBusy(true);
    setError(null);
    api
      .del(`/api/sessions/${encodeURIComponent(id)}`)
      .then(load)
      .catch((e: unknown) => setError(errorMessage(e)))
      .finally(() => setBusy(false));
  };

  const signOutEverywhere = () => {
    setBusy(true);
    api
      .post('/api/logout_all')
      .then(onSignedOutEverywhere)
      .catch((e: unknown) => {
        setError(errorMessage(e));
        setBusy(false);
      });
  };

  return (
    <div className="card" data-testid="sessions-card">
      <h2>Signed-in sessions</h2>
      <p>Every browser or program signed in to your account. Sign out any you do not recognise, then change your password.</p>
      <ErrorBox message={error} testId="sessions-error" />
      {sessions === null && !error && <p className="hint">Loading…</p>}
      <ul className="sessions">
        {(sessions ?? []).map((s) => (
          <li key={s.id} className="session-row" data-testid="session-row" data-current={s.current ? 'true' : 'false'}>
            <div className="history-head">
              <strong className="session-agent">{cleanText(s.user_agent, 120) || 'Unknown client'}</strong>
              {s.current && <span className="badge status-confirmed">This session</span>}
            </div>
            <dl className="facts facts-compact small">
              <dt>Signed in</dt>
              <dd>{formatDate(s.created_at)}</dd>
              <dt>Last active</dt>
              <dd>{s.last_seen_at ? formatDate(s.last_seen_at) : '—'}</dd>
              <dt>From</dt>
              <dd className="mono">{cleanText(s.ip, 64) || '—'}</dd>
            </dl>
            {!s.current && (
              <button type="button" className="button button-danger-outline small-button" data-testid="session-sign-out" disabled={busy} onClick={() => signOut(s.id)}>
                Sign out
              </button>
            )}
          </li>
        ))}
      </ul>
      {!confirmAll ? (
        <button type="button" className="button button-danger-outline" data-testid="sessions-sign-out-all" disabled={busy} onClick={() => setConfirmAll(true)}>
          Sign out everywhere
        </button>
      ) : (
        <div className="actions">
          <p className="notice notice-warn">This signs out every session, this one too. You will need to log in again.</p>
          <button type="button" className="button button-danger" data-testid="sessions-sign-out-all-confirm" disabled={busy} onClick={signOutEverywhere}>
            Sign out everywhere
          </button>
          <button type="button" className="button button-secondary" data-testid="sessions-sign-out-all-cancel" disabled={busy} onClick={() => setConfirmAll(false)}>
            Cancel
          </button>
        </div>
      )}
    </div>
  );
}
