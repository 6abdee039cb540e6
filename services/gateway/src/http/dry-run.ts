/**
 * `?dryRun=true` on the writes that change configs: the write service decides the command on its current state
 * and answers the events it would append (nothing appended, no Idempotency-Key claimed, no address allocated);
 * each deriver's leading instance renders the targets those events touch from a copy-on-write view of its model
 * (PreviewEvents); each is compared with the config the target has now (its last command; the core's latest
 * rendered version in its vendor's format), both redacted. Only targets whose config would change are listed; with a
 * password change, each target it renders is listed, an empty diff and `secretChanged` when nothing else changes.
 */
import { applyDecorators, Inject, Injectable } from '@nestjs/common';
import { ApiQuery } from '@nestjs/swagger';
import {
  DERIVER_SERVICES,
  type DeriverService,
  type EventsPreviewReply,
  type EventsPreviewRequest,
  type FabricEvent,
  type NodeDesiredState,
  type TargetKind,
} from '@fabric/contracts';
import { EventStore } from '@fabric/eventstore';
import type { EvacuationPlanMove } from '@fabric/api-types';
import { nodeConfigText, redactSecrets, unifiedDiff } from '@fabric/renderers';
import { CommandBus } from './command-bus';
import { invalidQuery, QueryParams } from './validation';
import { ReadModel } from '../read/read-model';
import { EVENT_STORE } from '../tokens';

/** How long a dry run waits for each deriver's preview. */
const PREVIEW_TIMEOUT_MS = 5000;
const KIND: Record<DeriverService, TargetKind> = { 'route-announcer': 'node', 'rr-config': 'rr', 'router-config': 'router' };

export interface DryRunTarget {
  kind: TargetKind;
  id: string;
  name: string;
  diff: string | null;
  diffError?: string;
  /** Only a secret would change (e.g. the MD5 password): redacted on both sides, the diff shows no line. */
  secretChanged?: true;
}

export interface DryRunAnswer {
  dryRun: true;
  /** The write service's usual result (e.g. the id a new node or VM would get). */
  result: Record<string, unknown>;
  /** The events that would be appended, in order. */
  events: FabricEvent[];
  targets: DryRunTarget[];
  /** What the preview assumed or could not decide (e.g. the address IPAM would give a new VM). */
  notes?: string[];
}

/** `?dryRun=` parsed: true, false or absent; anything else is a 400. */
/** `?dryRun=true|false` on a write: documented in the OpenAPI and allowed by the query whitelist. */
export const DryRunQuery = () =>
  applyDecorators(
    ApiQuery({ name: 'dryRun', required: false, type: Boolean, description: 'nothing is written: the events and each changed config diff' }),
    QueryParams('dryRun'),
  );

export function dryRunParam(v: string | undefined): boolean {
  if (v !== undefined && v !== 'true' && v !== 'false') throw invalidQuery({ dryRun: ['must be true or false'] }, 'invalid query');
  return v === 'true';
}

@Injectable()
export class DryRun {
  constructor(
    private readonly bus: CommandBus,
    private readonly read: ReadModel,
    @Inject(EVENT_STORE) private readonly store: EventStore,
  ) {}

  /**
   * The dry run of one command of inventory (or IPAM: networks and pools). `hypothetical` adds events that follow
   * from the decision but are not decided by it (the address IPAM would allocate), rendered but not listed as appended.
   */
  async run(
    command: string,
    payload: object,
    actor: string | undefined,
    hypothetical?: (events: FabricEvent[], actor: string | undefined, result: Record<string, unknown>) => Promise<{ events: FabricEvent[]; notes: string[] }>,
    service: 'inventory' | 'ipam' = 'inventory',
  ): Promise<DryRunAnswer> {
    const r = await this.bus.decide<Record<string, unknown> & { events?: FabricEvent[] }>(service, command, payload, actor);
    const { events = [], dryRun: _d, ...result } = r;
    const extra = (await hypothetical?.(events, actor, result)) ?? { events: [], notes: [] };
    const targets = await this.targets([...events, ...extra.events]);
    return { dryRun: true, result, events, targets, ...(extra.notes.length ? { notes: extra.notes } : {}) };
  }

