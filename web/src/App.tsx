import { useEffect, useState } from 'react';
import { api, mayHaveSessionCookie, setAccessToken, setUnauthenticatedHandler } from './lib/api';
import { LiveProvider, useLiveState } from './lib/live';
import { navigate, useRoute, type Route } from './lib/route';
import { cleanText } from './lib/sanitize';
import { AgentsScreen } from './screens/AgentsScreen';
import { LoginScreen, RegisterScreen } from './screens/AuthScreen';
import { HistoryScreen } from './screens/HistoryScreen';
import { InboxScreen } from './screens/InboxScreen';
import { LimitsScreen } from './screens/LimitsScreen';
import { SecurityScreen } from './screens/SecurityScreen';
import { WalletsScreen } from './screens/WalletsScreen';

type Session = { state: 'checking' } | { state: 'anonymous'; notice?: string } | { state: 'signed-in'; username: string | null };

const NAV: { route: Route; label: string }[] = [
  { route: 'inbox', label: 'Inbox' },
  { route: 'history', label: 'History' },
  { route: 'wallets', label: 'Wallets' },
  { route: 'limits', label: 'Limits' },
  { route: 'agents', label: 'Agents' },
  { route: 'security', label: 'Security' },
];

export function App() {
  const [session, setSession] = useState<Session>(() => (mayHaveSessionCookie() ? { state: 'checking' } : { state: 'anonymous' }));
  const [welcome, setWelcome] = useState(false);
  const route = useRoute();

  useEffect(() => {
    setUnauthenticatedHandler(() => {
      setAccessToken(null);
      setSession({ state: 'anonymous', notice: 'Your session has ended. Please log in again.' });
    });
    // After a reload the in-memory token is gone; the httpOnly session cookie may
    // still be valid. We only probe when the CSRF cookie (set alongside it) exists,
    // so a fresh visitor does not trigger a 401.
    if (mayHaveSessionCookie()) {
      api
        .get('/api/wallets')
        .then(() => setSession({ state: 'signed-in', username: null }))
        .catch(() => setSession((s) => (s.state === 'checking' ? { state: 'anonymous' } : s)));
    }
    return () => setUnauthenticatedHandler(null);
  }, []);

  const signedIn = session.state === 'signed-in';
  useEffect(() => {
    if (session.state === 'anonymous' && route !== 'login' && route !== 'register') navigate('login');
    if (signedIn && (route === null || route === 'login' || route === 'register')) navigate('inbox');
  }, [session.state, route, signedIn]);

  if (session.state === 'checking') {
    return (
      <main id="main" className="shell">
        <p className="lead" role="status">
          Loading…
        </p>
      </main>
    );
  }

  if (session.state === 'anonymous') {
    return (
      <>
        <header className="topbar">
          <span className="brand">Countersign</span>
        </header>
        <main id="main" className="shell">
          {session.notice && (
            <p className="notice" role="status" data-testid="session-notice">
              {session.notice}
            </p>
          )}
          {route === 'register' ? (
            <RegisterScreen
              onRegistered={(username) => {
                setWelcome(true);
                setSession({ state: 'signed-in', username });
                navigate('security');
              }}
            />
          ) : (
            <LoginScreen onLoggedIn={(username) => setSession({ state: 'signed-in', username })} />
          )}
        </main>
      </>
    );
  }

  /** The session is over (logged out here, or everywhere): forget the token and show the login. */
  const endSession = (notice?: string) => {
    setAccessToken(null);
    setWelcome(false);
    setSession(notice ? { state: 'anonymous', notice } : { state: 'anonymous' });
    navigate('login');
  };

  const logout = () => {
    api
      .post('/api/logout')
      .catch(() => undefined)
      .finally(() => endSession());
  };

  const screen = route ?? 'inbox';
  return (
    <LiveProvider>
      <a className="skip-link" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">Countersign</span>
        <nav aria-label="Main" className="nav">
          {NAV.map((item) => (
            <a
              key={item.route}
              href={`#/${item.route}`}
              data-testid={`nav-${item.route}`}
              aria-current={screen === item.route ? 'page' : undefined}
            >
              {item.label}
            </a>
          ))}
        </nav>
        <div className="session">
          <LiveIndicator />
          {session.username && (
            <span className="who" data-testid="who">
              {cleanText(session.username, 64)}
            </span>
          )}
          <button type="button" className="button button-secondary small-button" data-testid="logout" onClick={logout}>
            Log out
          </button>
        </div>
      </header>
      <main id="main" className="shell" tabIndex={-1}>
        {screen === 'inbox' && <InboxScreen />}
        {screen === 'history' && <HistoryScreen />}
        {screen === 'wallets' && <WalletsScreen />}
        {screen === 'limits' && <LimitsScreen />}
        {screen === 'agents' && <AgentsScreen />}
        {screen === 'security' && <SecurityScreen welcome={welcome} onSignedOutEverywhere={() => endSession('You signed out everywhere. Log in again to continue.')} />}
      </main>
    </LiveProvider>
  );
}

function LiveIndicator() {
  const state = useLiveState();
  const text = state === 'live' ? 'Live' : state === 'connecting' ? 'Connecting…' : state === 'reconnecting' ? 'Reconnecting…' : 'Offline';
  return (
    <span className={`live live-${state}`} data-testid="live-status" data-state={state} role="status" aria-live="polite">
      {text}
    </span>
  );
}
