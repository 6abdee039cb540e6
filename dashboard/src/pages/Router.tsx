import { useEffect, useState } from 'react';
import {
  type ApiError,
  type Cluster,
  request,
  type RouterConfigVersion,
  type RouterRollbackAccepted,
  type RouterRollbackPreview,
  type RouterStatus,
} from '../api';
import { Card, Diff, ErrorBox, fmtDateTime, Loading, useApi } from '../components';

/** The core router's config, versioned; any version, or the diff between two. */
export function RouterPage({ clusterId }: { clusterId: string }) {
  const cluster = useApi<Cluster>(`/clusters/${clusterId}`, { live: false });
  const versions = useApi<RouterConfigVersion[]>(`/clusters/${clusterId}/router/configs`);
  const status = useApi<RouterStatus>(`/clusters/${clusterId}/router/status`);
  const [format, setFormat] = useState<string>('');
  const [version, setVersion] = useState<string>(''); // '' = latest
  const [base, setBase] = useState<string>(''); // '' = no diff
  const fmt = format || (cluster.data?.coreRouter.vendor === 'frr' ? 'frr' : 'junos');
  const list = versions.data ?? [];
  const latest = list[0]?.version;
  const shown = version ? Number(version) : latest;
  // Keep the diff base older than the shown version.
  useEffect(() => {
    if (base && shown !== undefined && Number(base) >= shown) setBase('');
  }, [base, shown]);
  const q = new URLSearchParams({ format: fmt, ...(version ? { version } : {}), ...(base ? { diff: base } : {}) });
  const text = useApi<string>(list.length ? `/clusters/${clusterId}/router/config?${q}` : null, { text: true, live: !version });
  const meta = list.find((v) => v.version === shown);
  return (
    <>
      <h1 className="page-title">Core router config</h1>
      <p className="lede">
        Rendered for <strong>{cluster.data?.coreRouter.name ?? '…'}</strong> ({cluster.data?.coreRouter.vendor ?? '…'}, {cluster.data?.coreRouter.ip}). Junos
        output is the commit-confirmed procedure with the set commands; the lab core applies the FRR config itself.
      </p>
      <BmpLine status={status.data} />
      <ErrorBox error={versions.error} />
      <Card title="Versions">
        {!versions.data ? (
          <Loading />
        ) : list.length === 0 ? (
          <p className="muted">No config rendered yet.</p>
        ) : (
          <form className="toolbar" onSubmit={(e) => e.preventDefault()} aria-label="Choose what to show">
            <div className="field">
              <label htmlFor="rc-format">Format</label>
              <select id="rc-format" value={fmt} onChange={(e) => setFormat(e.target.value)} data-testid="router-format">
                <option value="junos">Junos (set commands)</option>
                <option value="frr">FRR</option>
              </select>
            </div>
            <div className="field">
              <label htmlFor="rc-version">Version</label>
              <select id="rc-version" value={version} onChange={(e) => setVersion(e.target.value)} data-testid="router-version">
                <option value="">latest (v{latest})</option>
                {list.map((v) => (
                  <option key={v.version} value={v.version}>
                    v{v.version} · {fmtDateTime(v.createdAt)}
                    {v.rollbackOf !== undefined ? ` · rollback to v${v.rollbackOf}` : ''}
                  </option>
                ))}
              </select>
            </div>
            <div className="field">
              <label htmlFor="rc-diff">Compare with</label>
              <select id="rc-diff" value={base} onChange={(e) => setBase(e.target.value)} data-testid="router-diff-base">
                <option value="">— no diff —</option>
                {list
                  .filter((v) => shown === undefined || v.version < shown)
                  .map((v) => (
                    <option key={v.version} value={v.version}>
                      v{v.version}
                    </option>
                  ))}
              </select>
            </div>
            {meta && (
              <p className="small muted toolbar-meta">
                v{meta.version} · hash <code>{meta.hash.slice(0, 12)}</code> · {fmtDateTime(meta.createdAt)}
                {meta.rollbackOf !== undefined && <span data-testid="router-rollback-of"> · rollback to v{meta.rollbackOf}</span>}
              </p>
            )}
          </form>
        )}
      </Card>
      {list.length > 1 && <Rollback clusterId={clusterId} versions={list} format={fmt} onDone={versions.reload} />}
      {list.length > 0 && (
        <Card title={base ? `Diff v${base} → v${shown}` : `v${shown} (${fmt})`} testId="router-config-card">
          <ErrorBox error={text.error} />
          {text.data === undefined ? (
            <Loading />
          ) : base ? (
            <Diff text={text.data} />
          ) : (
            <pre className="code" data-testid="router-config" tabIndex={0}>
              {text.data}
            </pre>
          )}
        </Card>
      )}
    </>
  );
}

