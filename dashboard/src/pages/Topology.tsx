import { type Topology } from '../api';
import { Card, ErrorBox, Loading, useApi } from '../components';
import { SessionsTable, TopologyView } from '../views';

export function TopologyPage({ clusterId }: { clusterId: string }) {
  const topo = useApi<Topology>(`/clusters/${clusterId}/topology`);
  return (
    <>
      <h1 className="page-title">Topology</h1>
      <p className="lede">
        Every node peers with every route reflector; the route reflectors peer with the core. A line is green when both ends report the session Established.
      </p>
      <ErrorBox error={topo.error} />
      {topo.data ? (
        <>
          <Card title="Fabric">
            <TopologyView topo={topo.data} clusterId={clusterId} />
          </Card>
          <Card title="BGP sessions">
            <SessionsTable sessions={topo.data.sessions} />
          </Card>
        </>
      ) : (
        !topo.error && <Loading />
      )}
    </>
  );
}
