/**
 * BMP vs the FRR agent's read of the core (real NATS, Postgres, gateway): a prefix one source holds and the other
 * does not is reported after the grace period (router status API, metric) and cleared when they agree again.
 */
import { type FabricEvent } from '@fabric/contracts';
import { eventually } from '@fabric/testing/infra';
import { appendEvents } from '@fabric/testing/fabric';
import { type ControlPlane, clusterBody, http, startControlPlane } from '../support/control-plane';

const GRACE_MS = 600;
const route = (ip: string) => ({ prefix: `${ip}/32`, nextHop: '198.18.0.2' });

describe('given an FRR cluster with a BMP station whose core agent applied a config', () => {
  let cp: ControlPlane;
  let clusterId: string;
  const status = async () => (await http('GET', `${cp.api}/clusters/${clusterId}/router/status`)).body;
  const agent = (added: ReturnType<typeof route>[], withdrawn: ReturnType<typeof route>[] = [], resync?: 'full') =>
    appendEvents(cp.store, [
      {
        type: 'RoutesChanged',
        data: { target: { kind: 'router', id: clusterId }, added, withdrawn, ...(resync ? { resync } : {}), total: added.length },
      } as FabricEvent,
    ]);
  const bmp = (added: ReturnType<typeof route>[], withdrawn: ReturnType<typeof route>[] = [], resync?: 'full') =>
    cp.store.append(cp.store.subjects.obsBmp(clusterId), [
      {
        id: `bmp-${Date.now()}-${Math.random()}`,
        event: {
          type: 'RoutesChanged',
          data: { target: { kind: 'router', id: clusterId }, added, withdrawn, ...(resync ? { resync } : {}), total: added.length },
        },
      },
    ]);
  const metric = async () => {
    const text = await (await fetch(cp.api.replace('/api/v1', '/metrics'))).text();
    return text.split('\n').filter((l) => l.startsWith('fabric_bmp_disagreement_prefixes{') && l.includes(clusterId));
  };

  beforeAll(async () => {
    cp = await startControlPlane({ gateway: { bmpGraceMs: GRACE_MS } });
    const r = await http('POST', `${cp.api}/clusters`, clusterBody('bmpdis'));
    expect(r.status).toBe(201);
    clusterId = r.body.id;
  });
  afterAll(async () => {
    await cp?.close();
  });

  it('given no station yet, then nothing is compared', async () => {
    const s = await status();
    expect(s).toMatchObject({ clusterId, bmpStation: null, bmp: { compared: false, disagreements: [], graceMs: GRACE_MS } });
  });

  it('when a prefix is held by the agent only past the grace period, then it is reported (API, metric); when BMP holds it too, cleared', async () => {
    expect((await http('PATCH', `${cp.api}/clusters/${clusterId}/bgp`, { bmpStation: { address: '127.0.0.1', port: 11019 } })).status).toBe(200);
    const target = { kind: 'router' as const, id: clusterId };
    await appendEvents(cp.store, [{ type: 'ConfigApplied', data: { target, generation: 1, hash: 'h1', changes: 1, durationMs: 1 } } as FabricEvent]);
    await agent([route('203.0.113.1'), route('203.0.113.2')], [], 'full');
    await bmp([route('203.0.113.1')], [], 'full');
    const reported = await eventually(async () => ((await status()).bmp.disagreements.length ? status() : undefined), 15000, 100, 'disagreement reported');
    expect(reported.bmpStation).toEqual({ address: '127.0.0.1', port: 11019 });
    expect(reported.bmp.compared).toBe(true);
    expect(reported.bmp.disagreements).toEqual([{ prefix: '203.0.113.2/32', heldBy: 'agent', since: expect.any(String) }]);
    expect(reported.routes).toEqual({ agent: 2, bmp: 1 });
    expect(Date.parse(reported.bmp.sampledAt) - Date.parse(reported.bmp.disagreements[0].since)).toBeGreaterThanOrEqual(GRACE_MS);
    expect(await metric()).toContain(`fabric_bmp_disagreement_prefixes{cluster="${clusterId}",held_by="agent"} 1`);
    await bmp([route('203.0.113.2')]);
    await eventually(async () => ((await status()).bmp.disagreements.length === 0 ? true : undefined), 15000, 100, 'disagreement cleared');
    expect((await status()).routes).toEqual({ agent: 2, bmp: 2 });
    await eventually(
      async () => ((await metric()).includes(`fabric_bmp_disagreement_prefixes{cluster="${clusterId}",held_by="agent"} 0`) ? true : undefined),
      15000,
      100,
      'metric 0',
    );
  });

  it('when the station is unset, then the cluster is no longer compared', async () => {
    await bmp([], [route('203.0.113.1')]);
    expect((await http('PATCH', `${cp.api}/clusters/${clusterId}/bgp`, { bmpStation: null })).status).toBe(200);
    await eventually(async () => ((await status()).bmp.compared === false ? true : undefined), 15000, 100, 'not compared');
    expect((await status()).bmp.disagreements).toEqual([]);
  });
});
