/**
 * Publishes the whole desired state of one target (node, RR, router) as a declarative command.
 * Shared by route-announcer, rr-config and router-config (meant to move to @fabric/eventstore).
 * - hash = contentHash(payload without generation/hash/sourceSeq): equal content is never republished;
 * - the last generation+hash per target is learned from the commands stream (last message per subject),
 *   so a restart that rebuilds the same state publishes nothing;
 * - generation = last + 1, Msg-Id `<targetId>:<generation>` (a retried publish is deduplicated);
 * - a DesiredStateChanged event (id `desired:<kind>:<targetId>:<generation>`) lets the read model show
 *   drift (desired vs applied generation).
 * One publisher per target at a time: calls for the same target must not overlap (the apps flush serially).
 */
import { headers } from '@nats-io/nats-core';
import { DESIRED_SCHEMA_HEADER, DESIRED_SCHEMA_VERSION } from '@fabric/contracts';
import type { DesiredState, TargetKind } from '@fabric/contracts';
import { decodeMessage, type EventStore, SecretStore } from '@fabric/eventstore';
import { contentHash } from '@fabric/renderers';

export type DesiredPayload<T extends DesiredState = DesiredState> = Omit<T, 'generation' | 'hash' | 'sourceSeq'>;

export interface LastDesired {
  generation: number;
  hash: string;
}

export interface PublishResult extends LastDesired {
  published: boolean;
}

const enc = new TextEncoder();

export function desiredHash(payload: DesiredPayload): string {
  const { generation: _g, hash: _h, sourceSeq: _s, ...content } = payload as DesiredPayload & Partial<DesiredState>;
  return contentHash(content);
}

export class DesiredPublisher {
  private readonly last = new Map<string, LastDesired | null>();

  private readonly secrets: SecretStore;

  constructor(
    private readonly store: EventStore,
    private readonly actor = 'deriver',
  ) {
    this.secrets = new SecretStore(store.nats);
  }

  /** Publishes when the content changed since the last command of this target; returns what is current. */
  async publish<T extends DesiredState>(payload: DesiredPayload<T>, sourceSeq: number): Promise<PublishResult> {
    const { kind, targetId, clusterId } = payload;
    const hash = desiredHash(payload);
    const last = await this.lastOf(kind, targetId);
    if (last && last.hash === hash) return { published: false, ...last };
    const generation = (last?.generation ?? 0) + 1;
    const nats = this.store.nats;
    // The hash (also in the DesiredStateChanged event) covers the secret's reference, never its value.
    const message = (await this.secrets.resolveJson({ ...payload, generation, hash, sourceSeq }, clusterId)) as unknown as DesiredState;
    const h = headers();
    h.set(DESIRED_SCHEMA_HEADER, DESIRED_SCHEMA_VERSION);
    await nats.js.publish(nats.subjects.cmd(kind, targetId), enc.encode(JSON.stringify(message)), { msgID: `${targetId}:${generation}`, headers: h });
    // Remember before appending the event: the command is out, a failed append is repaired by ensureEvent.
    this.last.set(key(kind, targetId), { generation, hash });
    await this.appendChanged(kind, targetId, clusterId, generation, hash);
    return { published: true, generation, hash };
  }

  /** Last generation+hash of a target (from the commands stream on first use), null when none. */
  async lastOf(kind: TargetKind, targetId: string): Promise<LastDesired | null> {
    const k = key(kind, targetId);
    if (this.last.has(k)) return this.last.get(k) ?? null;
    const s = this.store.subjects;
    const m = await this.store.nats.jsm.streams.getMessage(s.commandsStream, { last_by_subj: s.cmd(kind, targetId) });
    let last: LastDesired | null = null;
    if (m) {
      const body = m.json<Partial<DesiredState>>();
      last = { generation: Number(body.generation ?? 0), hash: String(body.hash ?? '') };
      // A crash between the command and its event would leave the read model one generation behind.
      await this.ensureEvent(kind, targetId, body.clusterId ?? '', last);
    }
    this.last.set(k, last);
    return last;
  }

  private async ensureEvent(kind: TargetKind, targetId: string, clusterId: string, last: LastDesired): Promise<void> {
    const s = this.store.subjects;
    const m = await this.store.nats.jsm.streams.getMessage(s.eventsStream, { last_by_subj: s.evt('desired', kind, targetId) });
    const e = m ? decodeMessage(m) : undefined;
    // The subject's last event may be a render failure or recovery: those carry no generation.
    const seen = e?.type === 'DesiredStateChanged' ? Number(e.data.generation ?? 0) : 0;
    if (seen < last.generation) await this.appendChanged(kind, targetId, clusterId, last.generation, last.hash);
  }

  private async appendChanged(kind: TargetKind, targetId: string, clusterId: string, generation: number, hash: string): Promise<void> {
    await this.store.append(this.store.subjects.evt('desired', kind, targetId), [
      {
        id: `desired:${kind}:${targetId}:${generation}`,
        event: { type: 'DesiredStateChanged', data: { target: { kind, id: targetId }, generation, hash, ...(clusterId ? { clusterId } : {}) } },
        meta: { actor: this.actor },
      },
    ]);
  }
}

const key = (kind: TargetKind, id: string) => `${kind}:${id}`;
