/**
 * BGP safety on the real lab with the product's renderers (MD5 on, as for every new cluster): a node that
 * floods its route reflectors with far more prefixes than are placed on it is cut off by their receive
 * limit, while the other node's sessions never flap and its VM stays at the core; the core receives the
 * fabric's routes tagged no-export; once the node is sane again (action restart) it comes back by itself.
 */
import { BirdDriver } from './bird';
import { run, waitFor } from './exec';
import { FrrDriver } from './frr';
import { NetlinkDriver, type NodeDesiredState } from './netlink';
import { labDown, labUp, type LabState } from '../../../deploy/lab/topology';
import path from 'node:path';
import { nodePrefixLimit, renderFrrCore, renderNodeBird, renderRrBird, rrNodeProtocol } from '@fabric/renderers';
import type { Nats } from '@fabric/eventstore';
import { closeTestNats, openTestNats } from '@fabric/testing/infra';
import { RoaFeed } from '../rtr/feed';
import { setPlacements } from '../rtr/test-placements';

// Network namespaces need root: without it these tests fail (they are never skipped).
if (process.getuid?.() !== 0) throw new Error('the lab tests need root (network namespaces, BIRD, FRR)');
jest.setTimeout(300_000);
const prefix = `t${Math.random().toString(36).slice(2, 6).padEnd(4, '0')}-`;

const community = '65000:100';
const bgp = { md5Password: 'lab-Md5_s3cret', gracefulRestart: false, bfd: false, prefixLimitAction: 'restart' as const };
const pools = ['203.0.113.0/24', '198.51.100.0/24'];
const vm1 = { ifName: 'vm10', ip: '203.0.113.10' };
const vm2 = { ifName: 'vm20', ip: '198.51.100.20' };
const CLUSTER = '11111111-1111-4111-8111-111111111111';
const TAG1 = 4200000001;
const TAG2 = 4200000002;
/** More than the limit of a node with one placed VM. */
const FLOOD = nodePrefixLimit(1) + 100;

