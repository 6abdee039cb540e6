/** The fault suite's history checker must catch what it claims to catch (pure: given histories, then verdicts). */
import { checkHistory, type ClientHistory, type Kernel, type ReadModel, type StreamEvent } from './support/checker';

const N1 = '00000000-0000-4000-8000-0000000000a1';
const N2 = '00000000-0000-4000-8000-0000000000a2';
const vm = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

let seq = 0;
const ev = (type: string, data: Record<string, unknown>, id = `e${seq + 1}`): StreamEvent => ({ seq: ++seq, id, type, data });
const created = (v: string, nodeId = N1) => ev('VmCreated', { vmId: v, nodeId });
const allocated = (v: string, ip: string) => ev('IpAllocated', { vmId: v, ip });
const deleted = (v: string) => ev('VmDeleted', { vmId: v });
const released = (v: string, ip: string) => ev('IpReleased', { vmId: v, ip });

const clientOf = (creates: [string, string][], deletes: string[] = []): ClientHistory => ({
  created: new Map(creates.map(([v, n]) => [v, { nodeId: n }])),
  deleted: new Set(deletes),
});

const kernelOf = (core: Record<string, string>, nodes: Record<string, string[]>): Kernel => ({
  core: new Map(Object.entries(core).map(([ip, hop]) => [ip, [hop]])),
  nodes: new Map(Object.entries(nodes).map(([n, ips]) => [n, new Map(ips.map((ip) => [ip, 'vmx']))])),
  underlay: new Map([
    [N1, ['198.18.0.101']],
    [N2, ['198.18.0.102']],
  ]),
});

const readModelOf = (events: StreamEvent[], over: Partial<ReadModel> = {}): ReadModel => {
  const vms = new Map<string, { id: string; ip: string | null; node_id: string; status: string }>();
  const usage: ReadModel['usage'] = [];
  const history: ReadModel['history'] = [];
  for (const e of events) {
    const v = e.data.vmId as string;
    if (e.type === 'VmCreated') {
      vms.set(v, { id: v, ip: null, node_id: e.data.nodeId as string, status: 'at-core' });
      history.push({ vm_id: v, seq: e.seq, event: 'VmCreated' });
    }
    if (e.type === 'IpAllocated') {
      vms.get(v)!.ip = e.data.ip as string;
      usage.push({ vm_id: v, ip: e.data.ip as string, allocated_seq: e.seq, released_seq: null });
    }
    if (e.type === 'VmDeleted') vms.get(v)!.status = 'deleted';
    if (e.type === 'IpReleased') usage.find((u) => u.vm_id === v)!.released_seq = e.seq;
  }
  return { checkpoint: events.at(-1)?.seq ?? 0, vms: [...vms.values()], usage, history, ...over };
};

describe('history checker', () => {
  beforeEach(() => (seq = 0));

  it('accepts a history where an address is released and given to another VM', () => {
    const h = [
      created(vm(1)),
      allocated(vm(1), '203.0.113.10'),
      deleted(vm(1)),
      released(vm(1), '203.0.113.10'),
      created(vm(2), N2),
      allocated(vm(2), '203.0.113.10'),
    ];
    const r = checkHistory(
      h,
      clientOf(
        [
          [vm(1), N1],
          [vm(2), N2],
        ],
        [vm(1)],
      ),
      readModelOf(h),
      kernelOf({ '203.0.113.10': '198.18.0.102' }, { [N2]: ['203.0.113.10'], [N1]: [] }),
    );
    expect(r.violations).toEqual([]);
    expect([...r.live.keys()]).toEqual([vm(2)]);
  });

  it('finds an address given to a second VM while the first holds it', () => {
    const h = [created(vm(1)), allocated(vm(1), '203.0.113.10'), created(vm(2)), allocated(vm(2), '203.0.113.10')];
    expect(
      checkHistory(
        h,
        clientOf([
          [vm(1), N1],
          [vm(2), N1],
        ]),
      ).violations,
    ).toEqual(expect.arrayContaining([expect.stringContaining('given to VM'), expect.stringContaining('held by VMs')]));
  });

  it('finds an event stored twice and a VM created twice', () => {
    const h = [created(vm(1)), ev('VmCreated', { vmId: vm(1), nodeId: N1 }, 'e1'), allocated(vm(1), '203.0.113.10')];
    const r = checkHistory(h, clientOf([[vm(1), N1]]));
    expect(r.violations).toEqual(expect.arrayContaining([expect.stringContaining('stored twice'), expect.stringContaining('created twice')]));
  });

  it('finds an acknowledged create that never reached the stream, and a write nobody asked for', () => {
    const h = [created(vm(2)), allocated(vm(2), '203.0.113.11')];
    const r = checkHistory(h, clientOf([[vm(1), N1]]));
    expect(r.violations).toEqual(
      expect.arrayContaining([expect.stringContaining(`create of VM ${vm(1)} acknowledged`), expect.stringContaining('never acknowledged')]),
    );
  });

  it('finds a deleted VM that keeps its address', () => {
    const h = [created(vm(1)), allocated(vm(1), '203.0.113.10'), deleted(vm(1))];
    expect(checkHistory(h, clientOf([[vm(1), N1]], [vm(1)])).violations).toEqual([expect.stringContaining('still holds 203.0.113.10')]);
  });

  it('finds an allocation the read model applied twice, or not at all, and a lagging checkpoint', () => {
    const h = [created(vm(1)), allocated(vm(1), '203.0.113.10')];
    const rm = readModelOf(h);
    const twice = checkHistory(h, clientOf([[vm(1), N1]]), { ...rm, usage: [...rm.usage, ...rm.usage] });
    expect(twice.violations).toEqual([expect.stringContaining('applied 2 times')]);
    const never = checkHistory(h, clientOf([[vm(1), N1]]), { ...rm, usage: [], checkpoint: 1 });
    expect(never.violations).toEqual(expect.arrayContaining([expect.stringContaining('applied 0 times'), expect.stringContaining('checkpoint 1 behind')]));
  });

  it('finds a route missing at the core, pointing at the wrong node, left on a node, or on two nodes', () => {
    const h = [created(vm(1)), allocated(vm(1), '203.0.113.10'), created(vm(2), N2), allocated(vm(2), '203.0.113.11')];
    const client = clientOf([
      [vm(1), N1],
      [vm(2), N2],
    ]);
    const r = checkHistory(
      h,
      client,
      undefined,
      kernelOf({ '203.0.113.10': '198.18.0.102', '203.0.113.99': '198.18.0.101' }, { [N1]: ['203.0.113.10', '203.0.113.11'], [N2]: ['203.0.113.11'] }),
    );
    expect(r.violations).toEqual(
      expect.arrayContaining([
        expect.stringContaining('core: no route to 203.0.113.11'),
        expect.stringContaining('core: 203.0.113.10 via 198.18.0.102, not its node'),
        expect.stringContaining('core: route to 203.0.113.99 that no live VM holds'),
        expect.stringContaining('routed on two nodes'),
      ]),
    );
  });
});
