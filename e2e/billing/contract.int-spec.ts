/**
 * The billing feed is a public contract (docs/billing): the messages the running control plane really
 * stores must validate against the published JSON Schemas, carry the documented headers, and sit on the
 * subjects the AsyncAPI document declares. A producer change that breaks integrators fails here.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalIp } from '@fabric/contracts';
import { eventually } from '@fabric/testing/infra';
import { type ControlPlane, http, startControlPlane } from '../support/control-plane';
import { createFixture } from '../support/api-fixtures';
import {
  BILLING_DIR,
  BILLING_TYPES,
  billingEvents,
  createVm,
  deleteVm,
  loadContract,
  type RawEvent,
  rawEvents,
  readJson,
  schemaFiles,
  SCHEMA_DIR,
  waitForEvents,
} from './support';

describe('billing feed contract', () => {
  let cp: ControlPlane;
  let all: RawEvent[];
  let billing: RawEvent[];
  const contract = loadContract();
  const asyncapi = readJson(join(BILLING_DIR, 'asyncapi.json'));

  beforeAll(async () => {
    cp = await startControlPlane({ ipamCooldownMs: 0 });
    const fx = await createFixture(cp, { nodes: 2 });
    expect(
      (
        await http('POST', `${cp.api}/clusters/${fx.clusterId}/networks`, {
          cidr: '2001:db8:1::/64',
          pools: [{ start: '2001:db8:1::10', end: '2001:db8:1::ff' }],
        })
      ).status,
    ).toBe(201);
    const vms: any[] = [];
    for (let i = 0; i < 3; i++)
      vms.push(await createVm(cp, { clusterId: fx.clusterId, nodeId: fx.nodeIds[i % 2], name: `web${i}`, ownerId: `customer-${i}`, family: 4 }));
    vms.push(await createVm(cp, { clusterId: fx.clusterId, nodeId: fx.nodeIds[0], name: 'v6', ownerId: 'customer:9@example.com', family: 6 }));
    // Extra addresses: web1 keeps one, web2 gets one and removes it (released at once: cool-down 0).
    for (const vm of [vms[1], vms[2]]) expect((await http('POST', `${cp.api}/vms/${vm.id}/addresses`, {})).status).toBe(202);
    await waitForEvents(cp, 'VmAddressAllocated', 2);
    const extra = await eventually(
      async () =>
        (await http('GET', `${cp.api}/vms/${vms[2].id}`)).body.addresses.find(
          (a: { primary: boolean; status: string }) => !a.primary && a.status === 'allocated',
        ),
      15000,
      50,
      'the extra address in the read model',
    );
    expect((await http('DELETE', `${cp.api}/vms/${vms[2].id}/addresses/${extra.ip}`)).status).toBe(202);
    await waitForEvents(cp, 'VmAddressReleased', 1);
    // A floating address of customer-0 (1.2.0): attached to web0b, moved to web0; web0b deleted mid-move completes
    // the move; detached, then released (cool-down 0).
    const web0b = await createVm(cp, { clusterId: fx.clusterId, nodeId: fx.nodeIds[1], name: 'web0b', ownerId: 'customer-0', family: 4 });
    const fl = await http('POST', `${cp.api}/floating-addresses`, { clusterId: fx.clusterId, owner: 'customer-0' });
    expect(fl.status).toBe(201);
    expect((await http('POST', `${cp.api}/floating-addresses/${fl.body.id}/attach`, { vmId: web0b.id })).status).toBe(200);
    expect((await http('POST', `${cp.api}/floating-addresses/${fl.body.id}/attach`, { vmId: vms[0].id })).body.status).toBe('moving');
    await deleteVm(cp, web0b.id);
    await waitForEvents(cp, 'FloatingAddressMoveCompleted', 1);
    expect((await http('POST', `${cp.api}/floating-addresses/${fl.body.id}/detach`)).status).toBe(200);
    expect((await http('DELETE', `${cp.api}/floating-addresses/${fl.body.id}`)).status).toBe(200);
    await waitForEvents(cp, 'FloatingAddressReleased', 1);
    await deleteVm(cp, vms[0].id);
    await deleteVm(cp, vms[3].id);
    await waitForEvents(cp, 'IpReleased', 3);
    all = await rawEvents(cp.nats);
    billing = billingEvents(all);
  });

  afterAll(async () => {
    await cp?.close();
  });

  it('the workload produced every billing event type', () => {
    const count = (t: string) => billing.filter((e) => e.body.type === t).length;
    expect({
      IpAllocated: count('IpAllocated'),
      IpReleased: count('IpReleased'),
      VmAddressAllocated: count('VmAddressAllocated'),
      VmAddressReleased: count('VmAddressReleased'),
      VmDeleted: count('VmDeleted'),
      FloatingAddressAllocated: count('FloatingAddressAllocated'),
      FloatingAddressAttached: count('FloatingAddressAttached'),
      FloatingAddressMoveCompleted: count('FloatingAddressMoveCompleted'),
      FloatingAddressDetached: count('FloatingAddressDetached'),
      FloatingAddressReleased: count('FloatingAddressReleased'),
    }).toEqual({
      IpAllocated: 5,
      IpReleased: 3,
      VmAddressAllocated: 2,
      VmAddressReleased: 1,
      VmDeleted: 3,
      FloatingAddressAllocated: 1,
      FloatingAddressAttached: 2,
      FloatingAddressMoveCompleted: 1,
      FloatingAddressDetached: 1,
      FloatingAddressReleased: 1,
    });
  });

  it('every real billing message validates against its published schema (type + schemaVersion)', () => {
    for (const e of billing) {
      const validate = contract.byType.get(`${e.body.type}@${e.body.schemaVersion}`);
      expect({ type: e.body.type, schemaVersion: e.body.schemaVersion, published: !!validate }).toEqual({
        type: e.body.type,
        schemaVersion: e.body.schemaVersion,
        published: true,
      });
      const ok = validate!(e.body);
      expect({ seq: e.seq, type: e.body.type, errors: ok ? null : validate!.errors }).toEqual({ seq: e.seq, type: e.body.type, errors: null });
    }
  });

  it('every property the producer sends is documented (the schemas are not lagging behind)', () => {
    const envelope = contract.schemas['envelope.schema.json'];
    for (const e of billing) {
      const schema = Object.values(contract.schemas).find((s: any) => s.properties?.type?.const === e.body.type) as any;
      expect({ type: e.body.type, undocumented: Object.keys(e.body).filter((k) => !(k in envelope.properties)) }).toEqual({
        type: e.body.type,
        undocumented: [],
      });
      expect({ type: e.body.type, undocumented: Object.keys(e.body.data).filter((k) => !(k in schema.properties.data.properties)) }).toEqual({
        type: e.body.type,
        undocumented: [],
      });
      for (const k of Object.keys(e.body.meta ?? {})) expect(envelope.$defs.meta.properties).toHaveProperty(k);
    }
  });

  it('headers and times are as documented: Msg-Id = envelope id, type header, exact UTC times, canonical addresses', () => {
    for (const e of billing) {
      expect(e.headers['Nats-Msg-Id']).toBe(e.body.id);
      expect(e.headers['Fabric-Event-Type']).toBe(e.body.type);
      expect(new Date(e.body.occurredAt).toISOString()).toBe(e.body.occurredAt);
      if (e.body.data.ip) expect(canonicalIp(e.body.data.ip)).toBe(e.body.data.ip);
    }
    // Ids are unique: the dedupe key identifies one event.
    expect(new Set(billing.map((e) => e.body.id)).size).toBe(billing.length);
    // Billing timeline per VM: allocation, then deletion, then release (cool-down 0 here), all with the owner of VmCreated.
    for (const created of all.filter((e) => e.body.type === 'VmCreated')) {
      const vmId = created.body.data.vmId;
      const mine = billing.filter((e) => e.body.data.vmId === vmId);
      for (const e of mine) expect(e.body.data.ownerId).toBe(created.body.data.ownerId);
      const at = (t: string) => mine.find((e) => e.body.type === t)?.body.occurredAt;
      if (at('IpReleased')) expect(at('IpAllocated')! <= at('VmDeleted')! && at('VmDeleted')! <= at('IpReleased')!).toBe(true);
    }
  });

  it('the schemas reject what they must (they are not vacuous), and their examples validate', () => {
    const alloc = billing.find((e) => e.body.type === 'IpAllocated')!.body;
    const v = contract.byType.get('IpAllocated@1')!;
    const mutate = (f: (x: any) => void) => {
      const x = JSON.parse(JSON.stringify(alloc));
      f(x);
      return v(x);
    };
    expect(mutate(() => undefined)).toBe(true);
    expect(mutate((x) => delete x.data.ownerId)).toBe(false);
    expect(mutate((x) => delete x.id)).toBe(false);
    expect(mutate((x) => (x.occurredAt = 'yesterday'))).toBe(false);
    expect(mutate((x) => (x.data.family = 6))).toBe(false); // an IPv4 address with family 6
    expect(mutate((x) => (x.data.ip = '203.0.113.0/24'))).toBe(false);
    expect(mutate((x) => (x.type = 'IpReleased'))).toBe(false);
    expect(mutate((x) => (x.schemaVersion = 2))).toBe(false);
    expect(mutate((x) => (x.data.ownerId = 'has space'))).toBe(false);
    expect(mutate((x) => (x.data.futureField = 'ignored'))).toBe(true); // additive changes stay compatible
    for (const s of Object.values(contract.schemas) as any[]) {
      for (const ex of s.examples ?? [])
        expect({ schema: s.$id, ok: contract.ajv.validate(s.$id, ex), errors: contract.ajv.errors ?? null }).toEqual({ schema: s.$id, ok: true, errors: null });
    }
  });

  describe('AsyncAPI document', () => {
    const resolvePointer = (doc: any, ref: string) =>
      ref
        .replace(/^#\//, '')
        .split('/')
        .reduce((o, k) => o?.[k.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
    const refs = (node: any, out: string[] = []): string[] => {
      if (Array.isArray(node)) node.forEach((n) => refs(n, out));
      else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) k === '$ref' ? out.push(v as string) : refs(v, out);
      return out;
    };
    /** `{ns}.evt.ipam.{clusterId}` → a regex over concrete subjects of namespace `ns`. */
    const addressRegex = (address: string, ns: string) =>
      new RegExp(
        `^${address
          .replace(/\./g, '\\.')
          .replace('{ns}', ns)
          .replace(/\{[A-Za-z]+\}/g, '[A-Za-z0-9_-]+')}$`,
      );

    it('is AsyncAPI 3.0 and every reference resolves (internal pointers and schema files)', () => {
      expect(asyncapi.asyncapi).toBe('3.0.0');
      expect(asyncapi.info.title).toBeTruthy();
      for (const ref of refs(asyncapi)) {
        if (ref.startsWith('#/')) expect({ ref, found: resolvePointer(asyncapi, ref) !== undefined }).toEqual({ ref, found: true });
        else expect({ ref, exists: existsSync(join(BILLING_DIR, ref)) }).toEqual({ ref, exists: true });
      }
      for (const [name, op] of Object.entries<any>(asyncapi.operations)) {
        expect({ name, action: op.action }).toEqual({ name, action: 'receive' });
        // AsyncAPI 3: an operation's messages must belong to its channel.
        const channelPath = op.channel.$ref as string;
        for (const m of op.messages) expect({ name, ref: m.$ref.startsWith(`${channelPath}/messages/`) }).toEqual({ name, ref: true });
      }
    });

    it('references exactly the published schemas and exactly the billing event types', () => {
      const payloadFiles = Object.values<any>(asyncapi.components.messages)
        .map((m) => m.payload.schema.$ref.replace('./schemas/', ''))
        .sort();
      expect(payloadFiles).toEqual(schemaFiles().filter((f) => f !== 'envelope.schema.json'));
      expect(Object.keys(asyncapi.components.messages).sort()).toEqual([...BILLING_TYPES].sort());
      for (const [name, m] of Object.entries<any>(asyncapi.components.messages)) {
        expect(m.name).toBe(name);
        expect(readJson(join(SCHEMA_DIR, m.payload.schema.$ref.replace('./schemas/', ''))).properties.type.const).toBe(name);
      }
      // Every schema file is reachable from the document (events directly, the envelope through them).
      const reachable = new Set(payloadFiles);
      for (const f of payloadFiles) for (const r of refs(readJson(join(SCHEMA_DIR, f)))) if (!r.startsWith('#')) reachable.add(r.split('#')[0]);
      expect([...reachable].sort()).toEqual(schemaFiles());
    });

    it('declares the subjects and stream the control plane really uses', () => {
      const s = cp.nats.subjects;
      const channelOf = (type: string) => Object.entries<any>(asyncapi.channels).filter(([, c]) => type in c.messages);
      for (const e of billing) {
        const channels = channelOf(e.body.type);
        expect(channels).toHaveLength(1);
        const [, channel] = channels[0];
        expect({ subject: e.subject, matches: addressRegex(channel.address, cp.ns).test(e.subject) }).toEqual({ subject: e.subject, matches: true });
        // The id in the subject is the aggregate the documentation names.
        const param = /\{(clusterId|vmId)\}$/.exec(channel.address)![1];
        expect(e.subject.split('.').pop()).toBe(e.body.data[param]);
      }
      for (const c of Object.values<any>(asyncapi.channels)) {
        expect(c['x-jetstream'].stream.replace('{NS}', cp.ns.toUpperCase())).toBe(s.eventsStream);
        const aggregate = c.address.split('.')[2];
        expect(c['x-jetstream'].filterSubject.replace('{ns}', cp.ns)).toBe(s.evtAll(aggregate));
        expect(c.parameters.ns.default).toBe('fabric');
      }
      // The recommended consumer is the one the example consumer uses: explicit ack, no server-side skipping.
      expect(asyncapi.components['x-jetstream-consumer']).toMatchObject({ ack_policy: 'explicit', max_deliver: -1, deliver_policy: 'all' });
    });
  });
});
