/**
 * Sign-in with an operator API token (`efa_…`). The token is checked with `GET /v1/whoami`,
 * which also says the role; it is kept in session storage for this tab only.
 */

import type { EdgefleetError } from '@edgefleet/protocol';
import { type FormEvent, useId, useState } from 'react';
import { Api } from '../api.js';
import { ProblemNote } from '../components/problem.js';
import { useTitle } from '../hooks.js';
import type { Session } from '../session.js';

export function SignIn(props: { onSignedIn: (s: Session) => void; notice?: string | undefined }) {
  useTitle('Sign in');
  const [token, setToken] = useState('');
  const titleId = useId();
  const tokenId = useId();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<EdgefleetError | undefined>(undefined);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const t = token.trim();
    if (t === '') return;
    setBusy(true);
    setError(undefined);
    try {
      const who = await new Api(t).whoami();
      props.onSignedIn({ token: t, role: who.role, tokenId: who.tokenId, sites: who.sites });
    } catch (err) {
      setError(err as EdgefleetError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="sign-in">
      <form onSubmit={submit} className="card" aria-labelledby={titleId}>
        <h1 id={titleId}>
          <span className="logo" aria-hidden="true">
            ◆
          </span>{' '}
          edgefleet
        </h1>
        <p className="muted">Sign in with an API token. The first admin token is in the server's data dir (admin.token); create more with</p>
        <pre>edgefleet apitoken create --role viewer</pre>
        {props.notice ? <p className="notice">{props.notice}</p> : null}
        <label htmlFor={tokenId}>API token</label>
        <input
          id={tokenId}
          name="token"
          type="password"
          autoComplete="current-password"
          spellCheck={false}
          placeholder="efa_…"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          required
        />
        <ProblemNote error={error} title="Cannot sign in" />
        <button type="submit" className="primary" disabled={busy || token.trim() === ''}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
        <p className="muted small">The token stays in this browser tab (session storage) and is sent only to this server.</p>
      </form>
    </main>
  );
}
