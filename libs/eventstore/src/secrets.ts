/**
 * Per-cluster secrets in their own stream (KV layout `$KV.<NS>_SECRETS.cluster.<id>.<name>`): written by
 * inventory, read by the derivers only (NATS permissions). A new value is a new revision, so a rotation is
 * a new reference in a new event; old revisions stay readable for a rollback (max 5 per key).
 */
import { SECRET_REF, secretRef } from '@fabric/contracts';
import { type Nats } from './connection';
import { secretsBucket } from './nats-auth';

const enc = new TextEncoder();
const dec = new TextDecoder();

export class SecretStore {
  constructor(private readonly nats: Nats) {}

  private get stream() {
    return `KV_${secretsBucket(this.nats.subjects)}`;
  }

  subject(clusterId: string, name: string): string {
    return `$KV.${secretsBucket(this.nats.subjects)}.cluster.${clusterId}.${name}`;
  }

  /** Stores a value; returns its reference. `msgId` makes a retried command reuse the first revision. */
  async put(clusterId: string, name: string, value: string, msgId: string): Promise<string> {
    const ack = await this.nats.js.publish(this.subject(clusterId, name), enc.encode(value), { msgID: msgId });
    return secretRef(ack.seq);
  }

  /** Resolves the references inside a JSON-serialisable value. */
  async resolveJson<T>(value: T, clusterId: string): Promise<T> {
    return JSON.parse(await this.resolve(JSON.stringify(value), clusterId, (v) => JSON.stringify(v).slice(1, -1))) as T;
  }

  /** Replaces every reference in `text` by its value; a reference must belong to `clusterId` (no cross-cluster read). */
  async resolve(text: string, clusterId: string, escape: (v: string) => string = (v) => v): Promise<string> {
    const seqs = [...new Set([...text.matchAll(SECRET_REF)].map((m) => Number(m[1])))];
    if (!seqs.length) return text;
    const values = new Map<number, string>();
    const prefix = `$KV.${secretsBucket(this.nats.subjects)}.cluster.${clusterId}.`;
    for (const seq of seqs) {
      const m = await this.nats.jsm.direct.getMessage(this.stream, { seq });
      if (!m || !m.subject.startsWith(prefix)) throw new Error(`secret reference ${secretRef(seq)} does not belong to cluster ${clusterId}`);
      values.set(seq, dec.decode(m.data));
    }
    // One pass: a resolved value is never resolved again.
    return text.replace(SECRET_REF, (_, seq: string) => escape(values.get(Number(seq))!));
  }
}
