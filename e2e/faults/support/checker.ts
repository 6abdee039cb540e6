/**
 * A checker over the whole history rather than spot checks: what the clients were told (acknowledged
 * creates and deletes), the event stream (the source of truth), the read model in Postgres and the kernel
 * tables of the lab. Pure: given the four, it returns every violation it finds.
 */
export interface StreamEvent {
  seq: number;
  id: string;
  type: string;
  data: Record<string, any>;
}

export interface ClientHistory {
  /** vmId → the node it was placed on, for every create the API acknowledged (202, or 409 vm-exists on a retry). */
  created: Map<string, { nodeId: string }>;
  /** Every delete the API acknowledged. */
  deleted: Set<string>;
}

export interface ReadModel {
  checkpoint: number;
  vms: { id: string; ip: string | null; node_id: string; status: string }[];
  usage: { vm_id: string; ip: string; allocated_seq: number; released_seq: number | null }[];
  history: { vm_id: string; seq: number; event: string }[];
}

export interface Kernel {
  /** The core's BGP routes: destination → next hops. */
  core: Map<string, string[]>;
  /** Per node id: the fabric's routes on that node (destination → device). */
  nodes: Map<string, Map<string, string>>;
  /** Per node id: its underlay addresses (v4 and v6): a VM's route at the core must point at its node. */
  underlay: Map<string, string[]>;
}

export interface Verdict {
  violations: string[];
  /** vmId → address of every VM that must be routed now. */
  live: Map<string, { ip: string; nodeId: string }>;
  released: Set<string>;
}

const VM_EVENTS = new Set(['VmCreated', 'IpAllocated', 'IpAllocationFailed', 'VmDeleted', 'IpReleased', 'IpReleaseScheduled']);

