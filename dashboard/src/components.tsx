/** Shared UI pieces: data loading tied to the live feed, error display, badges, form fields. */
import { type ReactNode, useCallback, useEffect, useState } from 'react';
import { ApiError, get, request, type WriteDryRun } from './api';
import { useLive } from './live';

/** GETs `path` and refetches whenever the live feed says something changed (keeping the old data meanwhile). */
/**
 * GET `path`, again on every live-feed tick. `pollWhile`: also re-read every `pollMs` while it holds for the
 * answer — observations (routes at the core) are no read-your-writes positions, a tick can reach a read model
 * that has not applied them yet, and nothing else may follow to tick again.
 */
export function useApi<T>(path: string | null, opts: { text?: boolean; live?: boolean; pollWhile?: (data: T) => boolean; pollMs?: number } = {}) {
  const { tick } = useLive();
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean; path?: string | null }>({ loading: true });
  const [nonce, setNonce] = useState(0);
  const liveTick = opts.live === false ? 0 : tick;
  useEffect(() => {
    if (!path) return;
    const ctl = new AbortController();
    setState((s) => ({ ...s, loading: true, ...(s.path !== path ? { data: undefined, error: undefined } : {}), path }));
    // A stale answer (the read model had not caught up with the feed in time) is read again shortly.
    let again: number | undefined;
    const onStale = () => {
      again = window.setTimeout(() => setNonce((n) => n + 1), 1000);
    };
    const load = opts.text ? request<T>('GET', path, undefined, { text: true, signal: ctl.signal, onStale }) : get<T>(path, ctl.signal, onStale);
    load.then(
      (data) => {
        setState({ data, loading: false, path });
        if (again === undefined && opts.pollWhile?.(data)) again = window.setTimeout(() => setNonce((n) => n + 1), opts.pollMs ?? 2000);
      },
      (error) => {
        if ((error as Error).name !== 'AbortError')
          setState((s) => ({ data: s.path === path ? s.data : undefined, error: error as ApiError, loading: false, path }));
      },
    );
    return () => {
      ctl.abort();
      window.clearTimeout(again);
    };
  }, [path, liveTick, nonce, opts.text]);
  const reload = useCallback(() => setNonce((n) => n + 1), []);
  return { ...state, reload };
}

