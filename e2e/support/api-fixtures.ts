/** Small helpers over a running control plane: stream positions, events by type, a ready-made cluster. */
import { randomUUID } from 'node:crypto';
import { type EventType, type StoredEvent } from '@fabric/contracts';
import { type EventStore, type Nats, RpcClient } from '@fabric/eventstore';
import { eventually } from '@fabric/testing/infra';
import { clusterBody, type ControlPlane, http } from './control-plane';

/** Last sequence of the namespace's events stream (what the brief calls "the stream head"). */
export async function streamLastSeq(nats: Nats): Promise<number> {
  return (await nats.jsm.streams.info(nats.subjects.eventsStream)).state.last_seq;
}

export async function eventsOfType(store: EventStore, filter: string, type: EventType): Promise<StoredEvent[]> {
  return (await store.read(filter)).filter((e) => e.type === type);
}

/** Counts events per VM id, e.g. IpAllocated per VM. */
export function countByVm(events: StoredEvent[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of events) {
    const vmId = (e.data as { vmId: string }).vmId;
    m.set(vmId, (m.get(vmId) ?? 0) + 1);
  }
  return m;
}

export interface Fixture {
  clusterId: string;
  networkId: string;
  nodeIds: string[];
}

/** A cluster with one network/pool and `nodes` nodes, all over HTTP, asserting each step succeeded. */
export async function createFixture(
  cp: ControlPlane,
  opts: { name?: string; cidr?: string; pools?: { start: string; end: string }[]; nodes?: number; underlayBase?: number } = {},
): Promise<Fixture> {
  const c = await http('POST', `${cp.api}/clusters`, clusterBody(opts.name ?? 'lab'));
  if (c.status !== 201) throw new Error(`cluster: ${c.status} ${JSON.stringify(c.body)}`);
  const n = await http('POST', `${cp.api}/clusters/${c.body.id}/networks`, {
    cidr: opts.cidr ?? '203.0.113.0/24',
    pools: opts.pools ?? [{ start: '203.0.113.10', end: '203.0.113.200' }],
  });
  if (n.status !== 201) throw new Error(`network: ${n.status} ${JSON.stringify(n.body)}`);
  const nodeIds: string[] = [];
  for (let i = 0; i < (opts.nodes ?? 1); i++) {
    const node = await http('POST', `${cp.api}/clusters/${c.body.id}/nodes`, {
      name: `node${i + 1}`,
      underlayIp: `198.18.1.${(opts.underlayBase ?? 100) + i}`,
    });
    if (node.status !== 201) throw new Error(`node: ${node.status} ${JSON.stringify(node.body)}`);
    nodeIds.push(node.body.id);
  }
  return { clusterId: c.body.id, networkId: n.body.id, nodeIds };
}

/** Waits until the VM has left `requested` (IPAM decided) and returns it as the API shows it. */
export async function settledVm(cp: ControlPlane, vmId: string, timeoutMs = 15000): Promise<any> {
  return eventually(
    async () => {
      const r = await http('GET', `${cp.api}/vms/${vmId}`);
      return r.status === 200 && r.body.status !== 'requested' ? r.body : undefined;
    },
    timeoutMs,
    50,
    `VM ${vmId} to be decided by IPAM`,
  );
}

/** The gateway's read model has applied everything stored in the stream; returns that head. */
export async function readModelCaughtUp(cp: ControlPlane, timeoutMs = 30000): Promise<number> {
  return eventually(
    async () => {
      const head = await streamLastSeq(cp.nats);
      return cp.gateway.runner.currentPosition >= head ? head : undefined;
    },
    timeoutMs,
    50,
    'read model to reach the stream head',
  );
}

/**
 * Creates VMs straight through inventory's NATS request/reply (no HTTP, no read-your-writes wait), with
 * `concurrency` requests in flight. Returns the VM ids in the order of `names`; throws on any refusal.
 */
export async function createVmsViaRpc(cp: ControlPlane, clusterId: string, nodeId: string, names: string[], concurrency = 25): Promise<string[]> {
  const rpc = new RpcClient(cp.nats, 30_000);
  const ids: string[] = new Array(names.length);
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const i = next++;
      const reply = await rpc.request<{ vmId: string }>('inventory', 'CreateVm', {
        commandId: randomUUID(),
        payload: { clusterId, nodeId, name: names[i], ownerId: 'bulk' },
      });
      if (!reply.ok) throw new Error(`CreateVm ${names[i]} refused: ${JSON.stringify(reply.error)}`);
      ids[i] = reply.result.vmId;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return ids;
}

/** Messages stored on one subject (one request, no consumer). */
export async function subjectCount(nats: Nats, subject: string): Promise<number> {
  const info = await nats.jsm.streams.info(nats.subjects.eventsStream, { subjects_filter: subject } as never);
  return (info.state as { subjects?: Record<string, number> }).subjects?.[subject] ?? 0;
}
