import { useState, type FormEvent } from 'react';
import { api, ApiError } from '../lib/api';
import { errorMessage } from '../lib/messages';
import type { MfaSetup } from '../lib/types';
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
 * factor needs the password and a code of the current one.
 */
export function SecurityScreen({ welcome }: { welcome: boolean }) {
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
        message={enabled ? 'Two-factor authentication is on. Use a fresh code from your app for every approval.' : null}
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
    </section>
  );
}
