/** Views used on several pages: the topology picture, pool utilization, generations/drift, the event log. */
import { Fragment } from 'react';
import { type FabricEvent, type Network, type Target, type Topology, type TopologySession } from './api';
import { ago, Badge, fmtTime, toneOf } from './components';
import { describeEvent, shortId } from './live';
import { Link, navigate } from './router';

const STATE_COLOR: Record<string, string> = { ok: '#16a34a', warn: '#d97706', bad: '#dc2626', muted: '#94a3b8', info: '#2563eb' };

/** core on top, route reflectors in the middle, nodes at the bottom; one line per BGP session coloured by state. */
export function TopologyView({ topo, clusterId, highlight }: { topo: Topology; clusterId: string; highlight?: string }) {
  const W = 960;
  const rowY = { core: 60, rr: 200, node: 350 };
  const spread = (n: number, i: number) => (W / (n + 1)) * (i + 1);
  const pos = new Map<string, { x: number; y: number }>();
  pos.set(topo.core.id, { x: W / 2, y: rowY.core });
  topo.routeReflectors.forEach((r, i) => pos.set(r.id, { x: spread(topo.routeReflectors.length, i), y: rowY.rr }));
  topo.nodes.forEach((n, i) => pos.set(n.id, { x: spread(topo.nodes.length, i), y: rowY.node }));
  const established = topo.sessions.filter((s) => s.state === 'Established').length;
  const label = `Fabric topology: core ${topo.core.name}, ${topo.routeReflectors.length} route reflectors, ${topo.nodes.length} nodes; ${established} of ${topo.sessions.length} BGP sessions established.`;
  const nodeBox = (id: string, kind: string, name: string, sub: string, status?: string, href?: string) => {
    const p = pos.get(id)!;
    const w = 196;
    const h = 52;
    const g = (
      <g className={`topo-node kind-${kind} ${highlight === id ? 'hl' : ''}`} data-testid={`topo-${kind}-${name}`}>
        <rect x={p.x - w / 2} y={p.y - h / 2} width={w} height={h} rx={10} />
        <text x={p.x} y={p.y - 4} textAnchor="middle" className="topo-name">
          {name}
        </text>
        <text x={p.x} y={p.y + 14} textAnchor="middle" className="topo-sub">
          {sub}
        </text>
        {status && status !== 'active' && (
          <text x={p.x + w / 2 - 6} y={p.y - h / 2 + 14} textAnchor="end" className="topo-flag">
            {status}
          </text>
        )}
      </g>
    );
    return href ? (
      <a
        key={id}
        href={href}
        onClick={(e) => {
          e.preventDefault();
          navigate(href);
        }}
        aria-label={`${kind} ${name}`}
      >
        <title>{`${kind} ${name} — ${sub}`}</title>
        {g}
      </a>
    ) : (
      <g key={id}>
        <title>{`${kind} ${name} — ${sub}`}</title>
        {g}
      </g>
    );
  };
  const line = (s: TopologySession) => {
    const a = pos.get(s.a.id);
    const b = pos.get(s.b.id);
    if (!a || !b) return null;
    const tone = toneOf(s.state);
    const key = `${s.a.id}|${s.b.id}`;
    return (
      <g key={key} data-testid={`session-${s.a.name}-${s.b.name}`} data-state={s.state} data-bfd={s.bfd?.state ?? undefined}>
        <title>{`${s.a.name} ↔ ${s.b.name}: ${s.state}${s.sides.map((x) => `\n${x.kind} ${x.protocol}: ${x.state}${x.info ? ` (${x.info})` : ''}`).join('')}${bfdTitle(s)}`}</title>
        <line
          x1={a.x}
          y1={a.y + 26}
          x2={b.x}
          y2={b.y - 26}
          stroke={STATE_COLOR[tone]}
          strokeWidth={tone === 'ok' ? 2.5 : 3}
          strokeDasharray={tone === 'ok' ? undefined : tone === 'muted' ? '3 5' : '8 5'}
          strokeLinecap="round"
        />
        {s.bfd?.state && (
          // BFD on this link: a dot at its middle, coloured by the BFD state.
          <circle
            cx={(a.x + b.x) / 2}
            cy={(a.y + 26 + b.y - 26) / 2}
            r={5}
            fill={STATE_COLOR[toneOf(s.bfd.state)]}
            data-testid={`bfd-${s.a.name}-${s.b.name}`}
          />
        )}
      </g>
    );
  };
  return (
    <figure className="topology">
      <svg viewBox={`0 0 ${W} 400`} role="img" aria-label={label} data-testid="topology-svg">
        <text x={12} y={rowY.core + 5} className="topo-row">
          core
        </text>
        <text x={12} y={rowY.rr + 5} className="topo-row">
          route reflectors
        </text>
        <text x={12} y={rowY.node + 5} className="topo-row">
          nodes
        </text>
        {topo.sessions.map(line)}
        {nodeBox(
          topo.core.id,
          'core',
          topo.core.name,
          `${topo.core.ip} · AS${topo.core.asn} · ${topo.core.vendor}`,
          undefined,
          `/clusters/${clusterId}/router`,
        )}
        {topo.routeReflectors.map((r) => nodeBox(r.id, 'rr', r.name, `${r.ip} · AS${r.asn}`))}
        {topo.nodes.map((n) => nodeBox(n.id, 'node', n.name, n.underlayIp, n.status, `/clusters/${clusterId}/nodes/${n.id}`))}
      </svg>
      <figcaption className="legend">
        {['Established', 'Down', 'Unknown'].map((s) => (
          <span key={s} className="legend-item">
            <svg width="28" height="10" aria-hidden="true">
              <line
                x1="2"
                y1="5"
                x2="26"
                y2="5"
                stroke={STATE_COLOR[toneOf(s)]}
                strokeWidth="3"
                strokeDasharray={toneOf(s) === 'ok' ? undefined : toneOf(s) === 'muted' ? '3 5' : '8 5'}
              />
            </svg>
            {s === 'Down' ? 'Down (reason in the table)' : s === 'Unknown' ? 'Not reported' : s}
          </span>
        ))}
        <span className="legend-item muted">
          {established}/{topo.sessions.length} sessions up
        </span>
      </figcaption>
    </figure>
  );
}

