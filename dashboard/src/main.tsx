import { type ReactElement, StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { type Cluster, onUnauthorized, token } from './api';
import { ErrorBox, Loading, useApi } from './components';
import { LiveProvider, useLive } from './live';
import { Link, match, navigate, useLocation } from './router';
import { LoginPage } from './pages/Login';
import { OverviewPage } from './pages/Overview';
import { TopologyPage } from './pages/Topology';
import { VmsPage } from './pages/Vms';
import { VmPage } from './pages/Vm';
import { NodesPage } from './pages/Nodes';
import { NodePage } from './pages/Node';
import { RouterPage } from './pages/Router';
import { EventsPage } from './pages/Events';
import { AuditPageView } from './pages/Audit';
import './styles.css';

const CLUSTER_ROUTES: [string, (p: Record<string, string>) => ReactElement][] = [
  ['/clusters/:id', (p) => <OverviewPage clusterId={p.id} />],
  ['/clusters/:id/topology', (p) => <TopologyPage clusterId={p.id} />],
  ['/clusters/:id/vms', (p) => <VmsPage clusterId={p.id} />],
  ['/clusters/:id/vms/:vmId', (p) => <VmPage clusterId={p.id} vmId={p.vmId} />],
  ['/clusters/:id/nodes', (p) => <NodesPage clusterId={p.id} />],
  ['/clusters/:id/nodes/:nodeId', (p) => <NodePage clusterId={p.id} nodeId={p.nodeId} />],
  ['/clusters/:id/router', (p) => <RouterPage clusterId={p.id} />],
  ['/clusters/:id/events', (p) => <EventsPage clusterId={p.id} />],
  ['/clusters/:id/audit', (p) => <AuditPageView clusterId={p.id} />],
];
const NAV = [
  ['', 'Overview'],
  ['/topology', 'Topology'],
  ['/vms', 'VMs'],
  ['/nodes', 'Nodes'],
  ['/router', 'Router config'],
  ['/events', 'Events'],
  ['/audit', 'Audit'],
] as const;

function App() {
  const { path } = useLocation();
  const [authed, setAuthed] = useState(() => !!token.get());
  useEffect(
    () =>
      onUnauthorized(() => {
        token.clear();
        setAuthed(false);
        navigate(`/login?next=${encodeURIComponent(location.pathname)}&expired=1`);
      }),
    [],
  );
  if (path === '/login') return <LoginPage onLogin={() => setAuthed(true)} />;
  return (
    <LiveProvider enabled>
      <Shell path={path} authed={authed} onLogout={() => setAuthed(false)} />
    </LiveProvider>
  );
}

function Shell({ path, authed, onLogout }: { path: string; authed: boolean; onLogout: () => void }) {
  const clusters = useApi<Cluster[]>('/clusters', { live: false });
  const clusterId = path.match(/^\/clusters\/([^/]+)/)?.[1];
  const cluster = clusters.data?.find((c) => c.id === clusterId);
  let page: ReactElement | null = null;
  for (const [pattern, render] of CLUSTER_ROUTES) {
    const m = match(pattern, path);
    if (m) page = render(m);
  }
  if (path === '/' || path === '') page = <ClusterPicker clusters={clusters.data} error={clusters.error} />;
  return (
    <div className="app">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand" aria-label="IP Fabric home">
          <span className="brand-mark" aria-hidden="true" />
          IP Fabric
        </Link>
        {clusters.data && clusters.data.length > 0 && (
          <label className="cluster-select">
            <span className="sr-only">Cluster</span>
            <select value={clusterId ?? ''} onChange={(e) => navigate(`/clusters/${e.target.value}`)} data-testid="cluster-select">
              {!clusterId && <option value="">Choose a cluster…</option>}
              {clusters.data.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name}
                </option>
              ))}
            </select>
          </label>
        )}
        <FeedStatus />
        <div className="spacer" />
        {authed ? (
          <button
            className="btn ghost"
            onClick={() => {
              token.clear();
              onLogout();
              navigate('/login');
            }}
            data-testid="logout"
          >
            Sign out
          </button>
        ) : (
          <Link className="btn ghost" to="/login">
            Sign in
          </Link>
        )}
      </header>
      {clusterId && (
        <nav className="tabs" aria-label="Cluster">
          {NAV.map(([suffix, label]) => {
            const to = `/clusters/${clusterId}${suffix}`;
            const current = suffix === '' ? path === to : path.startsWith(to);
            return (
              <Link
                key={label}
                to={to}
                aria-current={current ? 'page' : undefined}
                className={current ? 'active' : ''}
                data-testid={`nav-${label.toLowerCase().replace(/\s+/g, '-')}`}
              >
                {label}
              </Link>
            );
          })}
        </nav>
      )}
      <main id="main" tabIndex={-1}>
        {cluster && (
          <p className="crumb">
            Cluster <strong>{cluster.name}</strong> · fabric AS{cluster.fabricAsn} · core AS{cluster.coreAsn}
          </p>
        )}
        {cluster?.warning && (
          // A direct (RR-less) cluster: on every page of the cluster, never dismissable.
          <p className="topology-warning" role="alert" data-testid="cluster-warning">
            <strong>Direct topology:</strong> {cluster.warning}
          </p>
        )}
        {page ?? (
          <div className="card">
            <h1>Not found</h1>
            <p>
              Nothing lives at <code>{path}</code>. <Link to="/">Back to the clusters</Link>.
            </p>
          </div>
        )}
      </main>
    </div>
  );
}

function ClusterPicker({ clusters, error }: { clusters?: Cluster[]; error?: Error }) {
  useEffect(() => {
    if (clusters?.length === 1) navigate(`/clusters/${clusters[0].id}`, true);
  }, [clusters]);
  if (error) return <ErrorBox error={error} title="Cannot list clusters" />;
  if (!clusters) return <Loading what="Loading clusters" />;
  return (
    <div className="card">
      <h1>Clusters</h1>
      {clusters.length === 0 ? (
        <p className="muted">
          No cluster yet. Create one with <code>POST /api/v1/clusters</code> (or <code>npm start</code> registers the lab).
        </p>
      ) : (
        <ul className="plain-list" data-testid="cluster-list">
          {clusters.map((c) => (
            <li key={c.id}>
              <Link to={`/clusters/${c.id}`}>{c.name}</Link>{' '}
              <span className="muted">
                · {c.topology === 'direct' ? 'no route reflector' : `${c.routeReflectors.length} route reflectors`} · core {c.coreRouter.name} (
                {c.coreRouter.vendor})
              </span>
              {c.warning && <strong className="topology-warning-inline"> DIRECT, LAB ONLY</strong>}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function FeedStatus() {
  const { mode } = useLive();
  const text = mode === 'live' ? 'Live' : mode === 'polling' ? 'Polling' : 'Connecting';
  const title =
    mode === 'live'
      ? 'Receiving events from /api/v1/events'
      : mode === 'polling'
        ? 'The event feed is not available: refreshing every few seconds'
        : 'Connecting to the event feed';
  return (
    <span className={`feed feed-${mode}`} title={title} data-testid="feed-status" data-mode={mode} role="status">
      <span className="dot" aria-hidden="true" />
      {text}
    </span>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
