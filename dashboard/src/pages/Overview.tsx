import { type Network, type Node, type PrivateNetwork, type Target, type Topology, type Vm, VM_STEPS } from '../api';
import { Card, ErrorBox, Loading, useApi } from '../components';
import { useLive } from '../live';
import { Link } from '../router';
import { EventLog, PoolsView, TargetsTable, TopologyView } from '../views';

export function OverviewPage({ clusterId }: { clusterId: string }) {
  const base = `/clusters/${clusterId}`;
  const vms = useApi<Vm[]>(`/vms?clusterId=${clusterId}`);
  const nodes = useApi<Node[]>(`${base}/nodes`);
  const topo = useApi<Topology>(`${base}/topology`);
  const targets = useApi<Target[]>(`${base}/targets`);
  const networks = useApi<Network[]>(`${base}/networks`);
  const privateNetworks = useApi<PrivateNetwork[]>(`${base}/private-networks`);
  const { events } = useLive();

  const live = (vms.data ?? []).filter((v) => v.status !== 'deleted');
  const atCore = live.filter((v) => v.status === 'at-core').length;
  const pending = live.filter((v) => (VM_STEPS as readonly string[]).includes(v.status) && v.status !== 'at-core').length;
  const failed = live.filter((v) => v.status === 'failed').length;
  const drift = (targets.data ?? []).filter((t) => t.drift).length;
  const sessions = topo.data?.sessions ?? [];
  const up = sessions.filter((s) => s.state === 'Established').length;

  return (
    <>
      <h1 className="page-title">Overview</h1>
      <ErrorBox error={vms.error ?? topo.error ?? targets.error} title="Cannot load the cluster" />
      <div className="stats" data-testid="stats">
        <Stat
          label="VMs at the core"
          value={`${atCore}/${live.length}`}
          tone={!live.length ? 'muted' : atCore === live.length ? 'ok' : 'info'}
          to={`${base}/vms`}
        />
        <Stat label="VMs converging" value={pending} tone={pending ? 'info' : 'muted'} to={`${base}/vms`} />
        <Stat label="VMs failed" value={failed} tone={failed ? 'bad' : 'muted'} to={`${base}/vms`} />
        <Stat label="Nodes" value={(nodes.data ?? []).filter((n) => n.status === 'active').length + ' active'} tone="muted" to={`${base}/nodes`} />
        <Stat
          label="BGP sessions up"
          value={`${up}/${sessions.length}`}
          tone={sessions.length && up === sessions.length ? 'ok' : 'warn'}
          to={`${base}/topology`}
        />
        <Stat label="Targets drifting" value={drift} tone={drift ? 'warn' : 'ok'} to={`${base}/nodes`} />
      </div>
      <div className="grid-2">
        <Card title="Topology" actions={<Link to={`${base}/topology`}>Details</Link>} className="span-2">
          {topo.data ? <TopologyView topo={topo.data} clusterId={clusterId} /> : <Loading />}
        </Card>
        <Card title="Configuration generations" actions={<span className="muted small">desired vs applied</span>} testId="overview-targets">
          {targets.data ? <TargetsTable targets={targets.data} clusterId={clusterId} /> : <Loading />}
        </Card>
        <Card title="Address pools" testId="overview-pools">
          {networks.data ? <PoolsView networks={networks.data} /> : <Loading />}
        </Card>
        <Card
          title="Private networks"
          actions={<span className="muted small">tenant L2 (VXLAN/EVPN), one VNI each</span>}
          testId="overview-private-networks"
          className="span-2"
        >
          {privateNetworks.data ? <PrivateNetworksTable networks={privateNetworks.data} /> : <Loading />}
        </Card>
        <Card title="Latest events" actions={<Link to={`${base}/events`}>All events</Link>} className="span-2">
          <EventLog events={events} limit={8} clusterId={clusterId} names={Object.fromEntries((nodes.data ?? []).map((n) => [n.id, n.name]))} />
        </Card>
      </div>
    </>
  );
}

function Stat({ label, value, tone, to }: { label: string; value: string | number; tone: string; to: string }) {
  return (
    <Link to={to} className={`stat tone-border-${tone}`}>
      <span className="stat-value">{value}</span>
      <span className="stat-label">{label}</span>
    </Link>
  );
}

function PrivateNetworksTable({ networks }: { networks: PrivateNetwork[] }) {
  if (!networks.length) return <p className="muted">No private networks.</p>;
  return (
    <table className="table" data-testid="private-networks">
      <caption className="sr-only">Private networks of the cluster with their VNI and attached VMs</caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Owner</th>
          <th scope="col">CIDR</th>
          <th scope="col">VNI</th>
          <th scope="col">VMs</th>
        </tr>
      </thead>
      <tbody>
        {networks.map((n) => (
          <tr key={n.id}>
            <td>{n.name}</td>
            <td>{n.ownerId}</td>
            <td>
              <code>{n.cidr}</code>
            </td>
            <td>{n.vni}</td>
            <td>{n.attachedVms}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