export function ErrorBox({ error, title = 'Request failed', testId = 'api-error' }: { error?: ApiError | Error | null; title?: string; testId?: string }) {
  if (!error) return null;
  const e = error as ApiError;
  const fields = e.fields ? Object.entries(e.fields) : [];
  return (
    <div className="error-box" role="alert" data-testid={testId}>
      <div className="error-head">
        <strong>{title}</strong>
        {e.status !== undefined && (
          <span className="error-status" data-testid="api-error-status">
            {e.status || 'offline'}
          </span>
        )}
        {e.code && <code data-testid="api-error-code">{e.code}</code>}
      </div>
      <p data-testid="api-error-message">{e.message}</p>
      {fields.length > 0 && (
        <ul className="error-fields" data-testid="api-error-fields">
          {fields.map(([f, msgs]) => (
            <li key={f}>
              <code>{f}</code>: {msgs.join('; ')}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

const TONE: Record<string, string> = {
  'at-core': 'ok',
  announced: 'info',
  applied: 'info',
  'ip-allocated': 'info',
  requested: 'muted',
  migrating: 'warn',
  failed: 'bad',
  deleted: 'muted',
  active: 'ok',
  drained: 'warn',
  evacuating: 'warn',
  left: 'muted',
  Established: 'ok',
  Active: 'warn',
  Connect: 'warn',
  OpenSent: 'warn',
  OpenConfirm: 'warn',
  Idle: 'bad',
  Down: 'bad',
  Removed: 'muted',
  Unknown: 'muted',
  // BFD states (lower-case, as the daemons say them).
  up: 'ok',
  init: 'warn',
  down: 'bad',
  admindown: 'muted',
  unknown: 'muted',
};
export const toneOf = (s: string) => TONE[s] ?? 'muted';

export function Badge({ value, testId }: { value: string; testId?: string }) {
  return (
    <span className={`badge tone-${toneOf(value)}`} data-testid={testId} data-value={value}>
      {value}
    </span>
  );
}

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p className="muted" aria-live="polite">
      {what}…
    </p>
  );
}

export function Card({
  title,
  actions,
  children,
  className,
  testId,
  id,
}: {
  title: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
  testId?: string;
  id?: string;
}) {
  const headingId = id ? `${id}-h` : undefined;
  return (
    <section className={`card ${className ?? ''}`} data-testid={testId} aria-labelledby={headingId} id={id}>
      <header className="card-head">
        <h2 id={headingId}>{title}</h2>
        {actions && <div className="card-actions">{actions}</div>}
      </header>
      {children}
    </section>
  );
}

export function Field({ label, name, error, hint, children }: { label: string; name: string; error?: string[]; hint?: string; children: ReactNode }) {
  return (
    <div className={`field ${error ? 'has-error' : ''}`}>
      <label htmlFor={`f-${name}`}>{label}</label>
      {children}
      {hint && !error && (
        <small className="hint" id={`f-${name}-hint`}>
          {hint}
        </small>
      )}
      {error && (
        <small className="field-error" id={`f-${name}-error`} data-testid={`field-error-${name}`}>
          {error.join('; ')}
        </small>
      )}
    </div>
  );
}

export const fmtTime = (iso?: string | null) => (iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }) : '—');
export const fmtDateTime = (iso?: string | null) => (iso ? new Date(iso).toLocaleString([], { dateStyle: 'medium', timeStyle: 'medium' }) : '—');
export function ago(iso?: string | null): string {
  if (!iso) return '—';
  const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** A unified diff, added and removed lines coloured, with a +/− summary. */
export function Diff({ text, testId = 'router-diff' }: { text: string; testId?: string }) {
  const lines = text.split('\n');
  const adds = lines.filter((l) => l.startsWith('+') && !l.startsWith('+++')).length;
  const dels = lines.filter((l) => l.startsWith('-') && !l.startsWith('---')).length;
  return (
    <>
      <p className="small" data-testid={`${testId}-summary`}>
        <span className="add-text">+{adds}</span> <span className="del-text">−{dels}</span> lines
      </p>
      <pre className="code diff" data-testid={testId} tabIndex={0} aria-label="Unified diff">
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

/**
 * What a write would do, asked as its dry run (`?dryRun=true`: nothing is written) while the user confirms: the
 * events it would append, the notes (e.g. where an evacuation moves each VM) and each changed config's diff.
 */
export function DryRunPreview({ method, path, body }: { method: string; path: string; body?: unknown }) {
  const [state, setState] = useState<{ answer?: WriteDryRun; error?: ApiError }>({});
  const key = JSON.stringify([method, path, body ?? null]);
  useEffect(() => {
    let live = true;
    setState({});
    request<WriteDryRun>(method, `${path}${path.includes('?') ? '&' : '?'}dryRun=true`, body ?? (method === 'DELETE' ? undefined : {})).then(
      (answer) => live && setState({ answer }),
      (e: unknown) => live && setState({ error: e instanceof ApiError ? e : new ApiError(0, 'client-error', String(e)) }),
    );
    return () => {
      live = false;
    };
    // `key` stands for method, path and body.
  }, [key]);
  if (state.error) return <ErrorBox error={state.error} title="Would be refused" testId="dry-run-error" />;
  const a = state.answer;
  if (!a) return <p className="small muted">Checking what this would change…</p>;
  return (
    <div className="dry-run" data-testid="dry-run">
      <p className="small" data-testid="dry-run-events">
        {a.events.length ? `Would record: ${a.events.map((e) => e.type).join(', ')}` : 'Nothing would change.'}
      </p>
      {a.notes?.length ? (
        <ul className="small" data-testid="dry-run-notes">
          {a.notes.map((n) => (
            <li key={n}>{n}</li>
          ))}
        </ul>
      ) : null}
      {a.targets.length ? (
        a.targets.map((t) => (
          <details key={`${t.kind}:${t.id}`} data-testid={`dry-run-target-${t.kind}-${t.name}`}>
            <summary className="small">
              {t.kind} {t.name}:{' '}
              {t.diff === null ? `no preview (${t.diffError ?? 'unknown'})` : t.secretChanged ? 'a secret changes (redacted)' : 'config changes'}
            </summary>
            {t.diff && <Diff text={t.diff} testId={`dry-run-diff-${t.kind}-${t.name}`} />}
          </details>
        ))
      ) : (
        <p className="small muted">No node, RR or core config would change.</p>
      )}
    </div>
  );
}
