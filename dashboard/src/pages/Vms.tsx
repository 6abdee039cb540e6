import { useState } from 'react';
import { type Node, type Vm } from '../api';
import { ago, Badge, Card, ErrorBox, Loading, useApi } from '../components';
import { CreateVmForm } from '../forms';
import { Link, navigate } from '../router';

const FILTERS = ['all', 'converging', 'at-core', 'migrating', 'failed', 'deleted'] as const;

export function VmsPage({ clusterId }: { clusterId: string }) {
  const vms = useApi<Vm[]>(`/vms?clusterId=${clusterId}`);
  const nodes = useApi<Node[]>(`/clusters/${clusterId}/nodes`);
  const [filter, setFilter] = useState<(typeof FILTERS)[number]>('all');
  const [q, setQ] = useState('');
  const nodeName = (id: string) => nodes.data?.find((n) => n.id === id)?.name ?? id.slice(0, 8);
  const shown = (vms.data ?? [])
    .filter((v) =>
      filter === 'all'
        ? v.status !== 'deleted'
        : filter === 'converging'
          ? ['requested', 'ip-allocated', 'applied', 'announced'].includes(v.status)
          : v.status === filter,
    )
    .filter((v) => !q || `${v.name} ${v.ip ?? ''} ${v.ownerId}`.toLowerCase().includes(q.toLowerCase()));
  return (
    <>
      <h1 className="page-title">Virtual machines</h1>
      <div className="grid-main-side">
        <Card
          title={`VMs${vms.data ? ` (${shown.length})` : ''}`}
          actions={
            <div className="filters">
              <label className="sr-only" htmlFor="vm-search">
                Search VMs
              </label>
              <input id="vm-search" type="search" placeholder="name, address, owner" value={q} onChange={(e) => setQ(e.target.value)} />
              <label className="sr-only" htmlFor="vm-filter">
                Status
              </label>
              <select id="vm-filter" value={filter} onChange={(e) => setFilter(e.target.value as typeof filter)}>
                {FILTERS.map((f) => (
                  <option key={f} value={f}>
                    {f}
                  </option>
                ))}
              </select>
            </div>
          }
        >
          <ErrorBox error={vms.error} />
          {!vms.data ? (
            <Loading />
          ) : shown.length === 0 ? (
            <p className="muted">No VM matches.</p>
          ) : (
            <table className="table" data-testid="vms-table">
              <caption className="sr-only">Virtual machines</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Address</th>
                  <th scope="col">Node</th>
                  <th scope="col">Status</th>
                  <th scope="col">Owner</th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((v) => (
                  <tr key={v.id} data-testid={`vm-row-${v.name}`}>
                    <td>
                      <Link to={`/clusters/${clusterId}/vms/${v.id}`}>{v.name}</Link>
                    </td>
                    <td>
                      <code>{v.ip ?? '—'}</code>
                    </td>
                    <td>
                      <Link to={`/clusters/${clusterId}/nodes/${v.nodeId}`}>{nodeName(v.nodeId)}</Link>
                      {v.previousNodeId && <span className="muted small"> (from {nodeName(v.previousNodeId)})</span>}
                    </td>
                    <td>
                      <Badge value={v.status} testId={`vm-status-${v.name}`} />
                      {v.blackhole && (
                        <>
                          {' '}
                          <Badge value="blackholed" testId={`vm-blackholed-${v.name}`} />
                        </>
                      )}
                      {v.reason && <div className="small error-text">{v.reason}</div>}
                    </td>
                    <td>{v.ownerId}</td>
                    <td className="small muted">{ago(v.updatedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Card>
        <Card title="Create a VM" testId="create-vm-card">
          {nodes.data ? (
            <CreateVmForm clusterId={clusterId} nodes={nodes.data} onCreated={(id) => navigate(`/clusters/${clusterId}/vms/${id}`)} />
          ) : (
            <Loading />
          )}
        </Card>
      </div>
    </>
  );
}