/**
 * Roll back: preview the diff (dry run), then confirm. The new version appears in the list; it holds until the
 * cluster's RRs, pools or BGP settings change.
 */
function Rollback({ clusterId, versions, format, onDone }: { clusterId: string; versions: RouterConfigVersion[]; format: string; onDone?: () => void }) {
  const current = versions[0]?.version;
  const older = versions.filter((v) => v.version !== current);
  const [to, setTo] = useState<string>('');
  const [reason, setReason] = useState('');
  const [preview, setPreview] = useState<RouterRollbackPreview | null>(null);
  const [done, setDone] = useState<RouterRollbackAccepted | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const body = () => ({ toVersion: Number(to), ...(reason.trim() ? { reason: reason.trim() } : {}) });
  const send = async (dryRun: boolean) => {
    setBusy(true);
    setError(null);
    try {
      if (dryRun) {
        setDone(null);
        setPreview(await request<RouterRollbackPreview>('POST', `/clusters/${clusterId}/router/rollback?dryRun=true`, body()));
      } else {
        setDone(await request<RouterRollbackAccepted>('POST', `/clusters/${clusterId}/router/rollback`, body()));
        setPreview(null);
        onDone?.();
      }
    } catch (e) {
      setError(e as ApiError);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Card title="Roll back" testId="router-rollback-card">
      <p className="small muted">
        Publishes an earlier version&apos;s config as a new version (the FRR core applies it; Junos gets its commit-confirmed procedure). It holds until the
        cluster&apos;s route reflectors, pools or BGP settings change.
      </p>
      <form
        className="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          void send(true);
        }}
      >
        <div className="field">
          <label htmlFor="rb-to">Back to</label>
          <select
            id="rb-to"
            value={to}
            onChange={(e) => {
              setTo(e.target.value);
              setPreview(null);
            }}
            data-testid="rollback-to"
          >
            <option value="">— version —</option>
            {older.map((v) => (
              <option key={v.version} value={v.version}>
                v{v.version}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="rb-reason">Reason</label>
          <input
            id="rb-reason"
            value={reason}
            onChange={(e) => setReason(e.target.value)}
            placeholder="e.g. v5 dropped the uplinks"
            data-testid="rollback-reason"
          />
        </div>
        <button className="btn" type="submit" disabled={busy || !to} data-testid="rollback-preview">
          Preview
        </button>
      </form>
      <ErrorBox error={error} title="Rollback refused" testId="rollback-error" />
      {preview && (
        <>
          <p className="small">
            v{preview.fromVersion} → v{preview.toVersion} ({format}):
          </p>
          <Diff text={preview.diffs[format] ?? ''} testId="rollback-diff" />
          <button className="btn danger-outline" onClick={() => void send(false)} disabled={busy} data-testid="rollback-confirm">
            {busy ? 'Rolling back…' : `Roll back to v${preview.toVersion}`}
          </button>
        </>
      )}
      {done && (
        <p className="small" role="status" data-testid="rollback-done">
          v{done.toVersion} requested again: it is published as the next version.
        </p>
      )}
    </Card>
  );
}

/** The core's BMP station and, when its BMP feed and the FRR agent's read disagree past the grace period, a mark. */
function BmpLine({ status }: { status: RouterStatus | undefined }) {
  if (!status) return null;
  const st = status.bmpStation;
  const d = status.bmp.disagreements;
  return (
    <p className="small" data-testid="router-bmp">
      BMP station:{' '}
      {st ? <code>{st.address.includes(':') ? `[${st.address}]:${st.port}` : `${st.address}:${st.port}`}</code> : <span className="muted">none</span>}
      {status.routes && (
        <span className="muted" data-testid="router-bmp-routes">
          {' '}
          · VM routes at the core: {status.routes.agent} by the FRR agent, {status.routes.bmp} by BMP
        </span>
      )}
      {d.length > 0 && ' '}
      {d.length > 0 && (
        <span
          className="badge tone-warn"
          data-testid="router-bmp-disagreement"
          title={d.map((x) => `${x.prefix}: only the ${x.heldBy === 'agent' ? 'FRR agent' : 'BMP feed'} holds it since ${fmtDateTime(x.since)}`).join('\n')}
        >
          BMP and agent disagree on {d.length} prefix{d.length === 1 ? '' : 'es'} (since {fmtDateTime(d.map((x) => x.since).sort()[0])})
        </span>
      )}
    </p>
  );
}
