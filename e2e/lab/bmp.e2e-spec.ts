/**
 * BMP on the lab, end to end as an operator runs it: the cluster's BMP station is set through the API, router-config
 * renders it into the core's FRR config, the core agent applies it, and FRR (bgpd_bmp) opens its session to the
 * product's collector — started with the arguments `npm start` / `npm run bmp-sync` give it (deploy/bmp-collectors.ts),
 * on the host, reached over the lab's management link from the core's own address. The collector's routes count as
 * the core's second source: with the FRR agent stopped, a VM still reaches `at-core` by BMP alone.
 */
import { createServer } from 'node:net';
import * as path from 'node:path';
import { MANAGEMENT_IPV4 } from '@fabric/lab-state';
import { eventually } from '@fabric/testing/infra';
import { bmpCollectorPlan, type BmpClusterView } from '../../deploy/bmp-collectors';
import { http } from '../support/control-plane';
import { coreRoute, type Fabric, startFabric } from '../support/fabric';
import { killAllChildren, type ServiceProcess, spawnProgram } from '../support/processes';

jest.setTimeout(600_000);

const ROOT = path.resolve(__dirname, '..', '..');

/** A port free on the management address now (the collector binds it next). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

describe('BMP from the lab core to the product collector', () => {
  let f: Fabric;
  let port: number;
  let collector: ServiceProcess | undefined;

  beforeAll(async () => {
    f = await startFabric({ nodes: 1, rrs: 1, management: true });
    port = await freePort(MANAGEMENT_IPV4);
  });
  afterAll(async () => {
    await collector?.stop();
    await killAllChildren();
    await f?.close();
  });

  const node = () => f.lab.nodes[0];
  const routerStatus = async () => (await http('GET', `${f.api}/clusters/${f.clusterId}/router/status`)).body;

  /** The collector of this cluster as the launcher would run it, on the test's NATS namespace. */
  async function startCollector(): Promise<ServiceProcess> {
    const clusters = (await http('GET', `${f.api}/clusters`)).body as BmpClusterView[];
    const spec = bmpCollectorPlan(clusters, ROOT).collectors.find((c) => c.clusterId === f.clusterId);
    expect(spec).toBeDefined();
    // It listens on the station and accepts the core's underlay address only.
    expect(spec!.args.slice(1)).toEqual(['--cluster', f.clusterId, '--router', f.lab.core.ipv4, '--listen', MANAGEMENT_IPV4, '--port', String(port)]);
    const child = spawnProgram('bmp-collector', [...spec!.args, '--ns', f.cp.ns]);
    await child.waitFor('BMP collector listening', 30_000);
    return child;
  }

  async function createVm(name: string): Promise<{ id: string; ip: string }> {
    const c = await http('POST', `${f.api}/vms`, {
      clusterId: f.clusterId,
      nodeId: f.nodeIds[node().name],
      name,
      ownerId: 'customer-1',
      driver: 'netns',
      family: 4,
    });
    expect(c.status).toBe(202);
    return eventually(
      async () => {
        const g = await http('GET', `${f.api}/vms/${c.body.id}`);
        return g.body.ip ? { id: c.body.id as string, ip: g.body.ip as string } : undefined;
      },
      15_000,
      50,
      `an address for ${name}`,
    );
  }

  const vmStatus = async (id: string) => (await http('GET', `${f.api}/vms/${id}`)).body;

  it('given a VM at the core, when the BMP station is set through the API, then the core connects to the collector and BMP holds the VM route too', async () => {
    const vm1 = await createVm('bmp-vm1');
    await eventually(async () => ((await vmStatus(vm1.id)).status === 'at-core' ? true : undefined), 90_000, 100, 'vm1 at-core (the FRR agent)');
    expect((await routerStatus()).routes).toEqual({ agent: 1, bmp: 0 });

    const p = await http('PATCH', `${f.api}/clusters/${f.clusterId}/bgp`, { bmpStation: { address: MANAGEMENT_IPV4, port } });
    expect(p.status).toBe(200);
    collector = await startCollector();
    // router-config renders the station, the core agent applies it, bgpd_bmp connects (retrying every second).
    await collector.waitFor('BMP session up', 90_000);
    const st = await eventually(
      async () => {
        const s = await routerStatus();
        return s.routes.bmp === 1 ? s : undefined;
      },
      60_000,
      200,
      "the collector's table holds the VM route",
    );
    expect(st.bmpStation).toEqual({ address: MANAGEMENT_IPV4, port });
    expect(st.routes).toEqual({ agent: 1, bmp: 1 });
    // Both sources are compared and agree.
    await eventually(async () => ((await routerStatus()).bmp.compared ? true : undefined), 30_000, 200, 'both sources compared');
    expect((await routerStatus()).bmp.disagreements).toEqual([]);
  });

  it('given the FRR agent stopped, when a new VM is announced and the core syncs its table to the collector, then the VM is at-core by BMP alone', async () => {
    await f.stopMemberAgent(f.lab.core.name);
    const vm2 = await createVm('bmp-vm2');
    await eventually(async () => ((await coreRoute(f, vm2.ip))?.gateway === node().ipv4 ? true : undefined), 90_000, 100, 'vm2 installed at the core');
    // FRR 8.4's bgpd_bmp sends a live announcement as a withdrawal (docs/adr/bmp-collector.md): the table it sends at
    // session start is right, so the collector restarts and the core resends its table.
    await collector!.stop();
    collector = await startCollector();
    await collector.waitFor('BMP session up', 60_000);
    const v = await eventually(
      async () => {
        const s = await vmStatus(vm2.id);
        return s.status === 'at-core' ? s : undefined;
      },
      60_000,
      200,
      'vm2 at-core by BMP',
    );
    expect(v.history.some((h: { detail?: string }) => h.detail === 'at the core (BMP)')).toBe(true);
    expect((await routerStatus()).routes.bmp).toBe(2);
    await f.startMemberAgent(f.lab.core.name);
  });
});
