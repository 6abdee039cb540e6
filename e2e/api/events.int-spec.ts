/**
 * GET /api/v1/events: server-sent events, resumable (Last-Event-ID / since), filtered by type / cluster / VM; reads
 * with X-Fabric-Min-Position, with the read model projected in the gateway and by the projector service.
 */
import { eventually } from '@fabric/testing/infra';
import { type ControlPlane, http, startControlPlane } from '../support/control-plane';
import { createFixture, type Fixture } from '../support/api-fixtures';
import { openSse, type SseStream } from '../support/sse';

// Also with the projector in its own service (as npm start runs it): reads after the feed must still wait for it.
describe.each(['in-process', 'external'] as const)('live events (SSE), projector %s', (projector) => {
  let cp: ControlPlane;
  let fx: Fixture;
  const streams: SseStream[] = [];
  const open = async (query = '', headers: Record<string, string> = {}) => {
    const s = await openSse(`${cp.api}/events${query}`, { authorization: `Bearer ${cp.adminToken}`, ...headers });
    streams.push(s);
    return s;
  };
  beforeAll(async () => {
    cp = await startControlPlane({ projector });
    fx = await createFixture(cp);
  });
  afterAll(async () => {
    for (const s of streams) s.close();
    await cp?.close();
  });

  const createVm = async (name: string) => {
    const r = await http('POST', `${cp.api}/vms`, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name, ownerId: 'cust-1' });
    expect(r.status).toBe(202);
    return r.body.id as string;
  };

  let firstVm: string;
  let allocatedSeq: number;

  it('streams VmCreated and IpAllocated of a new VM, id = stream sequence, data = envelope', async () => {
    const s = await open();
    expect(s.status).toBe(200);
    firstVm = await createVm('sse1');
    const [created] = await s.waitFor((e) => e.event === 'VmCreated' && e.data.data.vmId === firstVm);
    const [allocated] = await s.waitFor((e) => e.event === 'IpAllocated' && e.data.data.vmId === firstVm);
    expect(Number(created.id)).toBe(created.data.seq);
    expect(created.data).toMatchObject({
      type: 'VmCreated',
      subject: expect.stringContaining('.evt.vm.'),
      data: { vmId: firstVm, clusterId: fx.clusterId },
      meta: { actor: 'token:admin(admin)' },
    });
    expect(Number(allocated.id)).toBeGreaterThan(Number(created.id));
    expect(allocated.data.data.ip).toBe('203.0.113.10');
    allocatedSeq = Number(allocated.id);
    s.close();
  });

  it('resumes after Last-Event-ID (and ?since=) with only later events', async () => {
    const second = await createVm('sse2');
    for (const s of [await open('', { 'last-event-id': String(allocatedSeq) }), await open(`?since=${allocatedSeq}`)]) {
      await s.waitFor((e) => e.event === 'IpAllocated' && e.data.data.vmId === second);
      expect(s.events.every((e) => Number(e.id) > allocatedSeq)).toBe(true);
      expect(s.events.some((e) => e.data.data?.vmId === firstVm)).toBe(false);
      s.close();
    }
  });

  it('filters by type (comma list), vmId and clusterId; ?since=0 replays from the start', async () => {
    const s = await open(`?since=0&type=VmCreated,NodeJoined`);
    await s.waitFor((e) => e.event === 'VmCreated', 2);
    await s.waitFor((e) => e.event === 'NodeJoined');
    expect(new Set(s.events.map((e) => e.event))).toEqual(new Set(['VmCreated', 'NodeJoined']));
    const ids = s.events.map((e) => Number(e.id));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const byVm = await open(`?since=0&vmId=${firstVm}`);
    await byVm.waitFor((e) => e.event === 'IpAllocated');
    expect(byVm.events.every((e) => e.data.data.vmId === firstVm)).toBe(true);
    const other = await open(`?since=0&clusterId=00000000-0000-4000-8000-000000000000&limit=1`);
    const limited = await open(`?since=0&limit=2`);
    await limited.ended;
    expect(limited.events).toHaveLength(2);
    expect(other.events).toHaveLength(0);
  });

  it("a cluster filter also passes the reports of that cluster's node agents (their target is the node id)", async () => {
    const s = await open(`?clusterId=${fx.clusterId}&type=ConfigApplied`);
    const report = (nodeId: string, generation: number) =>
      cp.store.append(cp.store.subjects.evt('agent', 'node', nodeId), [
        {
          id: `sse-report-${nodeId}-${generation}`,
          event: { type: 'ConfigApplied', data: { target: { kind: 'node', id: nodeId }, generation, hash: 'h', changes: 0, durationMs: 1 } },
        },
      ]);
    await report('00000000-0000-4000-8000-00000000abcd', 7); // a node of no cluster we know
    await report(fx.nodeIds[0], 7);
    const [mine] = await s.waitFor((e) => e.event === 'ConfigApplied');
    expect(mine.data.data.target.id).toBe(fx.nodeIds[0]);
    expect(s.events.filter((e) => e.event === 'ConfigApplied')).toHaveLength(1);
    s.close();
  });

  it('refuses bad parameters (400) and answers 401 without a token; ?access_token= works for EventSource', async () => {
    const bad = await http('GET', `${cp.api}/events?since=abc&type=x;y&vmId=nope`);
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.body.fields).sort()).toEqual(['since', 'type', 'vmId']);
    expect((await http('GET', `${cp.api}/events`, undefined, {}, { auth: false })).status).toBe(401);
    const viaQuery = await openSse(`${cp.api}/events?since=0&limit=1&access_token=${cp.adminToken}`);
    expect(viaQuery.status).toBe(200);
    await viaQuery.ended;
    expect(viaQuery.events).toHaveLength(1);
    // only the events endpoint takes a token from the query string
    expect((await http('GET', `${cp.api}/vms?access_token=${cp.adminToken}`, undefined, {}, { auth: false })).status).toBe(401);
  });

  it('a read with X-Fabric-Min-Position of an event the feed delivered reflects that event', async () => {
    const vm = await http('GET', `${cp.api}/vms/${firstVm}`);
    expect(vm.body).toMatchObject({ ip: '203.0.113.10' });
    const s = await open();
    // The node's agent reports that it applied a generation (a fact: the events stream): the feed delivers
    // it at once, the read model gets it when the projection has applied it.
    await cp.store.append(cp.store.subjects.evt('agent', 'node', fx.nodeIds[0]), [
      {
        id: `sse-applied-${firstVm}`,
        event: { type: 'ConfigApplyFailed', data: { target: { kind: 'node', id: fx.nodeIds[0] }, generation: 99, hash: 'h99', error: 'sse test' } },
      },
    ]);
    const [seen] = await s.waitFor((e) => e.event === 'ConfigApplyFailed');
    const res = await fetch(`${cp.api}/nodes/${fx.nodeIds[0]}/status`, {
      headers: { authorization: `Bearer ${cp.adminToken}`, 'X-Fabric-Min-Position': String(seen.id) },
    });
    expect(res.status).toBe(200);
    expect(Number(res.headers.get('x-fabric-position'))).toBeGreaterThanOrEqual(Number(seen.id));
    expect(JSON.stringify(await res.json())).toContain('generation 99: sse test');

    // The core router reports the VM's route (as its agent would): an observation, on the observations
    // stream. The feed delivers it live without an id (the cursor is the events stream's); the read model
    // gets it from its observations runner.
    await cp.store.append(cp.store.subjects.obs('router', fx.clusterId), [
      {
        id: `sse-core-${firstVm}`,
        event: {
          type: 'RoutesChanged',
          data: { target: { kind: 'router', id: fx.clusterId }, added: [{ prefix: '203.0.113.10/32', nextHop: '198.18.0.101' }], withdrawn: [], total: 1 },
        },
      },
    ]);
    const [route] = await s.waitFor((e) => e.event === 'RoutesChanged');
    s.close();
    expect(route.id).toBeUndefined();
    expect(route.data).toMatchObject({ stream: 'observations', subject: cp.store.subjects.obs('router', fx.clusterId) });
    await eventually(
      async () => (await http('GET', `${cp.api}/vms/${firstVm}`)).body.status === 'at-core' || undefined,
      15_000,
      50,
      'VM at-core from the observation',
    );

    const bad = await http('GET', `${cp.api}/vms/${firstVm}`, undefined, { 'X-Fabric-Min-Position': '-1' });
    expect(bad.status).toBe(400);
    expect(Object.keys(bad.body.fields)).toEqual(['X-Fabric-Min-Position']);
  });
});
