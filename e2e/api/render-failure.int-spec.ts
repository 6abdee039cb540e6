/**
 * A desired state that cannot be rendered never freezes its target silently: rr-config records
 * TargetRenderFailed, and GET /clusters/:id/targets shows every affected route reflector in drift with the
 * reason; once the input is repaired, TargetRenderRecovered clears it. The input used here (a node on the
 * core router's address) is refused by the API; the test writes it straight to the stream, as an older
 * version or a forged event would have.
 */
import { randomUUID } from 'node:crypto';
import { appendEvents, ev } from '@fabric/testing/fabric';
import { eventually } from '@fabric/testing/infra';
import { startRrConfig } from '../../services/rr-config/src/main';
import { type ControlPlane, clusterBody, http, startControlPlane } from '../support/control-plane';
import { readModelCaughtUp } from '../support/api-fixtures';

describe('a target whose desired state cannot be rendered', () => {
  let cp: ControlPlane;
  let rr: Awaited<ReturnType<typeof startRrConfig>> | undefined;
  let clusterId: string;

  beforeAll(async () => {
    cp = await startControlPlane();
    const c = await http('POST', `${cp.api}/clusters`, clusterBody('render'));
    expect(c.status).toBe(201);
    clusterId = c.body.id;
    expect((await http('POST', `${cp.api}/clusters/${clusterId}/nodes`, { name: 'node1', underlayIp: '198.18.1.100' })).status).toBe(201);
    rr = await startRrConfig({ ns: cp.ns });
  });
  afterAll(async () => {
    await rr?.close();
    await cp?.close();
  });

  const rrTargets = async () => ((await http('GET', `${cp.api}/clusters/${clusterId}/targets`)).body as any[]).filter((t) => t.kind === 'rr');

  it('shows as drift with the reason, and clears when the input is repaired', async () => {
    const before = await eventually(
      async () => {
        const ts = await rrTargets();
        return ts.length === 2 && ts.every((t) => t.desiredGeneration >= 1) ? ts : undefined;
      },
      20000,
      100,
      'both RRs rendered',
    );
    expect(before.every((t) => t.renderError === null)).toBe(true);

    // Refused over HTTP…
    expect((await http('POST', `${cp.api}/clusters/${clusterId}/nodes`, { name: 'bad', underlayIp: '198.18.0.1' })).body.code).toBe('underlay-is-core-router');
    // …but present in the stream: every RR config would list the core twice.
    const bad = randomUUID();
    await appendEvents(cp.store, [ev.nodeJoined(bad, 'bad', '198.18.0.1', undefined, clusterId)]);

    const failed = await eventually(
      async () => {
        await readModelCaughtUp(cp);
        const ts = await rrTargets();
        return ts.every((t) => t.renderError) ? ts : undefined;
      },
      20000,
      100,
      'TargetRenderFailed on both RRs',
    );
    for (const t of failed) {
      expect(t.drift).toBe(true);
      expect(t.renderError).toContain('198.18.0.1');
      expect(t.desiredGeneration).toBe(before.find((b) => b.targetId === t.targetId).desiredGeneration);
    }
    const metrics = await (await fetch(cp.api.replace('/api/v1', '/metrics'))).text();
    for (const t of failed) expect(metrics).toContain(`fabric_target_render_failed{kind="rr",target="${t.targetId}"} 1`);
    const events = await cp.store.read(cp.store.subjects.evtAll('desired'));
    expect(
      events
        .filter((e) => e.type === 'TargetRenderFailed')
        .map((e) => (e.data as { target: { id: string } }).target.id)
        .sort(),
    ).toEqual(failed.map((t) => t.targetId).sort());

    await appendEvents(cp.store, [{ type: 'NodeLeft', data: { nodeId: bad, clusterId } }]);
    await eventually(
      async () => {
        await readModelCaughtUp(cp);
        return (await rrTargets()).every((t) => t.renderError === null) || undefined;
      },
      20000,
      100,
      'TargetRenderRecovered on both RRs',
    );
  });
});
