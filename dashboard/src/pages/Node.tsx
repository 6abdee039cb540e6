import { type BfdSession, type NodeStatus, type Vm } from '../api';
import { ago, Badge, Card, ErrorBox, fmtDateTime, Loading, useApi } from '../components';
import { DrainNodeButton } from '../forms';
import { Link } from '../router';

/** The BFD session toward a BGP peer: its state and detection time, or "off" when the node runs none. */
function BfdBadge({ b }: { b?: BfdSession }) {
  if (!b) return <span className="small muted">off</span>;
  return (
    <span data-testid={`node-bfd-${b.peerIp}`} data-state={b.state}>
      <Badge value={b.state} />
      {b.timeoutMs !== null && <div className="small muted">detect {b.timeoutMs} ms</div>}
    </span>
  );
}

export function NodePage({ clusterId, nodeId }: { clusterId: string; nodeId: string }) {
  const st = useApi<NodeStatus>(`/nodes/${nodeId}/status`);
  const vms = useApi<Vm[]>(`/vms?nodeId=${nodeId}`);
  if (st.error && !st.data) return <ErrorBox error={st.error} title="Cannot load the node" />;
  if (!st.data) return <Loading />;
  const n = st.data;
  const up = n.bgpSessions.filter((s) => s.state === 'Established').length;
  const live = (vms.data ?? []).filter((v) => v.status !== 'deleted');
  return (
    <>
      <h1 className="page-title">
        Node <span data-testid="node-name">{n.name}</span> <Badge value={n.status} testId="node-status" />
      </h1>
      <dl className="facts">
        <div>
          <dt>Underlay</dt>
          <dd>
            <code>{n.underlayIp}</code>
            {n.underlayIp6 && (
              <>
                {' '}
                · <code>{n.underlayIp6}</code>
              </>
            )}
          </dd>
        </div>
        <div>
          <dt>Desired generation</dt>
          <dd data-testid="node-desired">{n.desiredGeneration}</dd>
        </div>
        <div>
          <dt>Applied generation</dt>
          <dd data-testid="node-applied">{n.appliedGeneration}</dd>
        </div>
        <div>
          <dt>Config</dt>
          <dd>
            {n.drift ? (
              <span className="badge tone-warn" data-testid="node-drift">
                drift
              </span>
            ) : (
              <span className="badge tone-ok" data-testid="node-drift">
                in sync
              </span>
            )}
          </dd>
        </div>
        <div>
          <dt>Last apply</dt>
          <dd>
            {n.lastApply ? (
              <>
                {ago(n.lastApply.at)} · {n.lastApply.changes ?? 0} changes · {n.lastApply.durationMs ?? 0} ms
              </>
            ) : (
              'never'
            )}
          </dd>
        </div>
        <div>
          <dt>Joined</dt>
          <dd>{fmtDateTime(n.joinedAt)}</dd>
        </div>
      </dl>
      {n.lastError && <ErrorBox error={new Error(n.lastError)} title="Last apply failed" testId="node-last-error" />}
      <div className="grid-2">
        <Card title={`BGP sessions (${up}/${n.bgpSessions.length} established)`} testId="node-sessions-card">
          {n.bgpSessions.length === 0 ? (
            <p className="muted">The agent has not reported any session yet.</p>
          ) : (
            <table className="table" data-testid="node-sessions">
              <caption className="sr-only">BGP sessions of this node</caption>
              <thead>
                <tr>
                  <th scope="col">Protocol</th>
                  <th scope="col">Peer</th>
                  <th scope="col">State</th>
                  <th scope="col">BFD</th>
                  <th scope="col">Since</th>
                </tr>
              </thead>
              <tbody>
                {n.bgpSessions.map((s) => (
                  <tr key={s.protocol} data-testid={`node-session-${s.protocol}`} data-state={s.state}>
                    <td>
                      <code>{s.protocol}</code>
                    </td>
                    <td>
                      <code>{s.peerIp ?? '—'}</code>
                    </td>
                    <td>
                      <Badge value={s.state} />
                      {s.info && <div className="small muted">{s.info}</div>}
                    </td>
                    <td>
                      <BfdBadge b={(n.bfdSessions ?? []).find((b) => b.peerIp === s.peerIp)} />
                    </td>
                    <td className="small">{ago(s.since)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Card>
        <Card title="Maintenance">
          <DrainNodeButton node={n} />
        </Card>
        <Card title={`VMs on this node (${live.length})`} className="span-2">
          {!vms.data ? (
            <Loading />
          ) : live.length === 0 ? (
            <p className="muted">No VM.</p>
          ) : (
            <table className="table" data-testid="node-vms">
              <caption className="sr-only">VMs on this node</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Address</th>
                  <th scope="col">Status</th>
                  <th scope="col">Owner</th>
                </tr>
              </thead>
              <tbody>
                {live.map((v) => (
                  <tr key={v.id}>
                    <td>
                      <Link to={`/clusters/${clusterId}/vms/${v.id}`}>{v.name}</Link>
                    </td>
                    <td>
                      <code>{v.ip ?? '—'}</code>
                    </td>
                    <td>
                      <Badge value={v.status} />
                    </td>
                    <td>{v.ownerId}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Card>
      </div>
    </>
  );
}
