/**
 * Evacuation placement: which VMs of an evacuated node move next, and where.
 * Rule (documented in docs/operations/evacuation.md): each VM goes to the active node of the cluster with the
 * fewest VMs at that moment (VMs migrating in count as there), ties broken by node name then id; at most
 * `limit` migrations from the node run at once; VMs are taken in a stable order (by id) so a restarted
 * inventory continues with the same plan.
 */
export interface EvacuationCandidate {
  nodeId: string;
  name: string;
  /** VMs placed on the node now, including those migrating to it. */
  vmCount: number;
}
export interface EvacuationInput {
  /** VMs still on the evacuated node and not migrating. */
  waiting: string[];
  /** Migrations away from the node not yet completed. */
  inFlight: number;
  limit: number;
  /** Active nodes of the cluster other than the evacuated one. */
  candidates: EvacuationCandidate[];
}
export interface EvacuationMove {
  vmId: string;
  toNodeId: string;
}

export function nextMoves(input: EvacuationInput): EvacuationMove[] {
  const slots = Math.max(0, input.limit - input.inFlight);
  if (slots === 0 || input.candidates.length === 0) return [];
  const load = input.candidates.map((c) => ({ ...c }));
  const byLoad = (a: EvacuationCandidate, b: EvacuationCandidate) => a.vmCount - b.vmCount || a.name.localeCompare(b.name) || a.nodeId.localeCompare(b.nodeId);
  return [...input.waiting]
    .sort()
    .slice(0, slots)
    .map((vmId) => {
      const target = load.sort(byLoad)[0];
      target.vmCount++;
      return { vmId, toNodeId: target.nodeId };
    });
}
