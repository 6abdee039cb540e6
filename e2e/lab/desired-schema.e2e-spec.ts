/**
 * Rolling upgrades (docs/operations/backup.md): a desired state of a schema major the agent does not know is
 * refused with a ConfigApplyFailed event and nothing is applied; the next desired state of a known schema is.
 */
import { headers } from '@nats-io/nats-core';
import { type ConfigApplied, type ConfigApplyFailed, DESIRED_SCHEMA_HEADER, DESIRED_SCHEMA_VERSION, type NodeDesiredState } from '@fabric/contracts';
import { eventually } from '@fabric/testing/infra';
import { http } from '../support/control-plane';
import { coreRoute, type Fabric, startFabric } from '../support/fabric';

jest.setTimeout(300_000);

describe('desired-state schema versions on a real lab', () => {
  let f: Fabric;

  beforeAll(async () => {
    f = await startFabric({ nodes: 1, rrs: 1 });
  });
  afterAll(async () => {
    await f?.close();
  });

  const agentEvents = async (afterSeq: number) => await f.cp.store.read(f.cp.nats.subjects.evt('agent', 'node', f.nodeIds.node1), afterSeq);

  it('an unknown major is refused with an event and not applied; the next known one is applied', async () => {
    const s = f.cp.nats.subjects;
    const subject = s.cmd('node', f.nodeIds.node1);
    const current = await eventually(
      async () => {
        const st = await http('GET', `${f.api}/nodes/${f.nodeIds.node1}/status`);
        return st.body.appliedGeneration > 0 && st.body.appliedGeneration === st.body.desiredGeneration ? st.body : undefined;
      },
      60000,
      100,
      'node1 applied its desired state',
    );
    const last = await f.cp.nats.jsm.streams.getMessage(s.commandsStream, { last_by_subj: subject });
    expect(last!.header.get(DESIRED_SCHEMA_HEADER)).toBe(DESIRED_SCHEMA_VERSION);
    const desired = last!.json<NodeDesiredState>();
    const head = await f.cp.store.headSeq();

    // A newer release's desired state (major 2) that would remove every VM if an old agent applied it blindly.
    const h = headers();
    h.set(DESIRED_SCHEMA_HEADER, '2.0');
    const future = { ...desired, generation: desired.generation + 1, hash: 'f'.repeat(64), vms: [] };
    await f.cp.nats.js.publish(subject, JSON.stringify(future), { headers: h });

    const failed = await eventually(
      async () => (await agentEvents(head)).find((e) => e.type === 'ConfigApplyFailed')?.data as ConfigApplyFailed | undefined,
      30000,
      100,
      'ConfigApplyFailed',
    );
    expect(failed).toMatchObject({ generation: desired.generation + 1 });
    expect(failed!.error).toMatch(/schema 2\.0 is not supported/);
    expect((await agentEvents(head)).filter((e) => e.type === 'ConfigApplied')).toEqual([]);
    const st = await http('GET', `${f.api}/nodes/${f.nodeIds.node1}/status`);
    expect(st.body.appliedGeneration).toBe(current.appliedGeneration);

    // The deriver's next desired state (a new VM) is of the known schema and is applied.
    const vm = await http('POST', `${f.api}/vms`, {
      clusterId: f.clusterId,
      nodeId: f.nodeIds.node1,
      name: 'after-upgrade',
      ownerId: 'customer-1',
      driver: 'netns',
      family: 4,
    });
    expect(vm.status).toBe(202);
    const applied = await eventually(
      async () => (await agentEvents(head)).map((e) => e.data as ConfigApplied).find((d) => 'changes' in d && d.generation > desired.generation),
      60000,
      100,
      'a later generation applied',
    );
    // The deriver counts from its own last generation: the refused message never counted as applied.
    expect(applied.generation).toBeGreaterThan(desired.generation);
    const ip = await eventually(async () => (await http('GET', `${f.api}/vms/${vm.body.id}`)).body.ip as string | undefined, 20000, 100, 'address');
    await eventually(async () => (await coreRoute(f, ip)) !== undefined, 60000, 100, `${ip} at the core`);
  });
});
