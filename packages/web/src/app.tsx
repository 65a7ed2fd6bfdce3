/**
 * The dashboard's shell: sign-in until there is a session, then the navigation, the live
 * connection indicator and the current page, all under one FleetProvider.
 */

import type { EdgefleetError } from '@edgefleet/protocol';
import { useCallback, useMemo, useState } from 'react';
import { Api } from './api.js';
import { Link } from './components/link.js';
import { ProblemNote } from './components/problem.js';
import { FleetProvider } from './fleet-provider.js';
import { useFleet } from './hooks.js';
import { DeploymentPage } from './pages/deployment.js';
import { Deployments } from './pages/deployments.js';
import { Events } from './pages/events.js';
import { NodePage } from './pages/node.js';
import { Nodes } from './pages/nodes.js';
import { Overview } from './pages/overview.js';
import { RolloutPage } from './pages/rollout.js';
import { SignIn } from './pages/sign-in.js';
import { type Route, useRoute } from './router.js';
import { clearSession, loadSession, type Session, saveSession } from './session.js';

const NAV: Array<{ label: string; to: Route; matches: ReadonlyArray<Route['page']> }> = [
  { label: 'Overview', to: { page: 'overview' }, matches: ['overview'] },
  { label: 'Nodes', to: { page: 'nodes' }, matches: ['nodes', 'node'] },
  { label: 'Deployments', to: { page: 'deployments' }, matches: ['deployments', 'deployment', 'rollout'] },
  { label: 'Events', to: { page: 'events' }, matches: ['events'] },
];

function Page(props: { route: Route }) {
  const r = props.route;
  switch (r.page) {
    case 'overview':
      return <Overview />;
    case 'nodes':
      return <Nodes key={r.selector ?? ''} selector={r.selector} />;
    case 'node':
      return <NodePage nodeRef={r.ref} />;
    case 'deployments':
      return <Deployments />;
    case 'deployment':
      return <DeploymentPage name={r.name} />;
    case 'rollout':
      return <RolloutPage name={r.name} />;
    case 'events':
      return <Events />;
    case 'not-found':
      return (
        <>
          <h1>No such page</h1>
          <p>
            Nothing lives at <code>{r.path}</code>. <Link to={{ page: 'overview' }}>Back to the overview</Link>.
          </p>
        </>
      );
  }
}

const CONNECTION_TEXT = { connecting: 'Connecting…', listing: 'Loading…', live: 'Live', reconnecting: 'Reconnecting…' } as const;

function Shell(props: { route: Route; session: Session; onSignOut: () => void }) {
  const { state } = useFleet();
  return (
    <>
      <a href="#main" className="skip">
        Skip to content
      </a>
      <header className="top">
        <Link to={{ page: 'overview' }} className="brand">
          <span aria-hidden="true">◆</span> edgefleet
        </Link>
        <nav aria-label="Main">
          <ul>
            {NAV.map((n) => (
              <li key={n.label}>
                <Link to={n.to} aria-current={n.matches.includes(props.route.page) ? 'page' : undefined}>
                  {n.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="session">
          <output className={`live live-${state.connection}`} aria-live="polite" data-testid="connection">
            <span className="dot" aria-hidden="true" />
            {CONNECTION_TEXT[state.connection]}
          </output>
          <span
            className="role"
            title={`token ${props.session.tokenId}${props.session.sites === null ? '' : `, limited to sites ${props.session.sites.join(', ')}`}`}
          >
            {props.session.role}
            {props.session.sites === null ? null : ` · ${props.session.sites.join(', ')}`}
          </span>
          <button type="button" className="link-button" onClick={props.onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      {state.connection === 'reconnecting' ? (
        <div className="banner">
          <ProblemNote error={state.problem} title="Live updates interrupted" />
        </div>
      ) : null}
      {/* biome-ignore lint/correctness/useUniqueElementIds: the skip link's fixed target; one shell per page */}
      <main id="main" tabIndex={-1}>
        <Page route={props.route} />
      </main>
    </>
  );
}

export function App() {
  const route = useRoute();
  const [session, setSession] = useState<Session | undefined>(() => loadSession());
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const api = useMemo(() => (session === undefined ? undefined : new Api(session.token)), [session]);
  const signIn = useCallback((s: Session) => {
    saveSession(s);
    setNotice(undefined);
    setSession(s);
  }, []);
  const signOut = useCallback(() => {
    clearSession();
    setSession(undefined);
  }, []);
  const unauthorized = useCallback((e: EdgefleetError) => {
    clearSession();
    setNotice(`Signed out: ${e.message}.`);
    setSession(undefined);
  }, []);
  if (session === undefined || api === undefined) return <SignIn onSignedIn={signIn} notice={notice} />;
  return (
    <FleetProvider api={api} role={session.role} onUnauthorized={unauthorized}>
      <Shell route={route} session={session} onSignOut={signOut} />
    </FleetProvider>
  );
}