  /**
   * What follows from a VM creation without being decided by it: IPAM's allocation, asked as a dry run
   * (PreviewAllocation: the requested address, or the next free one now, nothing allocated). A creation that
   * runs in between may take that address first: the note says so.
   */
  readonly vmAddress = async (events: FabricEvent[], actor?: string): Promise<{ events: FabricEvent[]; notes: string[] }> => {
    const out: FabricEvent[] = [];
    const notes: string[] = [];
    for (const e of events) {
      if (e.type !== 'VmCreated') continue;
      const d = e.data;
      const r = await this.bus.decide<{ events?: FabricEvent[] }>(
        'ipam',
        'PreviewAllocation',
        { clusterId: d.clusterId, vmId: d.vmId, ownerId: d.ownerId, family: d.family, ...(d.requestedIp ? { ip: d.requestedIp } : {}) },
        actor,
      );
      for (const x of r.events ?? []) {
        if (x.type === 'IpAllocated') {
          out.push(x);
          notes.push(
            d.requestedIp
              ? `address ${x.data.ip}: the requested one, free now`
              : `address ${x.data.ip}: the next free one now (IPAM allocates once the VM is created: a creation in between may take it first)`,
          );
        } else if (x.type === 'IpAllocationFailed') notes.push(`IPAM would not allocate an address (${x.data.reason}): ${x.data.message}`);
      }
    }
    return { events: out, notes };
  };

  /**
   * A new VM's addresses: the primary and, for a dual-stack VM, the second family's (an extra address). The primary's
   * family exhausted, IPAM makes the second address the primary: shown as its IpAllocated.
   */
  readonly newVmAddresses = async (events: FabricEvent[], actor?: string): Promise<{ events: FabricEvent[]; notes: string[] }> => {
    const [a, b] = [await this.vmAddress(events, actor), await this.extraAddress(events, actor)];
    const dualStack = events.some((e) => e.type === 'VmAddressRequested' && e.data.dualStack);
    const second = b.events.find((x) => x.type === 'VmAddressAllocated');
    if (dualStack && second?.type === 'VmAddressAllocated' && events.some((e) => e.type === 'VmCreated') && !a.events.length) {
      const { clusterId, vmId, ownerId, ip, family, networkId, poolId } = second.data;
      return {
        events: [{ type: 'IpAllocated', data: { clusterId, vmId, ownerId, ip, family, networkId, poolId } }],
        notes: [...a.notes, ...b.notes, `the VM's IPv${family} address ${ip} would be its primary; its other family's address fails`],
      };
    }
    return { events: [...a.events, ...b.events], notes: [...a.notes, ...b.notes] };
  };

  /**
   * The same for an extra address (AddVmAddress): IPAM's preview of the address (asked under the request id, so the
   * VM's own allocation does not answer it), as the VmAddressAllocated that would follow.
   */
  readonly extraAddress = async (events: FabricEvent[], actor?: string): Promise<{ events: FabricEvent[]; notes: string[] }> => {
    const out: FabricEvent[] = [];
    const notes: string[] = [];
    for (const e of events) {
      if (e.type !== 'VmAddressRequested') continue;
      const d = e.data;
      const r = await this.bus.decide<{ events?: FabricEvent[] }>(
        'ipam',
        'PreviewAllocation',
        { clusterId: d.clusterId, vmId: d.requestId, ownerId: d.ownerId, family: d.family, ...(d.requestedIp ? { ip: d.requestedIp } : {}) },
        actor,
      );
      for (const x of r.events ?? []) {
        if (x.type === 'IpAllocated') {
          const { ip, family, networkId, poolId } = x.data;
          out.push({
            type: 'VmAddressAllocated',
            data: { clusterId: d.clusterId, vmId: d.vmId, ownerId: d.ownerId, requestId: d.requestId, ip, family, networkId, poolId },
          });
          notes.push(
            d.requestedIp
              ? `address ${ip}: the requested one, free now`
              : `address ${ip}: the next free one now (another allocation in between may take it first)`,
          );
        } else if (x.type === 'IpAllocationFailed') notes.push(`IPAM would not allocate the address (${x.data.reason}): ${x.data.message}`);
      }
    }
    return { events: out, notes };
  };

