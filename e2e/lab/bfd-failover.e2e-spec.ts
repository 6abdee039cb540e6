/**
 * BFD on a real BGP lab (one node, one RR, the FRR core): with BFD 100 ms × 3 and a 30 s hold time, a silent cut
 * of the node (nftables drops every packet between node and RR inside the node's namespace; the link stays up)
 * makes the RR close the node's session with "BFD session down" and the core withdraw the node's VM route long
 * before the hold time; lifting the cut brings session, BFD and route back. Then the contrast without BFD: the
 * same cut leaves the session up past the BFD detection time until "Hold timer expired".
 * Measured times are printed, not asserted as speed goals (bench/README.md, docs/operations/bgp-settings.md).
 */
import { eventually } from '@fabric/testing/infra';
import { rrNodeProtocol } from '@fabric/renderers';
import { http } from '../support/control-plane';
import { coreRoute, type Fabric, pingFrom, startFabric } from '../support/fabric';
import { runIn } from '../support/net';

jest.setTimeout(600_000);

const HOLD_S = 30;
const KEEPALIVE_S = 10;
const BFD = { bfd: true, bfdMinRxMs: 100, bfdMinTxMs: 100, bfdMultiplier: 3 };
/** nftables table of the cut, inside the node's namespace only. */
const CUT_TABLE = 'fabric_bfd_lab_cut';

interface Link {
  a: { name: string };
  b: { name: string };
  state: string;
  sides: { kind: string; state: string; info: string | null }[];
  bfd: { state: string | null; sides: { kind: string; state: string }[] };
}

