import { eventually } from '@fabric/testing/infra';
import { clusterBody, type ControlPlane, http, startControlPlane } from '../support/control-plane';

describe('API smoke', () => {
  let cp: ControlPlane;
  beforeAll(async () => {
    cp = await startControlPlane();
  });
  afterAll(() => cp?.close());

  it('creates a cluster, a network, a node and a VM that gets an address', async () => {
    const c = await http('POST', `${cp.api}/clusters`, clusterBody());
    expect(c.status).toBe(201);
    const n = await http('POST', `${cp.api}/clusters/${c.body.id}/networks`, {
      cidr: '203.0.113.0/24',
      pools: [{ start: '203.0.113.10', end: '203.0.113.200' }],
    });
    expect(n.status).toBe(201);
    const node = await http('POST', `${cp.api}/clusters/${c.body.id}/nodes`, { name: 'node1', underlayIp: '198.18.0.101' });
    expect(node.status).toBe(201);
    const vm = await http('POST', `${cp.api}/vms`, { clusterId: c.body.id, nodeId: node.body.id, name: 'web1', ownerId: 'cust-1' });
    expect(vm.status).toBe(202);
    const got = await eventually(async () => {
      const r = await http('GET', `${cp.api}/vms/${vm.body.id}`);
      return r.body.status === 'ip-allocated' ? r.body : undefined;
    }, 10000);
    expect(got.ip).toBe('203.0.113.10');
    expect(got.history.map((h: { status: string }) => h.status)).toEqual(['requested', 'ip-allocated']);
  });
});
