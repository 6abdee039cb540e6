/** Shared by the billing tests: the published contract (schemas, AsyncAPI) and the raw messages on the stream. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { JsMsg } from '@nats-io/jetstream';
import { type Nats } from '@fabric/eventstore';
import { eventually } from '@fabric/testing/infra';
import { type ControlPlane, http } from '../support/control-plane';
import { settledVm } from '../support/api-fixtures';
import { BILLING_TYPES } from './billing-consumer';

export const BILLING_DIR = join(__dirname, '../../docs/billing');
export const SCHEMA_DIR = join(BILLING_DIR, 'schemas');

export const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
export const schemaFiles = () =>
  readdirSync(SCHEMA_DIR)
    .filter((f) => f.endsWith('.schema.json'))
    .sort();

/** Every published schema loaded into one ajv (draft 2020-12 + formats); validators by `<Type>@<version>`. */
export function loadContract(): { ajv: Ajv2020; byType: Map<string, ValidateFunction>; schemas: Record<string, any> } {
  const ajv = new Ajv2020({ strict: true, strictTypes: false, allErrors: true });
  addFormats(ajv);
  const schemas: Record<string, any> = {};
  for (const f of schemaFiles()) {
    schemas[f] = readJson(join(SCHEMA_DIR, f));
    ajv.addSchema(schemas[f]);
  }
  const byType = new Map<string, ValidateFunction>();
  for (const s of Object.values(schemas)) {
    const type = s.properties?.type?.const;
    if (type) byType.set(`${type}@${s.properties.schemaVersion.const}`, ajv.getSchema(s.$id)!);
  }
  return { ajv, byType, schemas };
}

export interface RawEvent {
  seq: number;
  subject: string;
  headers: Record<string, string>;
  /** The body exactly as stored (parsed JSON, nothing added). */
  body: any;
}

/** Every message of the events stream as a consumer receives it (ordered consumer, no acks). */
export async function rawEvents(nats: Nats): Promise<RawEvent[]> {
  const head = (await nats.jsm.streams.info(nats.subjects.eventsStream)).state.last_seq;
  const out: RawEvent[] = [];
  const consumer = await nats.js.consumers.get(nats.subjects.eventsStream, { filter_subjects: nats.subjects.evtAll() } as never);
  try {
    while ((out[out.length - 1]?.seq ?? 0) < head) {
      const batch = await consumer.fetch({ max_messages: 1000, expires: 2000 });
      let got = 0;
      for await (const m of batch as AsyncIterable<JsMsg>) {
        got++;
        const headers: Record<string, string> = {};
        for (const k of m.headers?.keys() ?? []) headers[k] = m.headers!.get(k);
        out.push({ seq: m.seq, subject: m.subject, headers, body: JSON.parse(new TextDecoder().decode(m.data)) });
        if (m.seq >= head) break;
      }
      if (!got) break;
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  return out;
}

// One list with the example consumer, which bills exactly these.
export { BILLING_TYPES } from './billing-consumer';
export const billingEvents = (all: RawEvent[]) => all.filter((e) => (BILLING_TYPES as readonly string[]).includes(e.body.type));

/** Creates a VM over HTTP and waits for its address. */
export async function createVm(cp: ControlPlane, body: Record<string, unknown>): Promise<any> {
  const r = await http('POST', `${cp.api}/vms`, body);
  if (r.status !== 202) throw new Error(`create VM: ${r.status} ${JSON.stringify(r.body)}`);
  const vm = await settledVm(cp, r.body.id);
  if (!vm.ip) throw new Error(`VM ${r.body.id} got no address: ${JSON.stringify(vm)}`);
  return vm;
}

export async function deleteVm(cp: ControlPlane, id: string): Promise<void> {
  const r = await http('DELETE', `${cp.api}/vms/${id}`);
  if (r.status !== 202) throw new Error(`delete VM: ${r.status} ${JSON.stringify(r.body)}`);
}

/** Waits until `n` events of `type` are stored. */
export async function waitForEvents(cp: ControlPlane, type: string, n: number, timeoutMs = 20000): Promise<void> {
  await eventually(
    async () =>
      (await cp.store.read(cp.store.subjects.evtAll('ipam'))).concat(await cp.store.read(cp.store.subjects.evtAll('vm'))).filter((e) => e.type === type)
        .length >= n,
    timeoutMs,
    100,
    `${n} ${type} events`,
  );
}
