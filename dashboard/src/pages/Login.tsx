import { type FormEvent, useState } from 'react';
import { ApiError, request, token } from '../api';
import { ErrorBox } from '../components';
import { navigate, useLocation } from '../router';

/** Paste an API token; it is checked against the API and kept in localStorage. */
export function LoginPage({ onLogin }: { onLogin: () => void }) {
  const { search } = useLocation();
  const params = new URLSearchParams(search);
  const [value, setValue] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  // Never rejects (a refused token shows as an error): the form's handler does not await it.
  async function submit(e: FormEvent) {
    e.preventDefault();
    const t = value.trim();
    if (!t) {
      setError(new ApiError(400, 'token-required', 'Paste an API token.', { token: ['must not be empty'] }));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await request('GET', '/clusters', undefined, { token: t });
      token.set(t);
      onLogin();
      const next = params.get('next');
      navigate(next && next.startsWith('/') && !next.startsWith('//') && next !== '/login' ? next : '/', true);
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="login" id="main">
      <form className="card login-card" onSubmit={(e) => void submit(e)} aria-labelledby="login-title" data-testid="login-form">
        <div className="brand big">
          <span className="brand-mark" aria-hidden="true" />
          IP Fabric
        </div>
        <h1 id="login-title">Sign in to the operator dashboard</h1>
        {params.get('expired') && <p className="notice">Your token was refused by the API. Sign in again.</p>}
        <div className="field">
          <label htmlFor="f-token">API token</label>
          <input
            id="f-token"
            name="token"
            type="password"
            autoComplete="off"
            spellCheck={false}
            value={value}
            onChange={(e) => setValue(e.target.value)}
            placeholder="paste the token an administrator gave you"
            data-testid="token-input"
            aria-describedby="f-token-hint"
            autoFocus
          />
          <small className="hint" id="f-token-hint">
            Sent as <code>Authorization: Bearer …</code>, kept in this browser only.
          </small>
        </div>
        <ErrorBox error={error} title="Sign-in failed" />
        <button className="btn primary" type="submit" disabled={busy} data-testid="login-submit">
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
