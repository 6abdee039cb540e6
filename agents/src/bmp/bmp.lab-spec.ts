/**
 * BMP from the lab's FRR core (bgpd with bgpd_bmp, the station block rendered by renderFrrCore) to the product's
 * collector: a VM route that travels node → RR → core arrives on `<ns>.obs.bmp.router.<cluster>` with the node as
 * next hop (IPv4 and IPv6), agrees with what the FRR agent reads from the core, and its withdrawal follows. The core
 * reaches the collector over a veth into the root namespace (a management network in production). FRR 8.4 sends a live
 * post-policy announcement as a withdrawal, so the announcement is checked through the table sync of a new session.
 */
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { type Nats } from '@fabric/eventstore';
import { renderFrrCore } from '@fabric/renderers';
import { closeTestNats, eventually, openTestNats } from '@fabric/testing/infra';
import { labDown, labUp, type LabState } from '../../../deploy/lab/topology';
import { BirdDriver } from '../drivers/bird';
import { run } from '../drivers/exec';
import { FrrDriver } from '../drivers/frr';
import { frrHostRoutes, type RouteObservation } from '../observe';
import { parseRouteJson } from '../drivers/frr-parse';
import { BmpCollector } from './collector';

if (process.getuid?.() !== 0) throw new Error('the lab tests need root (network namespaces, BIRD, FRR)');
const prefix = `b${Math.random().toString(36).slice(2, 6).padEnd(4, '0')}-`;
const HOST = '198.18.254.1';
const CORE = '198.18.254.2';

interface Report {
  type: string;
  data: { added: RouteObservation[]; withdrawn: RouteObservation[]; resync?: string; total: number };
}

// Minimal hand-written fabric (as in drivers/chain.lab-spec.ts): node → iBGP → RR → eBGP, next hop kept → core.
const nodeConfig = (s: LabState) => {
  const n = s.nodes[0];
  const rr = s.routeReflectors[0];
  return `router id ${n.ipv4};
protocol device { }
protocol kernel k4 { learn; ipv4 { import where krt_source = ${n.routeProtocol} && net.len = 32; export none; }; }
protocol kernel k6 { learn; ipv6 { import where krt_source = ${n.routeProtocol} && net.len = 128; export none; }; }
protocol bgp ${rr.name} {
  local ${n.ipv4} as ${s.fabricAsn};
  neighbor ${rr.ipv4} as ${s.fabricAsn};
  ipv4 { import none; export where source = RTS_INHERIT; next hop self; };
  ipv6 { import none; export where source = RTS_INHERIT; next hop self; };
}
`;
};
const rrConfig = (s: LabState) => {
  const n = s.nodes[0];
  const rr = s.routeReflectors[0];
  return `router id ${rr.ipv4};
protocol device { }
protocol bgp ${n.name} {
  local ${rr.ipv4} as ${s.fabricAsn};
  neighbor ${n.ipv4} as ${s.fabricAsn};
  direct; rr client; rr cluster id 198.18.0.10;
  ipv4 { import all; export none; };
  ipv6 { import all; export none; };
}
protocol bgp core {
  local ${rr.ipv4} as ${s.fabricAsn};
  neighbor ${s.core.ipv4} as ${s.coreAsn};
  ipv4 { import none; export all; next hop keep; };
  ipv6 { import none; export all; next hop keep; };
}
`;
};
/** The product's BMP station lines, from the renderer, inside a hand-written core config. */
const coreConfig = (s: LabState, port: number) => {
  const rendered = renderFrrCore({
    hostname: 'core',
    routerId: s.core.ipv4,
    coreAsn: s.coreAsn,
    fabricAsn: s.fabricAsn,
    community: '65000:1',
    routeReflectors: [{ name: s.routeReflectors[0].name, ip: s.routeReflectors[0].ipv4 }],
    exportPrefixes: [],
    bgp: { gracefulRestart: false, bfd: false },
    bmpStation: { address: HOST, port },
  });
  const station = rendered.slice(rendered.indexOf(' bmp targets'), rendered.indexOf(' exit\nexit\n') + ' exit\n'.length);
  const rr = s.routeReflectors[0];
  return `frr defaults traditional
ip forwarding
ipv6 forwarding
!
router bgp ${s.coreAsn}
 bgp router-id ${s.core.ipv4}
 no bgp ebgp-requires-policy
 neighbor ${rr.ipv4} remote-as ${s.fabricAsn}
 !
 address-family ipv6 unicast
  neighbor ${rr.ipv4} activate
 exit-address-family
${station}exit
!
`;
};

