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
/** A move of the plan a dry run answers, with the names an operator reads. */
export interface EvacuationPlanMove extends EvacuationMove {
  vmName: string;
  clusterId: string;
  fromNodeId: string;
  toNodeName: string;
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

/**
 * The whole evacuation as it would run if nothing else changed meanwhile (what a dry run shows): the same rule as
 * nextMoves with every waiting VM in one step — the limit only spaces the migrations in time, and a move's target
 * counts as loaded from its start, so running them a few at a time gives the same targets.
 */
export function evacuationPlan(waiting: string[], candidates: EvacuationCandidate[]): EvacuationMove[] {
  return nextMoves({ waiting, inFlight: 0, limit: waiting.length, candidates });
}
