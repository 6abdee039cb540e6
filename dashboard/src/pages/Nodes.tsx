import { type Node, type Target, type Topology } from '../api';
import { ago, Badge, Card, ErrorBox, Loading, useApi } from '../components';
import { Link } from '../router';
import { TargetsTable } from '../views';

export function NodesPage({ clusterId }: { clusterId: string }) {
  const nodes = useApi<Node[]>(`/clusters/${clusterId}/nodes`);
  const topo = useApi<Topology>(`/clusters/${clusterId}/topology`);
  const targets = useApi<Target[]>(`/clusters/${clusterId}/targets`);
  const sessionsOf = (id: string) => topo.data?.sessions.filter((s) => s.b.id === id) ?? [];
  return (
    <>
      <h1 className="page-title">Nodes</h1>
      <ErrorBox error={nodes.error ?? targets.error} />
      <Card title="Hypervisor nodes">
        {!nodes.data ? (
          <Loading />
        ) : (
          <table className="table" data-testid="nodes-table">
            <caption className="sr-only">Nodes</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Underlay</th>
                <th scope="col">Status</th>
                <th scope="col">BGP to route reflectors</th>
                <th scope="col">Config</th>
                <th scope="col">Joined</th>
              </tr>
            </thead>
            <tbody>
              {nodes.data.map((n) => {
                const t = targets.data?.find((x) => x.kind === 'node' && x.targetId === n.id);
                const ss = sessionsOf(n.id);
                return (
                  <tr key={n.id} data-testid={`node-row-${n.name}`}>
                    <td>
                      <Link to={`/clusters/${clusterId}/nodes/${n.id}`}>{n.name}</Link>
                    </td>
                    <td>
                      <code>{n.underlayIp}</code>
                      {n.underlayIp6 && (
                        <>
                          <br />
                          <code className="small">{n.underlayIp6}</code>
                        </>
                      )}
                    </td>
                    <td>
                      <Badge value={n.status} />
                    </td>
                    <td>
                      {ss.length ? (
                        ss.map((s) => (
                          <span key={s.a.id} className="chip">
                            <Badge value={s.state} /> {s.a.name}
                          </span>
                        ))
                      ) : (
                        <span className="muted">—</span>
                      )}
                    </td>
                    <td>
                      {t ? (
                        t.drift ? (
                          <span className="badge tone-warn">
                            gen {t.appliedGeneration}/{t.desiredGeneration}
                          </span>
                        ) : (
                          <span className="badge tone-ok">gen {t.appliedGeneration}</span>
                        )
                      ) : (
                        '—'
                      )}
                    </td>
                    <td className="small muted">{ago(n.joinedAt)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </Card>
      <Card title="Configuration generations" actions={<span className="muted small">per node, route reflector and the core; drift = desired ≠ applied</span>}>
        {targets.data ? <TargetsTable targets={targets.data} clusterId={clusterId} /> : <Loading />}
      </Card>
    </>
  );
}
