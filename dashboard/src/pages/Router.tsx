import { useEffect, useState } from 'react';
import { type Cluster, type RouterConfigVersion } from '../api';
import { Card, ErrorBox, fmtDateTime, Loading, useApi } from '../components';

/** The core router's config, versioned; any version, or the diff between two. */
export function RouterPage({ clusterId }: { clusterId: string }) {
  const cluster = useApi<Cluster>(`/clusters/${clusterId}`, { live: false });
  const versions = useApi<RouterConfigVersion[]>(`/clusters/${clusterId}/router/configs`);
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
              </p>
            )}
          </form>
        )}
      </Card>
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

function Diff({ text }: { text: string }) {
  const lines = text.split('\n');
  const adds = lines.filter((l) => l.startsWith('+') && !l.startsWith('+++')).length;
  const dels = lines.filter((l) => l.startsWith('-') && !l.startsWith('---')).length;
  return (
    <>
      <p className="small" data-testid="router-diff-summary">
        <span className="add-text">+{adds}</span> <span className="del-text">−{dels}</span> lines
      </p>
      <pre className="code diff" data-testid="router-diff" tabIndex={0} aria-label="Unified diff">
        {lines.map((l, i) => {
          const cls =
            l.startsWith('+++') || l.startsWith('---')
              ? 'd-file'
              : l.startsWith('@@')
                ? 'd-hunk'
                : l.startsWith('+')
                  ? 'd-add'
                  : l.startsWith('-')
                    ? 'd-del'
                    : '';
          return (
            <span key={i} className={`d-line ${cls}`}>
              {l}
              {'\n'}
            </span>
          );
        })}
      </pre>
    </>
  );
}
