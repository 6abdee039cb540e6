import { useEffect, useState } from 'react';
import { type ApiError, type AuditEntry, type AuditPage, get } from '../api';
import { Card, ErrorBox, fmtDateTime, Loading, useApi } from '../components';

/** `datetime-local` value (local time) → ISO 8601 with zone, as GET /audit requires. */
const toIso = (local: string) => (local ? new Date(local).toISOString() : '');

const summary = (e: AuditEntry) =>
  Object.entries(e.detail)
    .filter(([k]) => !['clusterId'].includes(k))
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');

/** Who did what: GET /api/v1/audit for this cluster, newest first, filtered by actor and time, paged by cursor. */
export function AuditPageView({ clusterId }: { clusterId: string }) {
  const [actor, setActor] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [applied, setApplied] = useState({ actor: '', from: '', to: '' });
  const params = new URLSearchParams({ clusterId, limit: '50' });
  if (applied.actor) params.set('actor', applied.actor);
  if (applied.from) params.set('from', toIso(applied.from));
  if (applied.to) params.set('to', toIso(applied.to));
  const first = useApi<AuditPage>(`/audit?${params}`);
  const [older, setOlder] = useState<{ items: AuditEntry[]; next: string | null } | null>(null);
  const [olderError, setOlderError] = useState<ApiError | undefined>();
  useEffect(() => setOlder(null), [first.data]);
  const items = [...(first.data?.items ?? []), ...(older?.items ?? [])];
  const next = older ? older.next : (first.data?.next ?? null);
  const loadOlder = async () => {
    if (!next) return;
    try {
      const p = new URLSearchParams(params);
      p.set('cursor', next);
      const page = await get<AuditPage>(`/audit?${p}`);
      setOlder({ items: [...(older?.items ?? []), ...page.items], next: page.next });
    } catch (e) {
      setOlderError(e as ApiError);
    }
  };
  return (
    <>
      <h1 className="page-title">Audit</h1>
      <p className="lede">Who did what: every event a command caused, with the token (or service) that sent it. Newest first.</p>
      <Card
        title={`Entries${first.data ? ` (${items.length}${next ? '+' : ''})` : ''}`}
        actions={
          <form
            className="filters"
            onSubmit={(e) => {
              e.preventDefault();
              setApplied({ actor: actor.trim(), from, to });
            }}
          >
            <label htmlFor="audit-actor">Actor</label>
            <input id="audit-actor" placeholder="token name or actor" value={actor} onChange={(e) => setActor(e.target.value)} data-testid="audit-actor" />
            <label htmlFor="audit-from">From</label>
            <input id="audit-from" type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
            <label htmlFor="audit-to">To</label>
            <input id="audit-to" type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} />
            <button className="btn" type="submit" data-testid="audit-apply">
              Filter
            </button>
          </form>
        }
      >
        <ErrorBox error={first.error ?? olderError} />
        {!first.data ? (
          <Loading />
        ) : items.length === 0 ? (
          <p className="muted">No entry matches.</p>
        ) : (
          <table className="table" data-testid="audit-table">
            <caption className="sr-only">Audit log</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Actor</th>
                <th scope="col">Command</th>
                <th scope="col">Event</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {items.map((e) => (
                <tr key={`${e.seq}.${e.index}`} data-testid={`audit-row-${e.event}`}>
                  <td className="small">{fmtDateTime(e.at)}</td>
                  <td>
                    <code>{e.actor}</code>
                  </td>
                  <td>{e.command ?? '—'}</td>
                  <td>{e.event}</td>
                  <td className="small muted">{summary(e).slice(0, 200)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {next && (
          <button className="btn ghost" onClick={() => void loadOlder()} data-testid="audit-older">
            Older entries
          </button>
        )}
      </Card>
    </>
  );
}
