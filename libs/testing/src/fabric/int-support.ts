/** Test-only helpers for the deriver integration specs (real NATS): append fixtures, read commands. */
import type { DesiredState, FabricEvent, TargetKind } from '@fabric/contracts';
import { type EventStore, type Nats } from '@fabric/eventstore';

let counter = 0;

/** The aggregate subject an event belongs to (one subject per aggregate instance). */
export function subjectOf(store: EventStore, e: FabricEvent): string {
  const s = store.subjects;
  const d = e.data as unknown as Record<string, unknown>;
  switch (e.type) {
    case 'ClusterCreated':
    case 'RouteReflectorAdded':
    case 'RouteReflectorRemoved':
      return s.evt('cluster', d.clusterId as string);
    case 'NodeJoined':
    case 'NodeDrained':
    case 'NodeLeft':
      return s.evt('node', d.nodeId as string);
    case 'VmCreated':
    case 'VmDeleted':
    case 'VmMigrationRequested':
    case 'VmMigrationCompleted':
      return s.evt('vm', d.vmId as string);
    case 'NetworkAdded':
    case 'PoolAdded':
    case 'IpAllocated':
    case 'IpAllocationFailed':
    case 'IpReleaseScheduled':
    case 'IpReleased':
      return s.evt('ipam', d.clusterId as string);
    case 'RoutesObserved':
    case 'RoutesChanged':
    case 'BgpSessionStateChanged': {
      // Observations: the observations stream, like the agents publish them.
      const t = d.target as { kind: TargetKind; id: string };
      return s.obs(t.kind, t.id);
    }
    case 'ConfigApplied':
    case 'ConfigApplyFailed': {
      const t = d.target as { kind: string; id: string };
      return s.evt('agent', t.kind, t.id);
    }
    default:
      throw new Error(`no fixture subject for ${e.type}`);
  }
}

/** Appends events in order (no expected sequence: fixtures, not deciders). Returns their sequences. */
export async function appendEvents(store: EventStore, events: FabricEvent[]): Promise<number[]> {
  const seqs: number[] = [];
  for (const event of events) {
    const r = await store.append(subjectOf(store, event), [{ id: `fixture-${process.pid}-${++counter}`, event }]);
    seqs.push(...r.seqs);
  }
  return seqs;
}

/** Appends many events with bounded concurrency (a burst); order within one aggregate is kept by the caller. */
export async function appendBurst(store: EventStore, groups: FabricEvent[][], concurrency = 32): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < groups.length) await appendEvents(store, groups[next++]);
    }),
  );
}

export async function lastCommand<T extends DesiredState = DesiredState>(nats: Nats, kind: TargetKind, id: string): Promise<T | null> {
  const m = await nats.jsm.streams.getMessage(nats.subjects.commandsStream, { last_by_subj: nats.subjects.cmd(kind, id) });
  return m ? m.json<T>() : null;
}

export async function commandsLastSeq(nats: Nats): Promise<number> {
  return (await nats.jsm.streams.info(nats.subjects.commandsStream)).state.last_seq;
}