describe('BFD failover on a real BGP lab', () => {
  let f: Fabric;
  let cutActive = false;

  beforeAll(async () => {
    f = await startFabric({ nodes: 1, rrs: 1 });
  });
  afterAll(async () => {
    if (cutActive) await uncut().catch(() => undefined);
    await f?.close();
  });

  const node = () => f.lab.nodes[0];
  const rr = () => f.lab.routeReflectors[0];

  /** The RR's BIRD view of its session to the node (`show protocols all node_<name>`). */
  const rrSession = () => runIn(rr().namespace, 'birdc', ['-s', rr().bird.controlSocket, 'show', 'protocols', 'all', rrNodeProtocol(node().name)]);

  async function rrNodeLink(): Promise<Link> {
    const t = await http('GET', `${f.api}/clusters/${f.clusterId}/topology`);
    expect(t.status).toBe(200);
    const link = (t.body.sessions as Link[]).find((s) => s.a.name === rr().name && s.b.name === node().name);
    if (!link) throw new Error(`no ${rr().name}–${node().name} link in the topology`);
    return link;
  }

  /** Drops every packet between the node and the RR (both families) in the node's namespace; the link stays up. */
  async function cut(): Promise<number> {
    const ns = node().namespace;
    const { ipv4, ipv6 } = rr();
    await runIn(ns, 'nft', ['add', 'table', 'inet', CUT_TABLE]);
    cutActive = true;
    for (const [chain, hook] of [
      ['in', 'input'],
      ['out', 'output'],
    ]) {
      await runIn(ns, 'nft', [
        'add',
        'chain',
        'inet',
        CUT_TABLE,
        chain,
        '{',
        'type',
        'filter',
        'hook',
        hook,
        'priority',
        'raw',
        ';',
        'policy',
        'accept',
        ';',
        '}',
      ]);
    }
    const at = Date.now();
    // One nft run: all four rules in one transaction.
    await runIn(ns, 'nft', [
      ...['add', 'rule', 'inet', CUT_TABLE, 'in', 'ip', 'saddr', ipv4, 'drop', ';'],
      ...['add', 'rule', 'inet', CUT_TABLE, 'in', 'ip6', 'saddr', ipv6, 'drop', ';'],
      ...['add', 'rule', 'inet', CUT_TABLE, 'out', 'ip', 'daddr', ipv4, 'drop', ';'],
      ...['add', 'rule', 'inet', CUT_TABLE, 'out', 'ip6', 'daddr', ipv6, 'drop'],
    ]);
    return at;
  }

  async function uncut(): Promise<void> {
    await runIn(node().namespace, 'nft', ['delete', 'table', 'inet', CUT_TABLE]);
    cutActive = false;
  }

  /** Polls the core's kernel route to `ip` until it no longer goes via the node; returns when that was seen. */
  async function withdrawnAt(ip: string, timeoutMs: number): Promise<number> {
    return eventually(async () => ((await coreRoute(f, ip))?.gateway === node().ipv4 ? undefined : Date.now()), timeoutMs, 20, `${ip} withdrawn at the core`);
  }

  async function routeBack(ip: string, timeoutMs: number): Promise<void> {
    await eventually(async () => ((await coreRoute(f, ip))?.gateway === node().ipv4 ? true : undefined), timeoutMs, 100, `${ip} at the core via the node`);
  }

  /** Session Established on both ends (API) with BIRD's negotiated hold time the one we set. */
  async function establishedWithHold(): Promise<void> {
    await eventually(
      async () => {
        const link = await rrNodeLink();
        const bird = await rrSession();
        return link.state === 'Established' && bird.includes('Established') && new RegExp(`Hold timer:\\s+[\\d.]+/${HOLD_S}\\b`).test(bird) ? true : undefined;
      },
      120_000,
      200,
      `${rr().name}–${node().name} Established with hold time ${HOLD_S}`,
    );
  }

  let vmIp: string;

  it('shows BFD up on the node–RR link with BFD 100 ms × 3 and a long hold time', async () => {
    const p = await http('PATCH', `${f.api}/clusters/${f.clusterId}/bgp`, { ...BFD, holdTime: HOLD_S, keepaliveTime: KEEPALIVE_S });
    expect(p.status).toBe(200);

    const c = await http('POST', `${f.api}/vms`, {
      clusterId: f.clusterId,
      nodeId: f.nodeIds[node().name],
      name: 'bfd-vm',
      ownerId: 'customer-1',
      driver: 'netns',
      family: 4,
    });
    expect(c.status).toBe(202);
    const vm = await eventually(
      async () => {
        const g = await http('GET', `${f.api}/vms/${c.body.id}`);
        return g.body.ip ? g.body : undefined;
      },
      15000,
      50,
      'an address',
    );
    vmIp = vm.ip;

    await establishedWithHold();
    const up = await eventually(
      async () => {
        const link = await rrNodeLink();
        // Both ends report their BFD session toward the other, and both say up.
        return link.bfd.state === 'up' && link.bfd.sides.length === 2 ? link : undefined;
      },
      60_000,
      200,
      'BFD up on both ends of the node–RR link',
    );
    expect(up.bfd.sides.map((s) => s.kind).sort()).toEqual(['node', 'rr']);
    const bfd = await runIn(rr().namespace, 'birdc', ['-s', rr().bird.controlSocket, 'show', 'bfd', 'sessions']);
    expect(bfd).toMatch(new RegExp(`${node().ipv4.replace(/\./g, '\\.')}\\s+\\S+\\s+Up\\s`));

    // The negotiated interval and detection time follow the state by a poll at most.
    await eventually(
      async () => {
        const st = await http('GET', `${f.api}/nodes/${f.nodeIds[node().name]}/status`);
        const b = (st.body.bfdSessions as { peerIp: string; state: string; intervalMs: number; timeoutMs: number }[]).find((x) => x.peerIp === rr().ipv4);
        return b?.state === 'up' && b.intervalMs === 100 && b.timeoutMs === 300 ? true : undefined;
      },
      15_000,
      200,
      "the node's status: BFD up toward the RR, 100 ms interval, 300 ms detection time",
    );

    // The RR–core session may first sit out one BIRD error wait (5 s): FRR re-creates its BFD session toward the RR
    // when the BGP connection comes up (docs/operations/bgp-settings.md), which BIRD takes as "BFD session down".
    await routeBack(vmIp, 120_000);
    await eventually(() => pingFrom(f.lab.core.namespace, vmIp), 10000, 200, `ping ${vmIp}`);
  });

  it('a silent cut: the RR closes the session on "BFD session down" and the core withdraws the route before the hold time', async () => {
    expect((await coreRoute(f, vmIp))?.gateway).toBe(node().ipv4);
    const at = await cut();
    try {
      const gone = await withdrawnAt(vmIp, HOLD_S * 1000);
      const ms = gone - at;
      console.log(`BFD 100 ms x 3, hold ${HOLD_S} s: silent cut -> VM route withdrawn at the core after ${ms} ms`);
      expect(ms).toBeLessThan(HOLD_S * 1000);

      const bird = await rrSession();
      expect(bird).toContain('BFD session down');
      expect(bird).not.toContain('Established');
      // The RR's agent reports its BGP and BFD sessions; either report may land first, so wait for both.
      const link = await eventually(
        async () => {
          const l = await rrNodeLink();
          const rrSide = l.sides.find((s) => s.kind === 'rr');
          return rrSide && rrSide.state !== 'Established' && l.bfd.sides.some((s) => s.kind === 'rr' && s.state === 'down') ? l : undefined;
        },
        30_000,
        200,
        "the API shows the RR's session to the node and its BFD down",
      );
      expect(link.state).not.toBe('Established');
      // The hold timer did not do it: that would have taken HOLD_S seconds.
      expect(Date.now() - at).toBeLessThan(HOLD_S * 1000);
    } finally {
      await uncut();
    }

    // BIRD waits its error wait time (5 s after a first error) before it reconnects.
    const lifted = Date.now();
    await establishedWithHold();
    await routeBack(vmIp, 120_000);
    console.log(`cut lifted -> session Established and the VM route back at the core after ${Date.now() - lifted} ms`);
    await eventually(async () => ((await rrNodeLink()).bfd.state === 'up' ? true : undefined), 60_000, 200, 'BFD up again');
    await eventually(() => pingFrom(f.lab.core.namespace, vmIp), 10000, 200, `ping ${vmIp} after the cut is lifted`);
  });

  it('without BFD the same cut leaves the session up past the BFD detection time until "Hold timer expired"', async () => {
    const p = await http('PATCH', `${f.api}/clusters/${f.clusterId}/bgp`, { bfd: false });
    expect(p.status).toBe(200);
    // Both ends dropped their BFD session (the agents report it removed) and the session is back.
    await eventually(async () => ((await rrNodeLink()).bfd.state === null ? true : undefined), 60_000, 200, 'no BFD on the node–RR link');
    await establishedWithHold();
    await routeBack(vmIp, 120_000);

    expect((await coreRoute(f, vmIp))?.gateway).toBe(node().ipv4);
    const at = await cut();
    try {
      const gone = await withdrawnAt(vmIp, (HOLD_S + 15) * 1000);
      const ms = gone - at;
      console.log(`no BFD, hold ${HOLD_S} s (keepalive ${KEEPALIVE_S} s): silent cut -> VM route withdrawn at the core after ${ms} ms`);
      // The hold timer restarts on every message; the last keepalive came at most KEEPALIVE_S before the cut. BIRD
      // starts its BGP timers up to a quarter early (RFC 4271 jitter, hold timer included): 18.9 s was seen.
      expect(ms).toBeGreaterThanOrEqual((HOLD_S * 0.75 - KEEPALIVE_S) * 1000);
      const bird = await rrSession();
      expect(bird).toContain('Hold timer expired');
      expect(bird).not.toContain('BFD session down');
    } finally {
      await uncut();
    }
  });
});