  /**
   * What follows from an evacuation: the migrations inventory's plan says it would request (`result.plan`, the
   * placement rule applied now), rendered as their VmMigrationRequested so each receiving node's diff shows its new
   * VMs. The evacuation runs them a few at a time; VMs created or moved in between change the plan.
   */
  readonly evacuation = async (events: FabricEvent[], _actor: string | undefined, result: Record<string, unknown>) => {
    if (!events.some((e) => e.type === 'NodeEvacuationStarted')) return { events: [], notes: [] };
    const plan = (result.plan ?? []) as EvacuationPlanMove[];
    const out: FabricEvent[] = plan.map((m) => ({
      type: 'VmMigrationRequested',
      data: { vmId: m.vmId, clusterId: m.clusterId, fromNodeId: m.fromNodeId, toNodeId: m.toNodeId, evacuation: true },
    }));
    const notes = plan.length
      ? [
          `${plan.length} VM(s) would move by the placement rule as of now (fewest VMs first); the evacuation runs a few at a time, and VMs created or moved meanwhile change the targets`,
          ...plan.map((m) => `VM ${m.vmName} → node ${m.toNodeName}`),
        ]
      : [];
    return { events: out, notes };
  };

  private async targets(events: FabricEvent[]): Promise<DryRunTarget[]> {
    if (!events.length) return [];
    const req: EventsPreviewRequest = { events };
    const nc = this.store.nats.nc;
    const out: DryRunTarget[] = [];
    // Commands carry resolved secrets, previews their references: a new password shows as no line on both sides
    // redacted, so the targets a password change renders are listed as such.
    const secretChange = events.some((e) => e.type === 'BgpPasswordChanged');
    await Promise.all(
      DERIVER_SERVICES.map(async (service) => {
        let reply: EventsPreviewReply;
        try {
          const m = await nc.request(this.store.subjects.eventsPreview(service), JSON.stringify(req), { timeout: PREVIEW_TIMEOUT_MS });
          reply = m.json<EventsPreviewReply>();
          if (reply.error) throw new Error(reply.error);
        } catch (e) {
          // Which of its targets would change is unknown: one entry for the deriver says so.
          const reason = `${service} did not render a preview: ${(e as Error).message}`.slice(0, 300);
          out.push({ kind: KIND[service], id: '*', name: '*', diff: null, diffError: reason });
          return;
        }
        for (const t of reply.targets ?? []) {
          if (t.error) {
            out.push({ kind: t.kind, id: t.targetId, name: t.name, diff: null, diffError: t.error });
            continue;
          }
          const now = (await this.current(t.kind, t.targetId)) + (t.currentParts ?? '');
          const label = `${t.kind} ${t.name}`;
          const diff = unifiedDiff(redactSecrets(now), redactSecrets(t.config), `${label} (current)`, `${label} (after)`);
          if (diff) out.push({ kind: t.kind, id: t.targetId, name: t.name, diff });
          else if (secretChange) out.push({ kind: t.kind, id: t.targetId, name: t.name, diff: '', secretChanged: true });
        }
      }),
    );
    const order: Record<string, number> = { node: 0, rr: 1, router: 2 };
    return out.sort((a, b) => order[a.kind] - order[b.kind] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The config a target has now, in the form the previews render it. */
  private async current(kind: TargetKind, id: string): Promise<string> {
    if (kind === 'router') {
      const c = await this.read.clusterRow(id);
      const row = await this.read.routerConfig(id);
      return c ? ((row?.configs as Record<string, string> | undefined)?.[this.read.cluster(c).coreRouter.vendor] ?? '') : '';
    }
    const m = await this.store.nats.jsm.streams
      .getMessage(this.store.subjects.commandsStream, { last_by_subj: this.store.subjects.cmd(kind, id) })
      .catch(() => null);
    if (!m) return '';
    if (kind === 'node') return nodeConfigText(m.json<NodeDesiredState>());
    return m.json<{ bird?: string }>().bird ?? '';
  }
}
