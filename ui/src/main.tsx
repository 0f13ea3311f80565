/**
 * The Keyward web console (docs/console.md): a single-page app served at /ui by the server
 * (server/ui.ts) that talks to it only through the public API (@keyward/client). Screens: status,
 * keys, policies, approvals, audit. The token is asked once and kept in sessionStorage.
 * @module
 */
import { render } from 'preact';
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Link, Message, currentPath } from './components.js';
import { ApprovalsScreen } from './screens/approvals.js';
import { AuditScreen } from './screens/audit.js';
import { KeyDetailScreen, KeysScreen } from './screens/keys.js';
import { PoliciesScreen } from './screens/policies.js';
import { StatusScreen } from './screens/status.js';
import { client, storeToken, storedToken } from './session.js';
import type { Whoami } from './session.js';
import './style.css';

const NAV: Array<[string, string]> = [
  ['/', 'Status'],
  ['/keys', 'Keys'],
  ['/policies', 'Policies'],
  ['/approvals', 'Approvals'],
  ['/audit', 'Audit'],
];

function SignIn(props: { onSignedIn: (token: string, me: Whoami) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: JSX.TargetedSubmitEvent<HTMLFormElement>) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const me = await client(token.trim()).get('/v1/auth/whoami');
      if ('parked' in me) throw new Error('whoami was parked for approval');
      props.onSignedIn(token.trim(), me);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="signin" onSubmit={submit} aria-label="Sign in">
      <label for="token">API token</label>
      <input
        id="token"
        name="token"
        type="password"
        autocomplete="off"
        required
        placeholder="kwt_…"
        value={token}
        onInput={(e) => setToken(e.currentTarget.value)}
      />
      <button type="submit" disabled={busy}>
        Sign in
      </button>
      <Message error={error} />
    </form>
  );
}

function App() {
  const [path, setPath] = useState(currentPath());
  const [token, setToken] = useState<string | null>(storedToken());
  const [me, setMe] = useState<Whoami | null>(null);
  const [meError, setMeError] = useState<unknown>(undefined);

  useEffect(() => {
    const onPop = () => setPath(currentPath());
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);

  // A token kept from earlier in this tab: check it still works (it may have expired or been revoked).
  useEffect(() => {
    if (!token || me) return;
    client(token)
      .get('/v1/auth/whoami')
      .then(
        (w) => {
          if (!('parked' in w)) setMe(w);
        },
        (err: unknown) => setMeError(err),
      );
  }, [token, me]);

  const signOut = () => {
    storeToken(null);
    setToken(null);
    setMe(null);
    setMeError(undefined);
  };

  const section = '/' + (path.split('/')[1] ?? '');
  let screen: JSX.Element;
  const keyMatch = /^\/keys\/([^/]+)$/.exec(path);
  if (path === '/' || path === '/status') screen = <StatusScreen />;
  else if (!token) screen = <p>Sign in with an API token to see this page.</p>;
  else if (keyMatch) screen = <KeyDetailScreen name={decodeURIComponent(keyMatch[1]!)} />;
  else if (path === '/keys') screen = <KeysScreen />;
  else if (path === '/policies') screen = <PoliciesScreen />;
  else if (path === '/approvals') screen = <ApprovalsScreen me={me} />;
  else if (path === '/audit') screen = <AuditScreen />;
  else screen = <p>No such page: {path}</p>;

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <span class="brand">Keyward</span>
        <nav aria-label="Console">
          <ul>
            {NAV.map(([to, label]) => (
              <li key={to}>
                <Link to={to} aria-current={section === to || (to === '/' && path === '/status') ? 'page' : undefined}>
                  {label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          {token ? (
            <>
              <span data-testid="whoami">
                {me ? `${me.principal} (${me.roles.join(', ')})` : meError ? 'token not accepted' : '…'}
              </span>
              <button type="button" onClick={signOut}>
                Sign out
              </button>
            </>
          ) : null}
        </div>
      </header>
      {!token ? (
        <SignIn
          onSignedIn={(t, w) => {
            storeToken(t);
            setToken(t);
            setMe(w);
          }}
        />
      ) : null}
      {meError ? <Message error={meError} /> : null}
      <main id="main" tabIndex={-1} key={token ?? 'signed-out'}>
        {screen}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
