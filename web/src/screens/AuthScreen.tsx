import { useState, type FormEvent } from 'react';
import { api, setAccessToken } from '../lib/api';
import { errorMessage } from '../lib/messages';
import { ErrorBox, PageTitle } from '../ui';

interface LoginAnswer {
  access_token?: string;
  token_type?: string;
  expires_in?: number;
}

/** Logs in; the token stays in memory (api.ts), the backend also sets the session cookie. */
async function logIn(username: string, password: string): Promise<void> {
  const answer = await api.post<LoginAnswer>('/api/login', { username, password }, { anonymous: true });
  if (!answer || typeof answer.access_token !== 'string') throw new Error('login answer without a token');
  setAccessToken(answer.access_token);
}

export function LoginScreen({ onLoggedIn }: { onLoggedIn(username: string): void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    logIn(username.trim(), password)
      .then(() => onLoggedIn(username.trim()))
      .catch((e: unknown) => {
        setError(errorMessage(e));
        setBusy(false);
      });
  };

  return (
    <section className="auth card">
      <PageTitle>Log in</PageTitle>
      <form onSubmit={submit} className="form" aria-describedby="login-error">
        <div className="field">
          <label htmlFor="login-username">Username</label>
          <input
            id="login-username"
            data-testid="login-username"
            autoComplete="username"
            autoCapitalize="none"
            spellCheck={false}
            required
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="login-password">Password</label>
          <input
            id="login-password"
            data-testid="login-password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </div>
        <div id="login-error">
          <ErrorBox message={error} testId="auth-error" />
        </div>
        <button type="submit" className="button" data-testid="login-submit" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
      <p>
        New here?{' '}
        <a href="#/register" data-testid="link-register">
          Create an account
        </a>
      </p>
    </section>
  );
}

export function RegisterScreen({ onRegistered }: { onRegistered(username: string): void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const name = username.trim().toLowerCase();
    setBusy(true);
    setError(null);
    api
      .post('/api/register', { username: name, password }, { anonymous: true })
      .then(() => logIn(name, password))
      .then(() => onRegistered(name))
      .catch((e: unknown) => {
        setError(errorMessage(e));
        setBusy(false);
      });
  };

  return (
    <section className="auth card">
      <PageTitle>Create an account</PageTitle>
      <form onSubmit={submit} className="form">
        <div className="field">
          <label htmlFor="register-username">Username</label>
          <input
            id="register-username"
            data-testid="register-username"
            autoComplete="username"
            autoCapitalize="none"
            spellCheck={false}
            required
            minLength={3}
            maxLength={64}
            pattern="[A-Za-z0-9._\-]{3,64}"
            aria-describedby="register-username-hint"
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
          <span id="register-username-hint" className="hint">
            3–64 characters: letters, digits, dot, underscore, hyphen.
          </span>
        </div>
        <div className="field">
          <label htmlFor="register-password">Password</label>
          <input
            id="register-password"
            data-testid="register-password"
            type="password"
            autoComplete="new-password"
            required
            minLength={8}
            maxLength={128}
            aria-describedby="register-password-hint"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
          <span id="register-password-hint" className="hint">
            At least 8 characters. A long passphrase is best.
          </span>
        </div>
        <ErrorBox message={error} testId="auth-error" />
        <button type="submit" className="button" data-testid="register-submit" disabled={busy}>
          {busy ? 'Creating…' : 'Create account'}
        </button>
      </form>
      <p>
        Already registered?{' '}
        <a href="#/login" data-testid="link-login">
          Log in
        </a>
      </p>
    </section>
  );
}