describe('a flooding node is cut off by the route reflectors, the others keep their routes', () => {
  let s: LabState;
  let frr: FrrDriver;
  const rrBirds: BirdDriver[] = [];
  const nl: NetlinkDriver[] = [];
  const feeds: RoaFeed[] = [];
  let nats: Nats | undefined;

  const coreRoute = async (dst: string) => (await frr.kernelRoutes()).find((r) => r.dst === dst);
  const session = async (rr: BirdDriver, node: string) => (await rr.protocols()).find((p) => p.name === `node_${node}`);
  const flooding = async (on: boolean) => {
    const ns = s.nodes[0].namespace;
    if (!on) return void (await run('ip', ['-n', ns, 'link', 'del', 'flood0']));
    // Host routes outside every pool, written with the node's route protocol: the node's BIRD announces them.
    const lines = ['link add flood0 type veth peer name flood1', 'link set flood1 up', 'link set flood0 up'];
    for (let i = 0; i < FLOOD; i++) lines.push(`route add 100.64.${i >> 8}.${i & 255}/32 dev flood0 proto ${s.nodes[0].routeProtocol}`);
    await run('ip', ['-n', ns, '-batch', '-'], { input: lines.join('\n') + '\n' });
  };

  beforeAll(async () => {
    try {
      s = await labUp({ prefix, nodes: 2, rrs: 2 });
      const rrs = s.routeReflectors.map((rr) => ({ name: rr.name, ip: rr.ipv4 }));
      frr = new FrrDriver({ namespace: s.core.namespace });
      const [n1, n2] = s.nodes;
      for (const n of s.nodes) {
        await new BirdDriver({ namespace: n.namespace, ...n.bird }).applyConfig(
          renderNodeBird({
            nodeName: n.name,
            routerId: n.ipv4,
            fabricAsn: s.fabricAsn,
            community,
            kernelProtocolNumber: n.routeProtocol,
            routeReflectors: rrs,
            bgp,
            localIp: n.ipv4,
            localIp6: n.ipv6,
          }),
        );
        nl.push(new NetlinkDriver({ namespace: n.namespace, protocolNumber: n.routeProtocol, ifPrefix: n.vmInterfacePrefix }));
      }
      // The placements as rr-config writes them, served to each RR's BIRD over RTR as its agent does.
      nats = await openTestNats();
      await setPlacements(nats, CLUSTER, [
        { ip: vm1.ip, tag: TAG1 },
        { ip: vm2.ip, tag: TAG2 },
      ]);
      for (const rr of s.routeReflectors) {
        const bird = new BirdDriver({ namespace: rr.namespace, ...rr.bird });
        rrBirds.push(bird);
        await bird.applyConfig(
          renderRrBird({
            rrName: rr.name,
            routerId: rr.ipv4,
            fabricAsn: s.fabricAsn,
            coreAsn: s.coreAsn,
            community,
            rrClusterId: s.routeReflectors[0].ipv4,
            localIp: rr.ipv4,
            localIp6: rr.ipv6,
            core: { name: 'core', ip: s.core.ipv4 },
            nodes: [
              { id: 'node1', name: n1.name, underlayIp: n1.ipv4, originTag: TAG1 },
              { id: 'node2', name: n2.name, underlayIp: n2.ipv4, originTag: TAG2 },
            ],
            exportPrefixes: pools,
            bgp,
          }),
        );
        const protocols = new Map([
          [TAG1, rrNodeProtocol(n1.name)],
          [TAG2, rrNodeProtocol(n2.name)],
        ]);
        const feed = new RoaFeed({
          nats,
          clusterId: CLUSTER,
          namespace: rr.namespace,
          socketDir: path.dirname(rr.bird.configPath),
          protocolOf: (tag) => protocols.get(tag),
          reload: async (ps) => {
            for (const p of ps === 'all' ? ['all'] : ps) await bird.birdc('reload', 'in', p).catch(() => undefined);
          },
        });
        feeds.push(feed);
        await feed.start();
      }
      await frr.applyConfig(
        renderFrrCore({
          hostname: 'core',
          routerId: s.core.ipv4,
          coreAsn: s.coreAsn,
          fabricAsn: s.fabricAsn,
          community,
          routeReflectors: rrs,
          exportPrefixes: pools,
          bgp,
        }),
      );
      for (const [i, vm] of [vm1, vm2].entries()) {
        const n = s.nodes[i];
        const desired: NodeDesiredState = {
          namespace: n.namespace,
          protocolNumber: n.routeProtocol,
          ifPrefix: n.vmInterfacePrefix,
          gateway: s.gateway,
          vms: [{ ...vm, family: 4, driver: 'netns', vmNamespace: `${n.vmNamespacePrefix}${i + 1}0` }],
        };
        await nl[i].reconcile(desired);
      }
    } catch (e) {
      for (const f of feeds) await f.stop().catch(() => undefined);
      await labDown(prefix);
      throw e;
    }
  }, 180_000);

  afterAll(async () => {
    for (const f of feeds) await f.stop().catch(() => undefined);
    await labDown(prefix);
    await closeTestNats(nats);
  }, 120_000);

  it('with MD5 on every session, both VMs reach the core, tagged with the cluster community and no-export', async () => {
    await waitFor(
      async () => {
        const peers = await frr.bgpSummary();
        return peers.length >= 2 && peers.every((p) => p.established);
      },
      60_000,
      'core sessions (MD5) Established',
    );
    for (const [vm, n] of [
      [vm1, s.nodes[0]],
      [vm2, s.nodes[1]],
    ] as const) {
      expect(await waitFor(() => coreRoute(`${vm.ip}/32`), 60_000, `${vm.ip} at the core`)).toMatchObject({ gateway: n.ipv4, protocol: 'bgp' });
    }
    const detail = JSON.parse(await frr.vtysh(`show bgp ipv4 unicast ${vm1.ip}/32 json`)) as { paths: { community?: { string: string } }[] };
    expect(detail.paths.length).toBeGreaterThan(0);
    // FRR spells the well-known 65535:65281 "no-export".
    for (const p of detail.paths) expect(p.community?.string.split(' ').sort()).toEqual([community, 'no-export'].sort());
  });

  it('a node announcing more than its limit is cut off by every RR; the other node keeps its sessions and its VM at the core', async () => {
    const before = await Promise.all(rrBirds.map((rr) => session(rr, 'node2')));
    for (const p of before) expect(p).toMatchObject({ info: 'Established' });

    await flooding(true);
    for (const rr of rrBirds) {
      // BIRD records why it closed the session (and restarts it: action restart).
      await waitFor(
        async () => {
          const r = await run('birdc', ['-s', rr.controlSocket, 'show', 'protocols', 'all', 'node_node1'], { allowFailure: true });
          return /Route limit exceeded/.test(r.stdout);
        },
        60_000,
        'node1 cut off at its receive limit',
      );
    }
    // node1's routes (its VM too) are withdrawn from the core; nothing of the flood ever got there.
    await waitFor(async () => !(await coreRoute(`${vm1.ip}/32`)), 60_000, 'node1 VM withdrawn at the core');
    expect((await frr.kernelRoutes()).filter((r) => r.dst.startsWith('100.64.'))).toEqual([]);
    // node2 never flapped: same session, same "since" (BIRD derives it from its monotonic clock, so two reads may
    // differ by a millisecond; a reset session would come back seconds later), its VM still at the core via node2.
    const after = await Promise.all(rrBirds.map((rr) => session(rr, 'node2')));
    const ms = (t?: string) => {
      const [h, m, sec] = (t ?? '').split(':').map(Number);
      return ((h * 60 + m) * 60 + sec) * 1000;
    };
    expect(after.map((p) => ({ ...p, since: undefined }))).toEqual(before.map((p) => ({ ...p, since: undefined })));
    after.forEach((p, i) => expect(Math.abs(ms(p?.since) - ms(before[i]?.since))).toBeLessThanOrEqual(50));
    expect(await coreRoute(`${vm2.ip}/32`)).toMatchObject({ gateway: s.nodes[1].ipv4, protocol: 'bgp' });
    expect((await frr.bgpSummary()).every((p) => p.established)).toBe(true);
  });

  it('once the node stops flooding, it comes back by itself (action restart)', async () => {
    await flooding(false);
    for (const rr of rrBirds) await waitFor(async () => (await session(rr, 'node1'))?.info === 'Established', 240_000, 'node1 back');
    expect(await waitFor(() => coreRoute(`${vm1.ip}/32`), 60_000, 'node1 VM back at the core')).toMatchObject({ gateway: s.nodes[0].ipv4 });
    expect(await coreRoute(`${vm2.ip}/32`)).toMatchObject({ gateway: s.nodes[1].ipv4 });
  });
});