const bfdTitle = (s: TopologySession) =>
  s.bfd?.state
    ? `\nBFD: ${s.bfd.state}${s.bfd.sides.map((x) => `\n${x.kind} BFD ${x.peerIp}: ${x.state}${x.timeoutMs !== null ? ` (detect ${x.timeoutMs} ms)` : ''}`).join('')}`
    : '';

/** One link's BFD: its state and the negotiated timers each end reports, or "off". */
function BfdCell({ s }: { s: TopologySession }) {
  if (!s.bfd?.state) return <span className="muted">off</span>;
  return (
    <>
      <Badge value={s.bfd.state} testId={`bfd-state-${s.a.name}-${s.b.name}`} />
      {s.bfd.sides.map((x, i) => (
        <div key={i} className="small muted">
          {x.kind}: {x.state}
          {x.intervalMs !== null ? ` · tx ${x.intervalMs} ms` : ''}
          {x.timeoutMs !== null ? ` · detect ${x.timeoutMs} ms` : ''}
        </div>
      ))}
    </>
  );
}

/** The same sessions as a table: readable without the picture, and with both ends' view. */
export function SessionsTable({ sessions }: { sessions: TopologySession[] }) {
  return (
    <table className="table" data-testid="sessions-table">
      <caption className="sr-only">BGP sessions</caption>
      <thead>
        <tr>
          <th scope="col">Between</th>
          <th scope="col">State</th>
          <th scope="col">BFD</th>
          <th scope="col">As seen by each end</th>
        </tr>
      </thead>
      <tbody>
        {sessions.map((s) => (
          <tr key={`${s.a.id}|${s.b.id}`}>
            <td>
              {s.a.name} ↔ {s.b.name}
            </td>
            <td>
              <Badge value={s.state} />
            </td>
            <td>
              <BfdCell s={s} />
            </td>
            <td className="small">
              {s.sides.length === 0 ? (
                <span className="muted">no report yet</span>
              ) : (
                s.sides.map((x, i) => (
                  <Fragment key={i}>
                    {i > 0 && <br />}
                    <code>{x.kind}</code> {x.protocol}: {x.state}
                    {x.info ? ` — ${x.info}` : ''} <span className="muted">({ago(x.since)})</span>
                  </Fragment>
                ))
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function PoolsView({ networks }: { networks: Network[] }) {
  const rows = networks.flatMap((n) => n.pools.map((p) => ({ n, p })));
  if (!rows.length) return <p className="muted">No address pools yet.</p>;
  return (
    <table className="table" data-testid="pools-table">
      <caption className="sr-only">Address pools</caption>
      <thead>
        <tr>
          <th scope="col">Network</th>
          <th scope="col">Pool</th>
          <th scope="col">Used</th>
          <th scope="col" className="w-40">
            Utilization
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map(({ n, p }) => {
          const size = Number(p.size);
          const pct = size > 0 ? (p.used / size) * 100 : 0;
          const tone = pct >= 90 ? 'bad' : pct >= 70 ? 'warn' : 'ok';
          return (
            <tr key={p.id} data-testid={`pool-${p.start}`}>
              <td>
                <code>{n.cidr}</code> <span className="muted">IPv{n.family}</span>
              </td>
              <td>
                <code>{p.start}</code> – <code>{p.end}</code>
              </td>
              <td className="num">
                {p.used.toLocaleString()} / {fmtSize(p.size)}
              </td>
              <td>
                <div
                  className={`meter tone-${tone}`}
                  role="meter"
                  aria-valuemin={0}
                  aria-valuemax={100}
                  aria-valuenow={Math.round(pct * 10) / 10}
                  aria-label={`pool ${p.start} – ${p.end} utilization`}
                >
                  <div className="meter-fill" style={{ width: `${Math.min(100, Math.max(pct, p.used > 0 ? 1.5 : 0))}%` }} />
                </div>
                <span className="small muted">{pct < 0.1 && p.used > 0 ? '<0.1' : pct.toFixed(pct < 10 ? 1 : 0)}%</span>
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

export function TargetsTable({ targets, clusterId }: { targets: Target[]; clusterId: string }) {
  const kindLabel = { router: 'core router', rr: 'route reflector', node: 'node' } as const;
  return (
    <table className="table" data-testid="targets-table">
      <caption className="sr-only">Desired versus applied configuration generation</caption>
      <thead>
        <tr>
          <th scope="col">Target</th>
          <th scope="col" className="num">
            Desired
          </th>
          <th scope="col" className="num">
            Applied
          </th>
          <th scope="col">State</th>
          <th scope="col">Last apply</th>
        </tr>
      </thead>
      <tbody>
        {targets.map((t) => (
          <tr
            key={`${t.kind}-${t.targetId}`}
            className={t.drift ? 'row-drift' : ''}
            data-testid={`target-${t.kind}-${t.name}`}
            data-drift={t.drift ? 'true' : 'false'}
          >
            <td>
              <span className="muted small">{kindLabel[t.kind]}</span>{' '}
              {t.kind === 'node' ? (
                <Link to={`/clusters/${clusterId}/nodes/${t.targetId}`}>{t.name}</Link>
              ) : t.kind === 'router' ? (
                <Link to={`/clusters/${clusterId}/router`}>{t.name}</Link>
              ) : (
                t.name
              )}
            </td>
            <td className="num">{t.desiredGeneration}</td>
            <td className="num">{t.appliedGeneration}</td>
            <td>
              {t.renderError ? (
                <span className="badge tone-bad" title={t.renderError}>
                  render failed
                </span>
              ) : t.lastError ? (
                <span className="badge tone-bad" title={t.lastError}>
                  apply failed
                </span>
              ) : t.drift ? (
                <span className="badge tone-warn">
                  drift {t.desiredGeneration - t.appliedGeneration > 0 ? `−${t.desiredGeneration - t.appliedGeneration}` : ''}
                </span>
              ) : (
                <span className="badge tone-ok">in sync</span>
              )}
              {t.lastError && <div className="small error-text">{t.lastError}</div>}
              {t.renderError && <div className="small error-text">cannot render: {t.renderError}</div>}
            </td>
            <td className="small">
              {t.appliedAt ? (
                <>
                  {ago(t.appliedAt)} · {t.lastChanges ?? 0} changes · {t.lastDurationMs ?? 0} ms
                </>
              ) : (
                <span className="muted">never</span>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function EventLog({ events, limit, clusterId, names }: { events: FabricEvent[]; limit?: number; clusterId: string; names?: Record<string, string> }) {
  const list = limit ? events.slice(0, limit) : events;
  if (!list.length)
    return (
      <p className="muted" data-testid="event-log-empty">
        No events received yet.
      </p>
    );
  const link = (e: FabricEvent) => {
    const vmId = e.data?.vmId as string | undefined;
    if (vmId) return `/clusters/${clusterId}/vms/${vmId}`;
    const t = e.data?.target as { kind?: string; id?: string } | undefined;
    if (t?.kind === 'node' && t.id) return `/clusters/${clusterId}/nodes/${t.id}`;
    if (e.type === 'RouterConfigRendered' || t?.kind === 'router') return `/clusters/${clusterId}/router`;
    return undefined;
  };
  return (
    <ol className="event-log" data-testid="event-log" aria-live="polite" aria-relevant="additions">
      {list.map((e) => {
        const to = link(e);
        return (
          <li key={`${e.seq}-${e.id}`} className={`ev ev-${e.type}`} data-testid="event-row" data-type={e.type}>
            <time dateTime={e.occurredAt} className="ev-time">
              {fmtTime(e.occurredAt)}
            </time>
            <span className="ev-seq">#{e.seq}</span>
            <span className={`ev-type tone-${eventTone(e)}`}>{e.type}</span>
            <span className="ev-text">{to ? <Link to={to}>{describeEvent(e, names)}</Link> : describeEvent(e, names)}</span>
            <span className="ev-subject muted" title={e.subject}>
              {shortSubject(e.subject)}
            </span>
          </li>
        );
      })}
    </ol>
  );
}

const eventTone = (e: FabricEvent) =>
  /Failed|DeadLettered/.test(e.type)
    ? 'bad'
    : e.type === 'BgpSessionStateChanged' || e.type === 'BfdSessionStateChanged'
      ? toneOf(String(e.data?.state ?? ''))
      : /Applied|Completed|Allocated/.test(e.type)
        ? 'ok'
        : 'info';
const shortSubject = (s?: string) => (s ? s.split('.').map(shortId).join('.') : '');

/** IPv6 pools are astronomically large: show 2^n instead of 20 digits. */
function fmtSize(size: string): string {
  const n = BigInt(size);
  if (n < 10_000_000n) return Number(n).toLocaleString();
  const bits = n.toString(2).length - 1;
  return n === 1n << BigInt(bits) ? `2^${bits}` : `≈2^${bits}`;
}