export function checkHistory(events: StreamEvent[], client: ClientHistory, rm?: ReadModel, kernel?: Kernel): Verdict {
  const v: string[] = [];
  const seenIds = new Map<string, number>();
  const created = new Map<string, { seq: number; nodeId: string }>();
  const deleted = new Map<string, number>();
  const allocation = new Map<string, { ip: string; seq: number }>();
  const holder = new Map<string, string>(); // ip → vmId currently holding it
  const released = new Set<string>();
  const allocSeqs = new Map<number, { vmId: string; ip: string }>();
  const releaseSeqs = new Map<number, { vmId: string; ip: string }>();

  for (const e of [...events].sort((a, b) => a.seq - b.seq)) {
    // An event recorded twice (a retried append that was not deduplicated) has the same envelope id.
    const dup = seenIds.get(e.id);
    if (dup !== undefined) v.push(`event ${e.id} (${e.type}) stored twice: seq ${dup} and ${e.seq}`);
    seenIds.set(e.id, e.seq);
    if (!VM_EVENTS.has(e.type)) continue;
    const vmId = e.data.vmId as string;
    switch (e.type) {
      case 'VmCreated':
        if (created.has(vmId)) v.push(`VM ${vmId} created twice (seq ${created.get(vmId)!.seq} and ${e.seq})`);
        else created.set(vmId, { seq: e.seq, nodeId: e.data.nodeId });
        break;
      case 'IpAllocated': {
        if (!created.has(vmId)) v.push(`IpAllocated for VM ${vmId} before/without VmCreated (seq ${e.seq})`);
        if (allocation.has(vmId))
          v.push(`VM ${vmId} allocated twice: ${allocation.get(vmId)!.ip} (seq ${allocation.get(vmId)!.seq}) and ${e.data.ip} (seq ${e.seq})`);
        const other = holder.get(e.data.ip);
        if (other && other !== vmId) v.push(`address ${e.data.ip} given to VM ${vmId} (seq ${e.seq}) while VM ${other} holds it`);
        allocation.set(vmId, { ip: e.data.ip, seq: e.seq });
        holder.set(e.data.ip, vmId);
        allocSeqs.set(e.seq, { vmId, ip: e.data.ip });
        break;
      }
      case 'VmDeleted':
        if (deleted.has(vmId)) v.push(`VM ${vmId} deleted twice (seq ${deleted.get(vmId)} and ${e.seq})`);
        if (!created.has(vmId)) v.push(`VmDeleted for unknown VM ${vmId} (seq ${e.seq})`);
        deleted.set(vmId, e.seq);
        break;
      case 'IpReleased': {
        if (!deleted.has(vmId)) v.push(`address ${e.data.ip} of VM ${vmId} released while the VM exists (seq ${e.seq})`);
        if (released.has(vmId)) v.push(`address of VM ${vmId} released twice (seq ${e.seq})`);
        if (allocation.get(vmId)?.ip !== e.data.ip) v.push(`VM ${vmId} releases ${e.data.ip} it never held (seq ${e.seq})`);
        if (holder.get(e.data.ip) === vmId) holder.delete(e.data.ip);
        released.add(vmId);
        releaseSeqs.set(e.seq, { vmId, ip: e.data.ip });
        break;
      }
      case 'IpAllocationFailed':
        v.push(`allocation failed for VM ${vmId}: ${e.data.reason} ${e.data.message}`);
        break;
    }
  }

  // Client ⇔ stream: every acknowledged write happened exactly once, nothing happened that nobody asked for.
  for (const [vmId, c] of client.created) {
    const s = created.get(vmId);
    if (!s) v.push(`create of VM ${vmId} acknowledged but no VmCreated in the stream (lost)`);
    else if (s.nodeId !== c.nodeId) v.push(`VM ${vmId} placed on ${s.nodeId}, asked for ${c.nodeId}`);
  }
  for (const vmId of created.keys()) if (!client.created.has(vmId)) v.push(`VM ${vmId} in the stream, never acknowledged to a client`);
  for (const vmId of client.deleted) if (!deleted.has(vmId)) v.push(`delete of VM ${vmId} acknowledged but no VmDeleted (lost)`);
  for (const vmId of deleted.keys()) if (!client.deleted.has(vmId)) v.push(`VM ${vmId} deleted, never asked for`);

  const live = new Map<string, { ip: string; nodeId: string }>();
  for (const [vmId, c] of created) {
    if (deleted.has(vmId)) {
      if (!released.has(vmId)) v.push(`deleted VM ${vmId} still holds ${allocation.get(vmId)?.ip ?? 'no address'} (cool-down 0: must be released)`);
      continue;
    }
    const a = allocation.get(vmId);
    if (!a) v.push(`VM ${vmId} has no address`);
    else live.set(vmId, { ip: a.ip, nodeId: c.nodeId });
  }
  const byIp = new Map<string, string>();
  for (const [vmId, { ip }] of live) {
    if (byIp.has(ip)) v.push(`address ${ip} held by VMs ${byIp.get(ip)} and ${vmId}`);
    byIp.set(ip, vmId);
  }

  if (rm) {
    const head = Math.max(0, ...[...allocSeqs.keys(), ...releaseSeqs.keys(), ...[...created.values()].map((c) => c.seq), ...deleted.values()]);
    if (rm.checkpoint < head) v.push(`read model checkpoint ${rm.checkpoint} behind the last VM event ${head}`);
    const rows = new Map(rm.vms.map((r) => [r.id, r]));
    for (const [vmId, { ip, nodeId }] of live) {
      const r = rows.get(vmId);
      if (!r) v.push(`read model: VM ${vmId} missing`);
      else {
        if (r.ip !== ip) v.push(`read model: VM ${vmId} has ${r.ip}, stream says ${ip}`);
        if (r.node_id !== nodeId) v.push(`read model: VM ${vmId} on ${r.node_id}, stream says ${nodeId}`);
        if (r.status !== 'at-core') v.push(`read model: VM ${vmId} (${ip}) is ${r.status}, not at-core`);
      }
    }
    for (const r of rm.vms) {
      if (!created.has(r.id)) v.push(`read model: VM ${r.id} the stream does not know`);
      else if (deleted.has(r.id) && r.status !== 'deleted') v.push(`read model: deleted VM ${r.id} is ${r.status}`);
    }
    // Each allocation and release applied exactly once: one usage row per IpAllocated, closed by its IpReleased.
    const usageByAlloc = new Map<number, number>();
    for (const u of rm.usage) {
      usageByAlloc.set(Number(u.allocated_seq), (usageByAlloc.get(Number(u.allocated_seq)) ?? 0) + 1);
      const a = allocSeqs.get(Number(u.allocated_seq));
      if (!a || a.vmId !== u.vm_id || a.ip !== u.ip) v.push(`read model: usage row ${u.vm_id} ${u.ip} @${u.allocated_seq} matches no IpAllocated`);
      const rel = u.released_seq === null ? undefined : releaseSeqs.get(Number(u.released_seq));
      if (u.released_seq !== null && (!rel || rel.vmId !== u.vm_id))
        v.push(`read model: usage row ${u.vm_id} released @${u.released_seq} matches no IpReleased`);
      if (u.released_seq === null && released.has(u.vm_id)) v.push(`read model: ${u.ip} of VM ${u.vm_id} released in the stream, open in the read model`);
    }
    for (const [seq, a] of allocSeqs)
      if ((usageByAlloc.get(seq) ?? 0) !== 1) v.push(`read model: IpAllocated @${seq} (${a.ip}) applied ${usageByAlloc.get(seq) ?? 0} times`);
    const hist = new Set(rm.history.map((h) => `${h.vm_id}@${h.seq}`));
    for (const [vmId, c] of created) if (!hist.has(`${vmId}@${c.seq}`)) v.push(`read model: VM ${vmId} history lacks its VmCreated @${c.seq}`);
  }

  if (kernel) {
    const want = new Map([...live.values()].map((x) => [x.ip, x.nodeId]));
    for (const [ip, nodeId] of want) {
      const hops = kernel.core.get(ip);
      if (!hops) v.push(`core: no route to ${ip}`);
      else if (!hops.some((h) => kernel.underlay.get(nodeId)?.includes(h)))
        v.push(`core: ${ip} via ${hops.join(',')}, not its node ${kernel.underlay.get(nodeId)?.join('/')}`);
    }
    const vmPrefixes = /^(203\.0\.113\.|198\.51\.100\.|2001:db8:1::)/;
    for (const ip of kernel.core.keys()) if (vmPrefixes.test(ip) && !want.has(ip)) v.push(`core: route to ${ip} that no live VM holds`);
    const onNode = new Map<string, string>();
    for (const [nodeId, routes] of kernel.nodes) {
      for (const ip of routes.keys()) {
        if (want.get(ip) !== nodeId) v.push(`node ${nodeId}: route to ${ip} that belongs ${want.has(ip) ? `on ${want.get(ip)}` : 'to no live VM'}`);
        if (onNode.has(ip)) v.push(`${ip} routed on two nodes: ${onNode.get(ip)} and ${nodeId}`);
        onNode.set(ip, nodeId);
      }
    }
    for (const [ip, nodeId] of want) if (!kernel.nodes.get(nodeId)?.has(ip)) v.push(`node ${nodeId}: no route to its VM ${ip}`);
  }
  return { violations: v, live, released };
}