describe('BMP from the lab FRR core to the collector', () => {
  let s: LabState;
  let nats: Nats;
  let collector: BmpCollector;
  let frr: FrrDriver;
  const clusterId = randomUUID();
  const reports: Report[] = [];
  const veth = `${prefix}bmp`;

  beforeAll(async () => {
    nats = await openTestNats();
    nats.nc.subscribe(nats.subjects.obsBmp(clusterId), {
      callback: (_e, m) => {
        const j = JSON.parse(new TextDecoder().decode(m.data));
        for (const e of j.type === 'EventBatch' ? j.data.events : [j]) reports.push(e);
      },
    });
    try {
      s = await labUp({ prefix, nodes: 1, rrs: 1 });
      await run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'bmp0', 'netns', s.core.namespace]);
      await run('ip', ['addr', 'add', `${HOST}/30`, 'dev', veth]);
      await run('ip', ['link', 'set', veth, 'up']);
      await run('ip', ['-n', s.core.namespace, 'addr', 'add', `${CORE}/30`, 'dev', 'bmp0']);
      await run('ip', ['-n', s.core.namespace, 'link', 'set', 'bmp0', 'up']);
      collector = new BmpCollector({ nats, clusterId, host: HOST, port: 0, router: CORE, log: pino({ level: 'silent' }), settleMs: 200 });
      await collector.start();
      await new BirdDriver({ namespace: s.nodes[0].namespace, ...s.nodes[0].bird }).applyConfig(nodeConfig(s));
      await new BirdDriver({ namespace: s.routeReflectors[0].namespace, ...s.routeReflectors[0].bird }).applyConfig(rrConfig(s));
      frr = new FrrDriver({ namespace: s.core.namespace });
      await frr.applyConfig(coreConfig(s, collector.address().port));
    } catch (e) {
      await labDown(prefix);
      throw e;
    }
  });

  afterAll(async () => {
    await collector?.stop();
    await run('ip', ['link', 'del', veth], { allowFailure: true });
    await labDown(prefix);
    await closeTestNats(nats);
  });

  const core = async () =>
    frrHostRoutes([...parseRouteJson(await frr.vtysh('show ip route bgp json')), ...parseRouteJson(await frr.vtysh('show ipv6 route bgp json'))]);
  const bmpHeld = () => {
    const held = new Map<string, RouteObservation>();
    for (const r of reports) {
      if (r.data.resync === 'start' || r.data.resync === 'full') held.clear();
      for (const w of r.data.withdrawn) held.delete(`${w.prefix} ${w.nextHop ?? ''}`);
      for (const a of r.data.added) held.set(`${a.prefix} ${a.nextHop ?? ''}`, a);
    }
    return [...held.values()].sort((a, b) => (a.prefix < b.prefix ? -1 : 1));
  };

  it("given the core's BMP station, when it connects, then the collector has its session and states its (empty) table", async () => {
    await eventually(() => collector.status().connected, 30_000, 100, 'BMP session from the core');
    await eventually(() => reports.some((r) => r.data.resync === 'full'), 30_000, 100, 'first BMP resync');
    expect(collector.status()).toMatchObject({ refused: 0, errors: 0 });
  });

  it("given a VM route on the node, when it reaches the core, then BMP reports it with the node as next hop, as the FRR agent's read does; its withdrawal follows", async () => {
    const n = s.nodes[0];
    await run('ip', ['-n', n.namespace, 'route', 'add', '203.0.113.10/32', 'dev', 'ul0', 'proto', String(n.routeProtocol)]);
    await run('ip', ['-n', n.namespace, '-6', 'route', 'add', '2001:db8:10::11/128', 'dev', 'ul0', 'proto', String(n.routeProtocol)]);
    const want = [
      { prefix: '2001:db8:10::11/128', nextHop: n.ipv6 },
      { prefix: '203.0.113.10/32', nextHop: n.ipv4 },
    ];
    // The FRR agent's read of the core (the second source), then BMP: the same routes.
    await eventually(async () => (await core()).length === 2, 30_000, 100, 'VM routes in the core RIB');
    expect(await core()).toEqual(want);
    // FRR 8.4 sends a live post-policy announcement as a withdrawal: its table sync at (re)connect carries it.
    collector.resetSession();
    await eventually(() => bmpHeld().length === 2, 15_000, 100, 'VM routes over BMP').catch(() => undefined);
    expect(bmpHeld()).toEqual(want);

    await run('ip', ['-n', n.namespace, 'route', 'del', '203.0.113.10/32', 'dev', 'ul0']);
    await eventually(() => bmpHeld().length === 1, 15_000, 100, 'withdrawal over BMP').catch(() => undefined);
    expect(bmpHeld()).toEqual([want[0]]);
    expect(collector.status()).toMatchObject({ connected: true, peers: 1, errors: 0 });
  });
});
