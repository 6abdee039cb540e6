/**
 * The evacuation process: while a node is being evacuated, keep up to `limit` of its VMs migrating to the
 * nodes the placement rule picks, and end the evacuation when no VM is left on it. Driven by the index (a VM
 * leaving the node, an evacuation starting, a node returning to service) and re-checked every few seconds, so
 * a failed migration request or an inventory restart only delays it. Command ids derive from the evacuation's
 * start position and the VM, so a step repeated after a restart is deduplicated, not applied twice.
 */
import { nextMoves } from '../domain/evacuation';
import type { InventoryIndex } from './inventory-index';

export interface EvacuationActions {
  migrate(vmId: string, toNodeId: string, commandId: string): Promise<unknown>;
  complete(nodeId: string, commandId: string): Promise<unknown>;
}

export class Evacuator {
  private readonly pending = new Set<string>();
  private running?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private live = false;

  constructor(
    private readonly index: InventoryIndex,
    private readonly actions: EvacuationActions,
    private readonly limit: number,
    private readonly onError: (msg: string, extra: Record<string, unknown>) => void,
    private readonly recheckMs = 5_000,
  ) {}

  /** Call once the index has caught up with the stream: evacuations in progress continue from here. */
  start(): void {
    this.live = true;
    this.index.onEvacuationChange = (nodeId) => this.kick(nodeId);
    const all = () => this.index.evacuatingNodes().forEach((n) => this.kick(n.id));
    all();
    this.timer = setInterval(all, this.recheckMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.live = false;
    this.index.onEvacuationChange = undefined;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** Resolves when every queued step ran (tests and shutdown). */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  kick(nodeId: string): void {
    if (!this.live) return;
    this.pending.add(nodeId);
    this.running ??= this.drain().finally(() => (this.running = undefined));
  }

  private async drain(): Promise<void> {
    // One step at a time: a step's own writes feed the index, which may queue the node again.
    while (this.live && this.pending.size) {
      const [nodeId] = this.pending;
      this.pending.delete(nodeId);
      await this.step(nodeId).catch((err) => this.onError('evacuation step failed', { nodeId, error: String((err as Error)?.message ?? err) }));
    }
  }

  private async step(nodeId: string): Promise<void> {
    const node = this.index.nodes.get(nodeId);
    if (!node || node.evacuation === undefined) return;
    const vms = this.index.vmsOnNode(nodeId);
    if (vms.length === 0) {
      await this.actions.complete(nodeId, `evacuated:${nodeId}:${node.evacuation}`);
      return;
    }
    // VMs still migrating in count neither as waiting nor in flight: they wait until they have arrived.
    const waiting = vms.filter((v) => v.nodeId === nodeId && !v.previousNodeId).map((v) => v.id);
    const inFlight = vms.filter((v) => v.previousNodeId === nodeId).length;
    const candidates = this.index.activeNodes(node.clusterId).filter((c) => c.nodeId !== nodeId);
    for (const move of nextMoves({ waiting, inFlight, limit: this.limit, candidates })) {
      await this.actions.migrate(move.vmId, move.toNodeId, `evacuate:${nodeId}:${node.evacuation}:${move.vmId}`).catch((err) =>
        this.onError('evacuation could not migrate a VM (retried on the next check)', {
          nodeId,
          vmId: move.vmId,
          toNodeId: move.toNodeId,
          error: String((err as Error)?.message ?? err),
        }),
      );
    }
  }
}
