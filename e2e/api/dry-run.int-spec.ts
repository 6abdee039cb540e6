/**
 * `?dryRun=true` on the writes that change configs: nothing is appended (the events stream's head stays), no
 * Idempotency-Key is claimed, no address allocated; the answer lists the events that would be appended and each
 * node, RR and core whose config would change with its diff, rendered by the derivers from copy-on-write views.
 */
import { rrTargetId } from '@fabric/contracts';
import { secretsBucket } from '@fabric/eventstore';
import { eventually } from '@fabric/testing/infra';
import { startRouteAnnouncer } from '../../services/route-announcer/src/main';
import { startRrConfig } from '../../services/rr-config/src/main';
import { startRouterConfig } from '../../services/router-config/src/main';
import { createFixture, type Fixture, settledVm, streamLastSeq } from '../support/api-fixtures';
import { clusterBody, type ControlPlane, http, startControlPlane } from '../support/control-plane';

interface Target {
  kind: string;
  id: string;
  name: string;
  diff: string | null;
  diffError?: string;
  secretChanged?: true;
}

describe('dry runs of the writes that change configs', () => {
  let cp: ControlPlane;
  let fx: Fixture;
  const derivers: { deriver: { idle(): Promise<boolean> }; close(): Promise<unknown> }[] = [];
  const settled = () => eventually(async () => (await Promise.all(derivers.map((d) => d.deriver.idle()))).every(Boolean), 15000, 50, 'derivers idle');
  const targetsOf = (body: { targets: Target[] }, kind: string) => body.targets.filter((t) => t.kind === kind);
  /** The head of the secrets stream: a dry run stores no secret. */
  const secretsHead = async () => (await cp.nats.jsm.streams.info(`KV_${secretsBucket(cp.nats.subjects)}`)).state.last_seq;

  beforeAll(async () => {
    cp = await startControlPlane();
    for (const start of [startRrConfig, startRouterConfig, startRouteAnnouncer]) derivers.push(await start({ ns: cp.ns }));
    fx = await createFixture(cp);
    await settled();
  });

  afterAll(async () => {
    for (const d of derivers.reverse()) await d.close().catch(() => undefined);
    await cp?.close();
  });

  it('given a cluster with RRs, when a node join is a dry run, then nothing is written and every RR gains the node as a neighbor', async () => {
    const head = await streamLastSeq(cp.nats);
    const body = { name: 'node9', underlayIp: '198.18.1.150' };
    const r = await http('POST', `${cp.api}/clusters/${fx.clusterId}/nodes?dryRun=true`, body, { 'Idempotency-Key': 'dry-join-1' });
    expect(r.status).toBe(200);
    expect(r.body.dryRun).toBe(true);
    expect(r.body.events.map((e: { type: string }) => e.type)).toEqual(['NodeJoined']);
    const nodeId = r.body.result.nodeId as string;
    expect(r.body.events[0].data).toMatchObject({ nodeId, clusterId: fx.clusterId, name: 'node9' });
    // The new node's whole config is new; each RR's node part for it appears, with the node as neighbor.
    const [node] = targetsOf(r.body, 'node');
    expect(node).toMatchObject({ id: nodeId, name: 'node9' });
    expect(node.diff).toMatch(/^\+.*198\.18\.1\.150/m);
    const rrs = targetsOf(r.body, 'rr');
    expect(rrs.map((t) => t.id).sort()).toEqual([rrTargetId(fx.clusterId, 'rr1'), rrTargetId(fx.clusterId, 'rr2')].sort());
    for (const rr of rrs) {
      expect(rr.diff).toMatch(/^\+\s*neighbor 198\.18\.1\.150/m);
      expect(rr.diff).not.toMatch(/^-(?!--)/m); // nothing the RR has now goes away
    }
    // The core peers the RRs, not the nodes: unchanged, so not listed.
    expect(targetsOf(r.body, 'router')).toEqual([]);
    for (const t of r.body.targets) expect(t.diffError).toBeUndefined();
    expect(await streamLastSeq(cp.nats)).toBe(head);
    expect((await http('GET', `${cp.api}/clusters/${fx.clusterId}/nodes`)).body).toHaveLength(1);
    // The key was not claimed: the real write with it goes through (and the name was not taken either).
    const real = await http('POST', `${cp.api}/clusters/${fx.clusterId}/nodes`, body, { 'Idempotency-Key': 'dry-join-1' });
    expect(real.status).toBe(201);
    await settled();
  });

  it('given a node, when a VM creation with an address is a dry run, then nothing is written and the node gains the route', async () => {
    const head = await streamLastSeq(cp.nats);
    const body = { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'dry1', ownerId: 'cust-1', ip: '203.0.113.77' };
    const r = await http('POST', `${cp.api}/vms?dryRun=true`, body);
    expect(r.status).toBe(200);
    expect(r.body.events.map((e: { type: string }) => e.type)).toEqual(['VmCreated']);
    expect(r.body.notes.join()).toContain('address 203.0.113.77: the requested one, free now');
    const [node] = targetsOf(r.body, 'node');
    expect(node.id).toBe(fx.nodeIds[0]);
    expect(node.diff).toMatch(/^\+route 203\.0\.113\.77\/32 dev \S+ # vm /m);
    // The RRs serve the address to that node (its placement); the core's filter holds the pools, not VMs.
    for (const rr of targetsOf(r.body, 'rr')) expect(rr.diff).toMatch(/^\+# placement .*203-0-113-77/m);
    expect(targetsOf(r.body, 'router')).toEqual([]);
    expect(await streamLastSeq(cp.nats)).toBe(head);
    expect((await http('GET', `${cp.api}/vms?clusterId=${fx.clusterId}`)).body).toEqual([]);

    // Without an address: IPAM's next free one now (the pool's first: no VM yet), nothing allocated.
    const plain = await http('POST', `${cp.api}/vms?dryRun=true`, { ...body, ip: undefined });
    expect(plain.status).toBe(200);
    expect(plain.body.notes.join()).toContain('address 203.0.113.10: the next free one now');
    expect(targetsOf(plain.body, 'node')[0].diff).toMatch(/^\+route 203\.0\.113\.10\/32 dev /m);
    const again = await http('POST', `${cp.api}/vms?dryRun=true`, { ...body, ip: undefined });
    expect(again.body.notes).toEqual(plain.body.notes);
    // An address outside the pools: IPAM would refuse it, so no route is shown.
    const outside = await http('POST', `${cp.api}/vms?dryRun=true`, { ...body, ip: '203.0.113.250' });
    expect(outside.status).toBe(200);
    expect(outside.body.notes.join()).toContain('IPAM would not allocate an address (outside-pools)');
    expect(targetsOf(outside.body, 'node')).toEqual([]);
    expect(await streamLastSeq(cp.nats)).toBe(head);
  });

  it('given a VM, when its deletion, migration and blackhole are dry runs, then the diffs show them and nothing is written', async () => {
    const vm = await http('POST', `${cp.api}/vms`, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'web1', ownerId: 'cust-1' });
    const v = await settledVm(cp, vm.body.id);
    // The dry runs above allocated nothing: the first real VM gets the address they showed as next free.
    expect(v.ip).toBe('203.0.113.10');
    await settled();
    const head = await streamLastSeq(cp.nats);
    const del = await http('DELETE', `${cp.api}/vms/${v.id}?dryRun=true`);
    expect(del.status).toBe(200);
    expect(targetsOf(del.body, 'node')[0].diff).toMatch(new RegExp(`^-route ${v.ip.replace(/\./g, '\\.')}/32`, 'm'));
    const nodes = (await http('GET', `${cp.api}/clusters/${fx.clusterId}/nodes`)).body as { id: string; name: string }[];
    const other = nodes.find((n) => n.id !== fx.nodeIds[0])!;
    const mig = await http('POST', `${cp.api}/vms/${v.id}/migrate?dryRun=true`, { nodeId: other.id });
    expect(mig.status).toBe(200);
    expect(mig.body.events.map((e: { type: string }) => e.type)).toEqual(['VmMigrationRequested']);
    const byNode = new Map(targetsOf(mig.body, 'node').map((t) => [t.id, t.diff]));
    expect(byNode.get(other.id)).toMatch(/^\+route .* # vm /m);
    expect(byNode.get(fx.nodeIds[0])).toMatch(/^\+route .* metric leaving # vm /m);
    const bh = await http('POST', `${cp.api}/vms/${v.id}/blackhole?dryRun=true`, { reason: 'flood' });
    expect(bh.status).toBe(200);
    expect(bh.body.events.map((e: { type: string }) => e.type)).toEqual(['VmBlackholed']);
    expect(targetsOf(bh.body, 'node')[0].diff).toContain(v.ip);
    expect(await streamLastSeq(cp.nats)).toBe(head);
    expect((await http('GET', `${cp.api}/vms/${v.id}`)).body.blackhole ?? null).toBeNull();
  });

  it('given a network, when a pool added is a dry run, then the RRs export it and the core filter accepts it, and nothing is written', async () => {
    const head = await streamLastSeq(cp.nats);
    const r = await http('POST', `${cp.api}/clusters/${fx.clusterId}/networks/${fx.networkId}/pools?dryRun=true`, {
      start: '203.0.113.208',
      end: '203.0.113.215',
    });
    expect(r.status).toBe(200);
    expect(r.body.events.map((e: { type: string }) => e.type)).toEqual(['PoolAdded']);
    const [core] = targetsOf(r.body, 'router');
    expect(core.id).toBe(fx.clusterId);
    expect(core.diff).toMatch(/^\+.*203\.0\.113\.208\/29/m);
    for (const rr of targetsOf(r.body, 'rr')) expect(rr.diff).toMatch(/^\+.*203\.0\.113\.208\/29/m);
    expect(targetsOf(r.body, 'node')).toEqual([]);
    expect(await streamLastSeq(cp.nats)).toBe(head);
    const clash = await http('POST', `${cp.api}/clusters/${fx.clusterId}/networks/${fx.networkId}/pools?dryRun=true`, {
      start: '203.0.113.20',
      end: '203.0.113.30',
    });
    expect(clash.status).toBe(409);
    const net = await http('POST', `${cp.api}/clusters/${fx.clusterId}/networks?dryRun=true`, {
      cidr: '198.51.100.0/24',
      pools: [{ start: '198.51.100.10', end: '198.51.100.20' }],
    });
    expect(net.status).toBe(200);
    expect(net.body.events.map((e: { type: string }) => e.type)).toEqual(['NetworkAdded', 'PoolAdded']);
    expect(targetsOf(net.body, 'router')[0].diff).toMatch(/^\+.*198\.51\.100\./m);
    expect(await streamLastSeq(cp.nats)).toBe(head);
  });

  it('given RRs, when an RR added and an RR removed are dry runs, then the nodes and the core show the neighbor change, and nothing is written', async () => {
    const head = await streamLastSeq(cp.nats);
    const add = await http('POST', `${cp.api}/clusters/${fx.clusterId}/route-reflectors?dryRun=true`, { name: 'rr3', ip: '198.18.0.13' });
    expect(add.status).toBe(200);
    expect(add.body.events.map((e: { type: string }) => e.type)).toEqual(['RouteReflectorAdded']);
    const [rr3] = targetsOf(add.body, 'rr');
    expect(rr3).toMatchObject({ id: rrTargetId(fx.clusterId, 'rr3'), name: 'rr3' });
    expect(rr3.diff).toMatch(/^\+\s*router id 198\.18\.0\.13;/m);
    for (const n of targetsOf(add.body, 'node')) expect(n.diff).toMatch(/^\+.*neighbor 198\.18\.0\.13/m);
    expect(targetsOf(add.body, 'node')).toHaveLength(2);
    expect(targetsOf(add.body, 'router')[0].diff).toMatch(/^\+.*198\.18\.0\.13/m);
    const remove = await http('DELETE', `${cp.api}/clusters/${fx.clusterId}/route-reflectors/rr2?dryRun=true`);
    expect(remove.status).toBe(200);
    expect(remove.body.events.map((e: { type: string }) => e.type)).toEqual(['RouteReflectorRemoved']);
    expect(targetsOf(remove.body, 'router')[0].diff).toMatch(/^-.*198\.18\.0\.12/m);
    expect(await streamLastSeq(cp.nats)).toBe(head);
    expect((await http('GET', `${cp.api}/clusters/${fx.clusterId}`)).body.routeReflectors.map((r: { name: string }) => r.name).sort()).toEqual(['rr1', 'rr2']);
  });

  it('given a node with a VM, when its evacuation is a dry run, then the plan says where the VM would go, that node gains it, and nothing is written', async () => {
    const head = await streamLastSeq(cp.nats);
    const nodes = (await http('GET', `${cp.api}/clusters/${fx.clusterId}/nodes`)).body as { id: string; name: string }[];
    const node9 = nodes.find((n) => n.name === 'node9')!;
    const vms = ((await http('GET', `${cp.api}/vms?clusterId=${fx.clusterId}`)).body as { id: string; name: string; nodeId: string }[]).filter(
      (v) => v.nodeId === fx.nodeIds[0],
    );
    expect(vms.map((v) => v.name)).toEqual(['web1']);
    for (const r of [
      await http('POST', `${cp.api}/nodes/${fx.nodeIds[0]}/evacuate?dryRun=true`),
      await http('POST', `${cp.api}/nodes/${fx.nodeIds[0]}/drain?dryRun=true`, { evacuate: true }),
    ]) {
      expect(r.status).toBe(200);
      expect(r.body.events.map((e: { type: string }) => e.type)).toContain('NodeEvacuationStarted');
      // node9 is the only other active node: the VM goes there (the placement rule: fewest VMs).
      expect(r.body.result.plan).toEqual([
        { vmId: vms[0].id, vmName: 'web1', clusterId: fx.clusterId, fromNodeId: fx.nodeIds[0], toNodeId: node9.id, toNodeName: 'node9' },
      ]);
      expect(r.body.notes).toContain('VM web1 → node node9');
      // The migration it would request is rendered: node9 gains the route, the evacuated node keeps it while leaving.
      const byNode = new Map(targetsOf(r.body, 'node').map((t) => [t.id, t.diff]));
      expect(byNode.get(node9.id)).toMatch(/^\+route .* # vm /m);
      expect(byNode.get(fx.nodeIds[0])).toMatch(/^\+route .* metric leaving # vm /m);
      // The migration is not listed as appended: the evacuation requests it later.
      expect(r.body.events.map((e: { type: string }) => e.type)).not.toContain('VmMigrationRequested');
    }
    expect(await streamLastSeq(cp.nats)).toBe(head);
    expect((await http('GET', `${cp.api}/nodes/${fx.nodeIds[0]}`)).body.status).toBe('active');
  });

  it('given a VM, when a private network create, attach, detach and delete are dry runs, then the node shows the VNI it would carry and nothing is written', async () => {
    const vm = ((await http('GET', `${cp.api}/vms?clusterId=${fx.clusterId}`)).body as { id: string; name: string }[]).find((v) => v.name === 'web1')!;
    let head = await streamLastSeq(cp.nats);
    const body = { ownerId: 'cust-1', name: 'backend', cidr: '192.168.60.0/24' };
    const create = await http('POST', `${cp.api}/clusters/${fx.clusterId}/private-networks?dryRun=true`, body);
    expect(create.status).toBe(200);
    expect(create.body.events.map((e: { type: string }) => e.type)).toEqual(['PrivateNetworkCreated']);
    expect(create.body.targets).toEqual([]); // no node carries a network without VMs
    expect(await streamLastSeq(cp.nats)).toBe(head);
    expect((await http('GET', `${cp.api}/clusters/${fx.clusterId}/private-networks`)).body).toEqual([]);

    const net = await http('POST', `${cp.api}/clusters/${fx.clusterId}/private-networks`, body);
    expect(net.status).toBe(201);
    await settled();
    head = await streamLastSeq(cp.nats);
    const attach = await http('POST', `${cp.api}/vms/${vm.id}/private-networks?dryRun=true`, { networkId: net.body.id });
    expect(attach.status).toBe(200);
    const attached = attach.body.events.find((e: { type: string }) => e.type === 'PrivateNetworkAttached');
    expect(attached.data).toMatchObject({ vmId: vm.id, networkId: net.body.id, vni: net.body.vni });
    const [node] = targetsOf(attach.body, 'node');
    expect(node.id).toBe(fx.nodeIds[0]);
    expect(node.diff).toMatch(new RegExp(`^\\+vni ${net.body.vni} network ${net.body.id} 192\\.168\\.60\\.0/24`, 'm'));
    expect(node.diff).toContain(`+  vm ${vm.id} mac ${attached.data.mac} ip ${attached.data.ip}/24`);
    expect(await streamLastSeq(cp.nats)).toBe(head);
    expect((await http('GET', `${cp.api}/vms/${vm.id}/private-networks`)).body).toEqual([]);

    // Not attached: the detach is refused as the write would be; the delete of the unused network lists its event.
    expect((await http('DELETE', `${cp.api}/vms/${vm.id}/private-networks/${net.body.id}?dryRun=true`)).status).toBe(404);
    const del = await http('DELETE', `${cp.api}/clusters/${fx.clusterId}/private-networks/${net.body.id}?dryRun=true`);
    expect(del.status).toBe(200);
    expect(del.body.events.map((e: { type: string }) => e.type)).toEqual(['PrivateNetworkDeleted']);
    expect(await streamLastSeq(cp.nats)).toBe(head);
    expect((await http('GET', `${cp.api}/clusters/${fx.clusterId}/private-networks`)).body).toHaveLength(1);
  });

  it('given an empty node, when its drain and its leave are dry runs, then a drain changes no config and a leave removes it from every RR', async () => {
    const head = await streamLastSeq(cp.nats);
    const nodes = (await http('GET', `${cp.api}/clusters/${fx.clusterId}/nodes`)).body as { id: string; name: string }[];
    const node9 = nodes.find((n) => n.name === 'node9')!;
    const drain = await http('POST', `${cp.api}/nodes/${node9.id}/drain?dryRun=true`, {});
    expect(drain.status).toBe(200);
    expect(drain.body.events.map((e: { type: string }) => e.type)).toEqual(['NodeDrained']);
    expect(drain.body.targets).toEqual([]);
    const leave = await http('DELETE', `${cp.api}/nodes/${node9.id}?dryRun=true`);
    expect(leave.status).toBe(200);
    expect(leave.body.events.map((e: { type: string }) => e.type)).toContain('NodeLeft');
    const rrs = targetsOf(leave.body, 'rr');
    expect(rrs).toHaveLength(2);
    for (const rr of rrs) expect(rr.diff).toMatch(/^-\s*neighbor 198\.18\.1\.150/m);
    expect(await streamLastSeq(cp.nats)).toBe(head);
    expect((await http('GET', `${cp.api}/nodes/${node9.id}`)).body.status).toBe('active');
  });

  it('when a cluster creation is a dry run, then nothing is written, no secret is stored, and its RRs and core show their new configs', async () => {
    const [head, secrets] = [await streamLastSeq(cp.nats), await secretsHead()];
    const password = 'dry-run-Secret-42';
    const body = {
      ...clusterBody('drylab'),
      routeReflectors: [{ name: 'rr1', ip: '198.18.0.21' }],
      coreRouter: { name: 'core2', ip: '198.18.0.2', vendor: 'frr' },
      bgp: { md5Password: password },
    };
    const r = await http('POST', `${cp.api}/clusters?dryRun=true`, body, { 'Idempotency-Key': 'dry-cluster-1' });
    expect(r.status).toBe(200);
    expect(r.body.dryRun).toBe(true);
    expect(r.body.events.map((e: { type: string }) => e.type)).toEqual(['ClusterCreated', 'RouteReflectorAdded']);
    const clusterId = r.body.result.clusterId as string;
    expect(r.body.events[0].data).toMatchObject({ clusterId, name: 'drylab' });
    // The new RR's and the core's whole configs are new; the password never shows.
    const [rr] = targetsOf(r.body, 'rr');
    expect(rr).toMatchObject({ id: rrTargetId(clusterId, 'rr1'), name: 'rr1' });
    expect(rr.diff).toMatch(/^\+.*198\.18\.0\.21/m);
    const [core] = targetsOf(r.body, 'router');
    expect(core).toMatchObject({ id: clusterId });
    expect(core.diff).toMatch(/^\+.*neighbor 198\.18\.0\.21/m);
    for (const t of r.body.targets) expect(t.diffError).toBeUndefined();
    expect(JSON.stringify(r.body)).not.toContain(password);
    expect([await streamLastSeq(cp.nats), await secretsHead()]).toEqual([head, secrets]);
    expect((await http('GET', `${cp.api}/clusters`)).body.map((c: { name: string }) => c.name)).not.toContain('drylab');
    // Refused as the write would be: a name taken, bad input.
    expect((await http('POST', `${cp.api}/clusters?dryRun=true`, { ...body, name: 'lab' })).status).toBe(409);
    expect((await http('POST', `${cp.api}/clusters?dryRun=true`, { ...body, fabricAsn: 'x' })).status).toBe(400);
    // The key was not claimed: the real write with it goes through.
    const real = await http('POST', `${cp.api}/clusters`, body, { 'Idempotency-Key': 'dry-cluster-1' });
    expect(real.status).toBe(201);
    await settled();
  });

  it('when an MD5 password change is a dry run, then nothing is written, no secret is stored, and every node, RR and the core is listed with a secret change', async () => {
    await settled();
    const [head, secrets] = [await streamLastSeq(cp.nats), await secretsHead()];
    const password = 'dry-run-Rotated-43';
    const r = await http('PUT', `${cp.api}/clusters/${fx.clusterId}/bgp/md5-password?dryRun=true`, { md5Password: password });
    expect(r.status).toBe(200);
    expect(r.body.events.map((e: { type: string }) => e.type)).toEqual(['BgpPasswordChanged']);
    const nodes = (await http('GET', `${cp.api}/clusters/${fx.clusterId}/nodes`)).body.filter((n: { status: string }) => n.status !== 'left');
    expect(
      targetsOf(r.body, 'node')
        .map((t) => t.id)
        .sort(),
    ).toEqual(nodes.map((n: { id: string }) => n.id).sort());
    expect(
      targetsOf(r.body, 'rr')
        .map((t) => t.name)
        .sort(),
    ).toEqual(['rr1', 'rr2']);
    expect(targetsOf(r.body, 'router').map((t) => t.id)).toEqual([fx.clusterId]);
    for (const t of r.body.targets) expect(t).toMatchObject({ diff: '', secretChanged: true });
    expect(JSON.stringify(r.body)).not.toContain(password);
    expect([await streamLastSeq(cp.nats), await secretsHead()]).toEqual([head, secrets]);
    expect((await http('PUT', `${cp.api}/clusters/${fx.clusterId}/bgp/md5-password?dryRun=true`, { md5Password: 'has "quotes"' })).status).toBe(400);
    expect((await http('PUT', `${cp.api}/clusters/00000000-0000-4000-8000-000000000000/bgp/md5-password?dryRun=true`, { md5Password: password })).status).toBe(
      404,
    );
    expect([await streamLastSeq(cp.nats), await secretsHead()]).toEqual([head, secrets]);
  });

  it('when a dry run has bad input then it is refused as the write would be, and nothing is written', async () => {
    const head = await streamLastSeq(cp.nats);
    expect((await http('POST', `${cp.api}/clusters/${fx.clusterId}/nodes?dryRun=maybe`, { name: 'x1', underlayIp: '198.18.1.151' })).status).toBe(400);
    expect((await http('POST', `${cp.api}/clusters/${fx.clusterId}/nodes?dryRun=true`, { name: 'x1', underlayIp: 'nope' })).status).toBe(400);
    // The name and address of the node joined above are taken.
    expect((await http('POST', `${cp.api}/clusters/${fx.clusterId}/nodes?dryRun=true`, { name: 'node9', underlayIp: '198.18.1.152' })).status).toBe(409);
    const vm = { clusterId: fx.clusterId, nodeId: '00000000-0000-4000-8000-000000000000', name: 'dry2', ownerId: 'cust-1' };
    expect((await http('POST', `${cp.api}/vms?dryRun=true`, vm)).status).toBe(404);
    expect((await http('DELETE', `${cp.api}/nodes/${fx.nodeIds[0]}?dryRun=true`)).status).toBe(409); // it has a VM
    expect(await streamLastSeq(cp.nats)).toBe(head);
  });
});
