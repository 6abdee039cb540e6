/** GET /metrics (Prometheus text) from the gateway: counters, lag, pool gauges; METRICS_PORT servers. */
import { eventually } from '@fabric/testing/infra';
import { startMetricsServer, stopMetricsServer } from '@fabric/service-kit';
import { type ControlPlane, http, startControlPlane } from '../support/control-plane';
import { createFixture, settledVm } from '../support/api-fixtures';

/** Value of one sample `name{…labels containing all of `has`…}`. */
function sample(text: string, name: string, has: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(has).every(([k, v]) => labels[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('metrics', () => {
  let cp: ControlPlane;
  beforeAll(async () => {
    cp = await startControlPlane();
  });
  afterAll(() => cp?.close());

  it('exposes event counters, consumer lag and pool usage once a VM is ip-allocated, without a token', async () => {
    const fx = await createFixture(cp);
    const vm = await http('POST', `${cp.api}/vms`, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'm1', ownerId: 'cust-1' });
    expect(vm.status).toBe(202);
    expect((await settledVm(cp, vm.body.id)).status).toBe('ip-allocated');
    const url = `${cp.api.replace('/api/v1', '')}/metrics`;
    const text = await eventually(
      async () => {
        const r = await fetch(url);
        expect(r.status).toBe(200);
        expect(r.headers.get('content-type')).toContain('text/plain');
        const t = await r.text();
        return (sample(t, 'fabric_events_handled_total', { consumer: 'projection:read-model', type: 'IpAllocated' }) ?? 0) >= 1 ? t : undefined;
      },
      10000,
      100,
      'metrics to show the allocation',
    );
    expect(sample(text, 'fabric_events_handled_total', { consumer: 'projection:read-model', type: 'VmCreated' })).toBeGreaterThanOrEqual(1);
    // IPAM's durable consumer counted the VmCreated it handled
    expect(sample(text, 'fabric_events_handled_total', { consumer: cp.nats.subjects.durable('ipam'), type: 'VmCreated' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'fabric_consumer_lag', { consumer: cp.nats.subjects.durable('ipam') })).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'fabric_consumer_lag', { consumer: 'projection:read-model' })).toBe(0);
    expect(sample(text, 'fabric_pool_used', { cluster: fx.clusterId, cidr: '203.0.113.0/24' })).toBe(1);
    expect(sample(text, 'fabric_pool_size', { cluster: fx.clusterId, cidr: '203.0.113.0/24' })).toBe(191);
    expect(sample(text, 'fabric_pool_usage_ratio', { cluster: fx.clusterId, cidr: '203.0.113.0/24' })).toBeCloseTo(1 / 191, 6);
    expect(text).toContain('# TYPE fabric_vm_create_to_at_core_seconds histogram');
    expect(text).toContain('fabric_process_');
  });

  it('serves the same registry on METRICS_PORT for the other services (off when unset)', async () => {
    expect(await startMetricsServer({ port: undefined })).toBeUndefined();
    const srv = await startMetricsServer({ port: 0 });
    try {
      const port = (srv!.address() as { port: number }).port;
      const r = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(r.status).toBe(200);
      expect(await r.text()).toContain('fabric_events_handled_total');
      expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    } finally {
      await stopMetricsServer();
    }
  });
});
