/**
 * The product as a user drives it: HTTP API → events → derivers → agents → BIRD/FRR in network namespaces.
 * One lab (3 nodes, 2 route reflectors, FRR core) shared by the scenarios, which run in order.
 */
import { eventually } from '@fabric/testing/infra';
import { http } from '../support/control-plane';
import { coreRoute, type Fabric, pingFrom, startFabric } from '../support/fabric';
import { runIn } from '../support/net';
import { ANTISPOOF_TABLE, antispoofDrops } from '../../agents/src/drivers/antispoof';

jest.setTimeout(600_000);

describe('IP-Fabric on a real BGP lab', () => {
  let f: Fabric;
  const vms: Record<string, { id: string; ip: string; node: string }> = {};

  beforeAll(async () => {
    f = await startFabric({ nodes: 3, rrs: 2, registerNodes: 2 });
  });
  afterAll(async () => {
    await f?.close();
  });

  const node = (name: string) => f.lab.nodes.find((n) => n.name === name)!;
  const vmNamespace = (nodeName: string, vmId: string) => `${node(nodeName).vmNamespacePrefix}${vmId.replace(/-/g, '').slice(0, 8)}`;

  async function createVm(name: string, nodeName: string, extra: Record<string, unknown> = {}) {
    const r = await http('POST', `${f.api}/vms`, {
      clusterId: f.clusterId,
      nodeId: f.nodeIds[nodeName],
      name,
      ownerId: 'customer-1',
      driver: 'netns',
      family: 4,
      ...extra,
    });
    expect(r.status).toBe(202);
    const vm = await eventually(
      async () => {
        const g = await http('GET', `${f.api}/vms/${r.body.id}`);
        return g.body.ip ? g.body : undefined;
      },
      15000,
      50,
      `${name} to get an address`,
    );
    vms[name] = { id: vm.id, ip: vm.ip, node: nodeName };
    return vms[name];
  }

  async function birdRoutes(rrName: string, prefix: string): Promise<string> {
    const rr = f.lab.routeReflectors.find((r) => r.name === rrName)!;
    // birdc exits non-zero for "Network not found": that is an answer here.
    return runIn(undefined, 'birdc', ['-s', rr.bird.controlSocket, 'show', 'route', 'for', prefix, 'all'], 10000, true);
  }

  it('routes VMs on different nodes from the core via their own node, and they answer ping', async () => {
    const a = await createVm('web1', 'node1');
    const b = await createVm('web2', 'node2');
    for (const vm of [a, b]) {
      const r = await eventually(
        async () => {
          const route = await coreRoute(f, vm.ip);
          return route?.gateway === node(vm.node).ipv4 ? route : undefined;
        },
        60000,
        100,
        `${vm.ip} at the core via ${vm.node}`,
      );
      expect(r.gateway).toBe(node(vm.node).ipv4);
      await eventually(() => pingFrom(f.lab.core.namespace, vm.ip), 10000, 200, `ping ${vm.ip}`);
      const status = await eventually(
        async () => {
          const g = await http('GET', `${f.api}/vms/${vm.id}`);
          return g.body.status === 'at-core' ? g.body : undefined;
        },
        20000,
        100,
        `${vm.ip} status at-core`,
      );
      expect(status.history.map((h: { status: string }) => h.status)).toEqual(expect.arrayContaining(['requested', 'ip-allocated', 'at-core']));
      if (vm === a) {
        // The gateway's projection observed create → at-core; BGP sessions are up from the agents' reports.
        const metrics = await (await fetch(`${f.api.replace('/api/v1', '')}/metrics`)).text();
        expect(Number(/^fabric_vm_create_to_at_core_seconds_count (\S+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
        await eventually(
          async () =>
            /^fabric_bgp_sessions_up\{kind="router",target="[^"]+"\} [1-9]/m.test(await (await fetch(`${f.api.replace('/api/v1', '')}/metrics`)).text()),
          10000,
          200,
          'core BGP sessions up in /metrics',
        );
      }
    }
  });

  it('lets VMs on different nodes reach each other', async () => {
    expect(await pingFrom(vmNamespace('node1', vms.web1.id), vms.web2.ip)).toBe(true);
    expect(await pingFrom(vmNamespace('node2', vms.web2.id), vms.web1.ip)).toBe(true);
  });

  it('routes an IPv6 VM over the same path', async () => {
    const v6 = await createVm('web6', 'node1', { family: 6 });
    expect(v6.ip).toContain(':');
    const r = await eventually(
      async () => {
        const route = await coreRoute(f, v6.ip);
        return route?.gateway === node('node1').ipv6 ? route : undefined;
      },
      60000,
      100,
      `${v6.ip} at the core via node1`,
    );
    expect(r.gateway).toBe(node('node1').ipv6);
    await eventually(() => pingFrom(f.lab.core.namespace, v6.ip), 10000, 200, `ping ${v6.ip}`);
  });

  it('drops what a VM sends from an address that is not its own, and only that (IPv4 and IPv6)', async () => {
    const drops = async (nodeName: string) =>
      antispoofDrops(JSON.parse(await runIn(node(nodeName).namespace, 'nft', ['-j', 'list', 'table', 'inet', ANTISPOOF_TABLE])));
    const web6 = vms.web6;
    // web1 (node1) claims web2's address (node2); web6 (node1) claims an address next to its own.
    const other6 = web6.ip.replace(/:([0-9a-f]+)$/, (_, h: string) => `:${(parseInt(h, 16) ^ 0x1).toString(16)}`);
    for (const [vm, stolen, len] of [
      [vms.web1, vms.web2.ip, 32],
      [web6, other6, 128],
    ] as const) {
      const ns = vmNamespace(vm.node, vm.id);
      const target = len === 128 ? f.lab.core.ipv6 : f.lab.core.ipv4;
      // From its own address the VM reaches the core (and the answer comes back).
      await eventually(() => pingFrom(ns, target), 10000, 200, `ping ${target} from ${vm.ip}`);
      const before = (await drops(vm.node)) ?? 0;
      await runIn(ns, 'ip', ['addr', 'add', `${stolen}/${len}`, 'dev', 'eth0', ...(len === 128 ? ['nodad'] : [])]);
      try {
        const v6 = len === 128 ? ['-6'] : [];
        await runIn(ns, 'ping', [...v6, '-c', '3', '-i', '0.2', '-W', '1', '-I', stolen, target], 10000, true);
        // The node counted the three spoofed packets at its VM interface (the reply could not prove it: it goes to the owner).
        expect(((await drops(vm.node)) ?? 0) - before).toBeGreaterThanOrEqual(3);
      } finally {
        await runIn(ns, 'ip', ['addr', 'del', `${stolen}/${len}`, 'dev', 'eth0'], 10000, true);
      }
      expect(await pingFrom(ns, target)).toBe(true);
    }
  });

  it('a restarted agent finds nothing to change', async () => {
    // The route can reach the core before the agent's apply (and its ConfigApplied) is finished: wait
    // until node1 reports the desired generation, and read the position only once the old agent is gone,
    // so the ConfigApplied below is the new agent's start-up reconcile.
    await eventually(
      async () => {
        const st = await http('GET', `${f.api}/nodes/${f.nodeIds.node1}/status`);
        return st.body.desiredGeneration > 0 && st.body.appliedGeneration === st.body.desiredGeneration ? true : undefined;
      },
      30000,
      100,
      'node1 applied its desired generation',
    );
    await f.stopMemberAgent('node1');
    const before = await f.cp.nats.jsm.streams.info(f.cp.nats.subjects.eventsStream);
    await f.startMemberAgent('node1');
    const subject = f.cp.nats.subjects.evt('agent', 'node', f.nodeIds.node1);
    const { EventStore } = await import('@fabric/eventstore');
    const store = new EventStore(f.cp.nats);
    const applied = await eventually(
      async () => {
        const events = await store.read(subject, before.state.last_seq);
        return events.find((e) => e.type === 'ConfigApplied');
      },
      20000,
      100,
      'ConfigApplied after restart',
    );
    expect((applied.data as { changes: number }).changes).toBe(0);
  });

  it('rejects a rogue announcement of another VM address at the route reflectors', async () => {
    const victim = vms.web1;
    const prefix = `${victim.ip}/32`;
    // node2 announces web1's address, as a compromised hypervisor would: its agent is stopped first (it owns the
    // node's routes and would repair the rogue one within ~100 ms, before every RR has been read).
    await f.stopMemberAgent('node2');
    await runIn(undefined, 'ip', ['-n', node('node2').namespace, 'route', 'add', 'blackhole', prefix, 'proto', '200']);
    try {
      // node2's BIRD exports it (it matches the node filter) …
      await eventually(
        async () => (await runIn(undefined, 'birdc', ['-s', node('node2').bird.controlSocket, 'show', 'route', 'for', prefix])).includes(prefix),
        10000,
        100,
        'rogue route in node2 BIRD',
      );
      // … and every RR has received it and filtered it out (`import keep filtered on` keeps it visible).
      for (const rr of f.lab.routeReflectors) {
        await eventually(
          async () =>
            (await runIn(undefined, 'birdc', ['-s', rr.bird.controlSocket, 'show', 'route', 'for', prefix, 'filtered', 'all'], 10000, true)).includes(
              node('node2').ipv4,
            ),
          20000,
          100,
          `rogue route filtered on ${rr.name}`,
        );
      }
      for (const rr of f.lab.routeReflectors) {
        const out = await birdRoutes(rr.name, prefix);
        expect(out).toContain(node('node1').ipv4);
        expect(out).not.toContain(node('node2').ipv4);
      }
      expect((await coreRoute(f, victim.ip))?.gateway).toBe(node('node1').ipv4);
    } finally {
      await runIn(undefined, 'ip', ['-n', node('node2').namespace, 'route', 'del', 'blackhole', prefix, 'proto', '200']).catch(() => undefined);
      await f.startMemberAgent('node2');
    }
  });

  it('moves the route with a migration, announcing on the new node before withdrawing from the old', async () => {
    const vm = vms.web1;
    const samples: (string | undefined)[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push((await coreRoute(f, vm.ip))?.gateway);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    try {
      const r = await http('POST', `${f.api}/vms/${vm.id}/migrate`, { nodeId: f.nodeIds.node2 });
      expect(r.status).toBe(202);
      await eventually(async () => ((await coreRoute(f, vm.ip))?.gateway === node('node2').ipv4 ? true : undefined), 60000, 50, 'route via node2');
      await eventually(
        async () => {
          const g = await http('GET', `${f.api}/vms/${vm.id}`);
          return g.body.status === 'at-core' && g.body.nodeId === f.nodeIds.node2 ? true : undefined;
        },
        30000,
        100,
        'migration completed',
      );
    } finally {
      sampling = false;
      await sampler;
    }
    expect(samples.length).toBeGreaterThan(10);
    expect(samples.filter((s) => s === undefined)).toHaveLength(0);
    expect(samples[0]).toBe(node('node1').ipv4);
    expect(samples[samples.length - 1]).toBe(node('node2').ipv4);
    vm.node = 'node2';
    // the old node no longer carries it
    await eventually(
      async () => {
        const links = JSON.parse(await runIn(undefined, 'ip', ['-j', '-n', node('node1').namespace, 'route', 'show', 'proto', '200'])) as { dst: string }[];
        return links.every((l) => l.dst !== vm.ip) ? true : undefined;
      },
      30000,
      100,
      'old node route gone',
    );
  });

  it('withdraws the route everywhere and removes the interface when a VM is deleted', async () => {
    const vm = vms.web2;
    const r = await http('DELETE', `${f.api}/vms/${vm.id}`);
    expect(r.status).toBe(202);
    await eventually(async () => ((await coreRoute(f, vm.ip)) ? undefined : true), 30000, 100, 'route withdrawn at the core');
    for (const rr of f.lab.routeReflectors) expect(await birdRoutes(rr.name, `${vm.ip}/32`)).not.toContain(`${vm.ip}/32`);
    await eventually(
      async () => {
        const links = JSON.parse(await runIn(undefined, 'ip', ['-j', '-n', node('node2').namespace, 'link', 'show'])) as { ifname: string }[];
        return links.some((l) => l.ifname === `vm${vm.id.replace(/-/g, '').slice(0, 13)}`) ? undefined : true;
      },
      30000,
      100,
      'interface removed',
    );
  });

  it('adds a joining node to every route reflector with no manual step', async () => {
    const n3 = node('node3');
    const j = await http('POST', `${f.api}/clusters/${f.clusterId}/nodes`, { name: 'node3', underlayIp: n3.ipv4, underlayIp6: n3.ipv6 });
    expect(j.status).toBe(201);
    f.nodeIds.node3 = j.body.id;
    await f.startMemberAgent('node3');
    for (const rr of f.lab.routeReflectors) {
      await eventually(
        async () => {
          const out = await runIn(undefined, 'birdc', ['-s', rr.bird.controlSocket, 'show', 'protocols']);
          return out.split('\n').some((l) => l.includes('node3') && l.includes('Established')) ? true : undefined;
        },
        60000,
        200,
        `${rr.name} session to node3 Established`,
      );
    }
    const vm = await createVm('web3', 'node3');
    await eventually(async () => ((await coreRoute(f, vm.ip))?.gateway === n3.ipv4 ? true : undefined), 60000, 100, 'node3 VM at the core');
    await eventually(() => pingFrom(f.lab.core.namespace, vm.ip), 10000, 200, 'ping node3 VM');
  });

  it('evacuates a node: every VM migrates make-before-break to the least loaded nodes, then the node returns to service', async () => {
    // node2 holds web1 (migrated there above) and four more; node1 holds none, node3 one (web3).
    for (const name of ['evac1', 'evac2', 'evac3', 'evac4']) await createVm(name, 'node2');
    const moving = Object.entries(vms).filter(([, v]) => v.node === 'node2' && v.id !== vms.web2.id);
    expect(moving).toHaveLength(5);
    for (const [, vm] of moving)
      await eventually(
        async () => ((await coreRoute(f, vm.ip))?.gateway === node('node2').ipv4 ? true : undefined),
        60000,
        100,
        `${vm.ip} at the core via node2`,
      );

    const r = await http('POST', `${f.api}/nodes/${f.nodeIds.node2}/evacuate`, {});
    expect(r.status).toBe(200);
    expect(['evacuating', 'drained']).toContain(r.body.status);
    // Progress is readable while it runs; the node ends drained and empty.
    const done = await eventually(
      async () => {
        const st = (await http('GET', `${f.api}/nodes/${f.nodeIds.node2}/status`)).body;
        if (st.status === 'evacuating') expect(st.evacuation.waiting + st.evacuation.migrating).toBeLessThanOrEqual(5);
        return st.status === 'drained' && st.vmCount === 0 ? st : undefined;
      },
      120000,
      200,
      'node2 evacuated',
    );
    expect(done.evacuation).toBeNull();

    const counts: Record<string, number> = { node1: 0, node3: 1 };
    for (const [name, vm] of moving) {
      const g = await eventually(
        async () => {
          const b = (await http('GET', `${f.api}/vms/${vm.id}`)).body;
          return b.status === 'at-core' && b.nodeId !== f.nodeIds.node2 ? b : undefined;
        },
        60000,
        100,
        `${name} at the core on its new node`,
      );
      const to = Object.keys(f.nodeIds).find((k) => f.nodeIds[k] === g.nodeId)!;
      expect(['node1', 'node3']).toContain(to);
      expect(g.history.some((h: { detail?: string }) => h.detail?.includes('(evacuation)'))).toBe(true);
      await eventually(async () => ((await coreRoute(f, vm.ip))?.gateway === node(to).ipv4 ? true : undefined), 60000, 100, `${vm.ip} at the core via ${to}`);
      counts[to]++;
      vm.node = to;
    }
    // Least VMs first: the two nodes end within one VM of each other.
    expect(Math.abs(counts.node1 - counts.node3)).toBeLessThanOrEqual(1);
    for (const [, vm] of moving) await eventually(() => pingFrom(f.lab.core.namespace, vm.ip), 10000, 200, `ping ${vm.ip} after the evacuation`);

    const back = await http('POST', `${f.api}/nodes/${f.nodeIds.node2}/undrain`, {});
    expect(back.status).toBe(200);
    expect(back.body.status).toBe('active');
    const vm = await createVm('after-evac', 'node2');
    await eventually(
      async () => ((await coreRoute(f, vm.ip))?.gateway === node('node2').ipv4 ? true : undefined),
      60000,
      100,
      'a new VM on the returned node at the core',
    );
  });

  it('keeps every VM reachable when one route reflector stops', async () => {
    const rr1 = f.lab.routeReflectors[0];
    await f.stopMemberAgent(rr1.name);
    await runIn(undefined, 'birdc', ['-s', rr1.bird.controlSocket, 'down']);
    for (const vm of Object.values(vms).filter((v) => v.id !== vms.web2.id)) {
      await eventually(async () => ((await coreRoute(f, vm.ip)) ? true : undefined), 30000, 100, `${vm.ip} still at the core`);
      await eventually(() => pingFrom(f.lab.core.namespace, vm.ip), 20000, 200, `ping ${vm.ip} through the other RR`);
    }
  });
});
