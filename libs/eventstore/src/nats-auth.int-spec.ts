/**
 * The product's bus with identities: a nats-server of its own with the product's authorization (nkey users,
 * per-subject permissions), started and stopped by this test. What a compromised node's credentials can
 * and cannot do, what the services may publish, and that consumers trust the subject, not the payload.
 */
import { randomUUID } from 'node:crypto';
import { headers as natsHeaders } from '@nats-io/nats-core';
import { AckPolicy, DeliverPolicy } from '@nats-io/jetstream';
import { type StoredEvent } from '@fabric/contracts';
import { type AuthNats, eventually, startAuthenticatedNats } from '@fabric/testing/infra';
import { startAgent, type AgentHandle } from '../../../agents/src/agent';
import { Nats } from './connection';
import { EventStore, decodeMessage, UntrustedEventError } from './event-store';
import { agentConsumerName, placementsBucket, rrNodesBucket, secretsBucket, snapshotsBucket } from './nats-auth';
import { SnapshotStore } from './snapshot-store';
import { Kvm } from '@nats-io/kv';

const nodeA = randomUUID();
const nodeB = randomUUID();
const clusterId = randomUUID();

/** Resolves to the error a refused operation raises (permission violation, or no answer within the timeout). */
async function refused(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return String((err as Error).message ?? err);
  }
  throw new Error('expected the operation to be refused, it succeeded');
}

describe('given the product bus with identities (nats-server with nkey users and per-subject permissions)', () => {
  let server: AuthNats;
  let admin: Nats;
  const open: Nats[] = [];
  const as = async (name: string) => {
    const n = await Nats.connect({ servers: server.url, ns: server.ns, creds: server.creds(name), name });
    open.push(n);
    return n;
  };

  beforeAll(async () => {
    server = await startAuthenticatedNats([
      { role: 'admin' },
      { role: 'inventory' },
      { role: 'ipam' },
      { role: 'route-announcer' },
      { role: 'router-config' },
      { role: 'gateway' },
      { role: 'projector' },
      { role: 'agent', kind: 'node', target: nodeA },
      { role: 'agent', kind: 'node', target: nodeB },
      { role: 'agent', kind: 'router', target: clusterId },
      { role: 'rr-config' },
      { role: 'agent', kind: 'rr', target: `${clusterId}_rr-1` },
      { role: 'bmp', cluster: clusterId },
    ]);
    admin = await Nats.connect({ servers: server.url, ns: server.ns, creds: server.creds('admin'), name: 'admin' });
    await admin.ensureStreams();
  });

  afterAll(async () => {
    for (const n of open) await n.close().catch(() => undefined);
    await admin?.close();
    await server?.stop();
  });

  it('when an anonymous client connects then it is refused', async () => {
    expect(await refused(Nats.connect({ servers: server.url, ns: server.ns }))).toMatch(/authorization/i);
  });

  it('when a client presents a key the server does not know then it is refused', async () => {
    const { nkeys } = await import('@nats-io/nats-core');
    const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
    const dir = mkdtempSync('/tmp/fabric-unknown-');
    try {
      writeFileSync(`${dir}/x.nk`, new TextDecoder().decode(nkeys.createUser().getSeed()), { mode: 0o600 });
      expect(await refused(Nats.connect({ servers: server.url, ns: server.ns, creds: `${dir}/x.nk` }))).toMatch(/authorization/i);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // The placements (the RRs' ROA feed) and the node parts of the RRs' BIRD configs: the same rules.
  describe.each([
    ["the placements bucket (the RRs' ROA feed)", placementsBucket, '203-0-113-10.4200000001', '203-0-113-11.4200000002', '203-0-113-99.4200000001'],
    ["the RR node parts bucket (the RRs' node sessions)", rrNodesBucket, randomUUID(), randomUUID(), randomUUID()],
  ])('%s', (_label, bucketOf, own, other, forged) => {
    const otherCluster = randomUUID();
    const bucket = () => bucketOf(admin.subjects);
    const key = `${clusterId}.${own}`;
    const value = JSON.stringify({ prefix: '203.0.113.10/32', maxLen: 32, originTag: 4200000001 });
    let rrc: Nats;
    let rr: Nats;
    beforeAll(async () => {
      rrc = await as('rr-config');
      rr = await as(`agent-rr-${clusterId}_rr-1`);
      // rr-config writes and reads it (its start-up load is a watch of the whole bucket).
      const kv = await new Kvm(rrc.nc).open(bucket());
      await kv.put(key, value);
      await kv.put(`${otherCluster}.${other}`, value);
      expect((await kv.get(key))?.string()).toBe(value);
      const w = await kv.watch();
      for await (const e of w) if (e.delta === 0) break;
      w.stop();
    });

    it('when the RR agent watches its own cluster then it gets the placements, and updates', async () => {
      const kv = await new Kvm(rr.nc).open(bucket());
      const w = await kv.watch({ key: `${clusterId}.>` });
      const seen: string[] = [];
      const done = (async () => {
        for await (const e of w) {
          seen.push(`${e.operation}:${e.key}`);
          if (seen.length === 2) break;
        }
      })();
      await eventually(() => seen.length === 1, 5000, 20, 'first pass');
      await (await new Kvm(rrc.nc).open(bucket())).purge(key);
      await done;
      w.stop();
      expect(seen).toEqual([`PUT:${key}`, `PURGE:${key}`]);
      await (await new Kvm(rrc.nc).open(bucket())).put(key, value);
    });

    it('when the RR agent watches another cluster or the whole bucket, reads a key or writes then it is refused', async () => {
      const kv = await new Kvm(rr.nc).open(bucket());
      expect(await refused(kv.watch({ key: `${otherCluster}.>` }))).toMatch(/permission|timeout/i);
      expect(await refused(kv.watch())).toMatch(/permission|timeout/i);
      expect(await refused(rr.js.publish(`$KV.${bucket()}.${key}`, value, { timeout: 2000 }))).toMatch(/permission|timeout/i);
      expect(await refused(rr.js.publish(`$KV.${bucket()}.${otherCluster}.x`, value, { timeout: 2000 }))).toMatch(/permission|timeout/i);
      expect(await refused(rr.jsm.direct.getMessage(`KV_${bucket()}`, { last_by_subj: `$KV.${bucket()}.${otherCluster}.${other}` }))).toMatch(
        /permission|timeout/i,
      );
      expect(await refused(rr.jsm.streams.purge(`KV_${bucket()}`))).toMatch(/permission|timeout/i);
    });

    it('when a node agent reads or writes the bucket then it is refused', async () => {
      const a = await as(`agent-node-${nodeA}`);
      const kv = await new Kvm(a.nc).open(bucket()); // local only: every read below is refused
      expect(await refused(kv.watch({ key: `${clusterId}.>` }))).toMatch(/permission|timeout/i);
      expect(await refused(kv.get(key))).toMatch(/permission|timeout/i);
      expect(await refused(a.js.publish(`$KV.${bucket()}.${clusterId}.${forged}`, value, { timeout: 2000 }))).toMatch(/permission|timeout/i);
      expect(await refused(a.jsm.direct.getMessage(`KV_${bucket()}`, { last_by_subj: `$KV.${bucket()}.${key}` }))).toMatch(/permission|timeout/i);
      expect(
        await refused(a.jsm.consumers.add(`KV_${bucket()}`, { name: 'x', filter_subject: `$KV.${bucket()}.${clusterId}.>`, ack_policy: AckPolicy.None })),
      ).toMatch(/permission|timeout/i);
      // Nothing it tried landed.
      expect(await (await new Kvm(admin.nc).open(bucket())).get(`${clusterId}.${forged}`)).toBeNull();
    });
  });

  describe("with the BMP collector's credentials (docs/adr/bmp-collector.md)", () => {
    const routes = (id: string) => ({
      id: randomUUID(),
      event: { type: 'RoutesChanged' as const, data: { target: { kind: 'router' as const, id }, added: [], withdrawn: [], total: 0 } },
    });

    it("when it reports its cluster's core routes then only its own obs.bmp subject is accepted; the router agent may not use it", async () => {
      const b = await as(`bmp-${clusterId}`);
      const s = b.subjects;
      const own = await new EventStore(b).append(s.obsBmp(clusterId), [routes(clusterId)]);
      const stored = await admin.jsm.streams.getMessage(s.observationsStream, { seq: own.seqs[0] });
      expect(decodeMessage({ seq: stored!.seq, subject: stored!.subject, data: stored!.data }).data).toMatchObject({
        target: { kind: 'router', id: clusterId, source: 'bmp' },
      });
      const other = randomUUID();
      expect(await refused(new EventStore(b).append(s.obsBmp(other), [routes(other)]))).toMatch(/permission|timeout/i);
      expect(await refused(new EventStore(b).append(s.obs('router', clusterId), [routes(clusterId)]))).toMatch(/permission|timeout/i);
      expect(await refused(b.jsm.consumers.add(s.observationsStream, { name: 'x', filter_subject: s.obsAll(), ack_policy: AckPolicy.None }))).toMatch(
        /permission|timeout/i,
      );
      // Session states are not a BMP observation: stored (its subject), refused by every reader.
      const forged = await b.js.publish(
        s.obsBmp(clusterId),
        JSON.stringify({ id: randomUUID(), type: 'BgpSessionStateChanged', schemaVersion: 1, occurredAt: new Date().toISOString(), data: {} }),
      );
      const m = await admin.jsm.streams.getMessage(s.observationsStream, { seq: forged.seq });
      expect(() => decodeMessage({ seq: m!.seq, subject: m!.subject, data: m!.data })).toThrow(UntrustedEventError);
      const router = await as(`agent-router-${clusterId}`);
      expect(await refused(new EventStore(router).append(s.obsBmp(clusterId), [routes(clusterId)]))).toMatch(/permission|timeout/i);
    });
  });

  describe("with node A's credentials", () => {
    let a: Nats;
    beforeAll(async () => {
      a = await as(`agent-node-${nodeA}`);
    });
    const s = () => a.subjects;

    it("when it publishes a desired state on node B's command subject then it is refused", async () => {
      expect(await refused(a.js.publish(s().cmd('node', nodeB), '{"generation":99}', { timeout: 2000 }))).toMatch(/permission|timeout/i);
    });

    it('when it publishes on an aggregate event subject (a forged VmDeleted) then it is refused', async () => {
      const vm = randomUUID();
      const store = new EventStore(a);
      expect(await refused(store.append(s().evt('vm', vm), [{ id: randomUUID(), event: { type: 'VmDeleted', data: { vmId: vm } as never } }]))).toMatch(
        /permission|timeout/i,
      );
      expect(
        await refused(
          store.append(s().evt('agent', 'node', nodeB), [
            { id: randomUUID(), event: { type: 'RoutesObserved', data: { target: { kind: 'node', id: nodeB }, routes: [] } } },
          ]),
        ),
      ).toMatch(/permission|timeout/i);
    });

    it('when it reports observations then only its own obs subject is accepted, into the observations stream, and it cannot read that stream', async () => {
      const store = new EventStore(a);
      const routes = (id: string) => ({
        id: randomUUID(),
        event: { type: 'RoutesChanged' as const, data: { target: { kind: 'node' as const, id }, added: [], withdrawn: [], total: 0 } },
      });
      const own = await store.append(s().obs('node', nodeA), [routes(nodeA)]);
      const stored = await admin.jsm.streams.getMessage(s().observationsStream, { seq: own.seqs[0] });
      expect(stored?.subject).toBe(s().obs('node', nodeA));
      expect(await refused(store.append(s().obs('node', nodeB), [routes(nodeB)]))).toMatch(/permission|timeout/i);
      expect(await refused(a.js.publish(s().obs('rr', `${clusterId}_rr-1`), '{}', { timeout: 2000 }))).toMatch(/permission|timeout/i);
      expect(await refused(a.jsm.consumers.add(s().observationsStream, { name: 'x', filter_subject: s().obsAll(), ack_policy: AckPolicy.None }))).toMatch(
        /permission|timeout/i,
      );
      expect(await refused(a.jsm.direct.getMessage(s().observationsStream, { last_by_subj: s().obs('node', nodeB) }))).toMatch(/permission|timeout/i);
      // A fact on its obs subject is forged: readers refuse it.
      const forged = await a.js.publish(
        s().obs('node', nodeA),
        JSON.stringify({ id: randomUUID(), type: 'ConfigApplied', schemaVersion: 1, occurredAt: new Date().toISOString(), data: {} }),
      );
      const m = await admin.jsm.streams.getMessage(s().observationsStream, { seq: forged.seq });
      expect(() => decodeMessage({ seq: m!.seq, subject: m!.subject, data: m!.data })).toThrow(UntrustedEventError);
      // It may not ask the others for a resync (consumers do): the server reports a permission violation.
      const errors: string[] = [];
      void (async () => {
        for await (const st of a.nc.status()) if (st.type === 'error') errors.push(String((st as { error?: Error }).error?.message));
      })();
      a.nc.publish(s().resyncRequests);
      await eventually(() => errors.some((e) => /permission/i.test(e) && e.includes('ctl')), 5000, 50, 'publish permission violation');
    });

    it('when it calls the stream admin API (delete, purge, create, update, message delete) then it is refused', async () => {
      expect(await refused(a.jsm.streams.delete(s().eventsStream))).toMatch(/permission|timeout/i);
      expect(await refused(a.jsm.streams.purge(s().commandsStream))).toMatch(/permission|timeout/i);
      expect(await refused(a.jsm.streams.add({ name: 'EVIL', subjects: ['evil.>'] }))).toMatch(/permission|timeout/i);
      expect(await refused(a.jsm.streams.update(s().commandsStream, { max_msgs_per_subject: 0 } as never))).toMatch(/permission|timeout/i);
      expect(await refused(a.jsm.streams.deleteMessage(s().commandsStream, 1))).toMatch(/permission|timeout/i);
      // the streams are still there, unchanged
      expect((await admin.jsm.streams.info(s().eventsStream)).config.deny_delete).toBe(true);
    });

    it("when it reads node B's commands, the events stream or the secrets then it is refused", async () => {
      const stream = s().commandsStream;
      expect(await refused(a.jsm.direct.getMessage(stream, { last_by_subj: s().cmd('node', nodeB) }))).toMatch(/permission|timeout/i);
      expect(await refused(a.jsm.streams.getMessage(stream, { last_by_subj: s().cmd('node', nodeB) }))).toMatch(/permission|timeout/i);
      // its own consumer name with node B's filter, and any other name with its own filter
      const own = agentConsumerName(s(), 'node', nodeA);
      expect(await refused(a.jsm.consumers.add(stream, { name: own, filter_subject: s().cmd('node', nodeB), ack_policy: AckPolicy.None }))).toMatch(
        /permission|timeout/i,
      );
      expect(await refused(a.jsm.consumers.add(stream, { name: 'other', filter_subject: s().cmd('node', nodeA), ack_policy: AckPolicy.None }))).toMatch(
        /permission|timeout/i,
      );
      expect(await refused(a.jsm.consumers.add(s().eventsStream, { name: own, filter_subject: s().evtAll(), ack_policy: AckPolicy.None }))).toMatch(
        /permission|timeout/i,
      );
      expect(await refused(a.jsm.direct.getMessage(`KV_${secretsBucket(s())}`, { last_by_subj: `$KV.${secretsBucket(s())}.x` }))).toMatch(
        /permission|timeout/i,
      );
    });

    it('when it subscribes to another subject (core NATS) then it receives nothing and the server refuses it', async () => {
      const errors: string[] = [];
      void (async () => {
        for await (const st of a.nc.status()) if (st.type === 'error') errors.push(String((st as { error?: Error }).error?.message));
      })();
      a.nc.subscribe(s().cmd('node', nodeB));
      await a.nc.flush();
      await eventually(() => errors.some((e) => /permission/i.test(e)), 5000, 50, 'subscribe permission violation');
    });

    it('when it reads its own command subject through its own consumer then it gets it', async () => {
      const ra = await as('route-announcer');
      await ra.js.publish(s().cmd('node', nodeA), JSON.stringify({ generation: 1 }), { msgID: randomUUID() });
      const last = await a.jsm.direct.getMessage(s().commandsStream, { last_by_subj: s().cmd('node', nodeA) });
      expect(last?.json()).toEqual({ generation: 1 });
      const name = agentConsumerName(s(), 'node', nodeA);
      await a.jsm.consumers.add(s().commandsStream, {
        name,
        filter_subject: s().cmd('node', nodeA),
        ack_policy: AckPolicy.None,
        deliver_policy: DeliverPolicy.LastPerSubject,
      });
      const c = await a.js.consumers.get(s().commandsStream, name);
      const m = await c.next({ expires: 5000 });
      expect(m?.json()).toEqual({ generation: 1 });
      await a.jsm.consumers.delete(s().commandsStream, name);
    });
  });

  describe('the snapshots bucket (models of the services)', () => {
    it("when a service saves and loads its own snapshot then it works; another service's keys and any agent are refused", async () => {
      const rrc = await as('rr-config');
      const inventory = await as('inventory');
      const agent = await as(`agent-node-${nodeA}`);
      const own = new SnapshotStore(rrc.nc, rrc.subjects, 'rr-config');
      await own.save('rr-config', 1, 7, { m: new Map([['a', 1]]) });
      await own.save('rr-config', 1, 8, 'again'); // the other slot, and the purge of the first one's rest
      expect(await own.load('rr-config', 1)).toMatchObject({ outcome: 'loaded', snapshot: { head: { seq: 8 } } });
      const bucket = snapshotsBucket(admin.subjects);
      // Another service can neither overwrite nor read rr-config's snapshot, nor write under its name.
      expect(await refused(inventory.js.publish(`$KV.${bucket}.rr-config.rr-config`, '{}', { timeout: 2000 }))).toMatch(/permission|timeout/i);
      expect(
        await refused(
          new SnapshotStore(inventory.nc, inventory.subjects, 'rr-config')
            .load('rr-config', 1)
            .then((r) => (r.outcome === 'loaded' ? r : Promise.reject(new Error(r.outcome)))),
        ),
      ).toMatch(/permission|timeout|refused|missing/i);
      expect(await refused(inventory.jsm.direct.getMessage(`KV_${bucket}`, { last_by_subj: `$KV.${bucket}.rr-config.rr-config` }))).toMatch(
        /permission|timeout/i,
      );
      await expect(new SnapshotStore(inventory.nc, inventory.subjects, 'inventory').save('index', 1, 1, {})).resolves.toMatchObject({ seq: 1 });
      // Agents: nothing.
      expect(await refused(agent.js.publish(`$KV.${bucket}.node.x`, '{}', { timeout: 2000 }))).toMatch(/permission|timeout/i);
      expect(await refused(agent.jsm.direct.getMessage(`KV_${bucket}`, { last_by_subj: `$KV.${bucket}.rr-config.rr-config` }))).toMatch(/permission|timeout/i);
      // Nothing the others tried landed.
      expect(await own.load('rr-config', 1)).toMatchObject({ outcome: 'loaded', snapshot: { head: { seq: 8 } } });
    });
  });

  describe('the services', () => {
    it('when each publishes outside its own aggregates then it is refused; inside, it is stored', async () => {
      const inventory = await as('inventory');
      const ipam = await as('ipam');
      const ra = await as('route-announcer');
      const gw = await as('gateway');
      const s = inventory.subjects;
      const ok = (n: Nats, subj: string) => n.js.publish(subj, '{}', { msgID: randomUUID(), timeout: 2000 });
      // every service starts with ensureStreams(): unchanged streams need no admin right
      for (const n of [inventory, ipam, ra, gw]) await expect(n.ensureStreams()).resolves.toBeUndefined();
      await expect(ok(inventory, s.evt('vm', randomUUID()))).resolves.toBeDefined();
      await expect(ok(ipam, s.evt('ipam', clusterId))).resolves.toBeDefined();
      await expect(ok(ra, s.cmd('node', nodeA))).resolves.toBeDefined();
      expect(await refused(ok(ipam, s.evt('vm', randomUUID())))).toMatch(/permission|timeout/i);
      expect(await refused(ok(inventory, s.evt('agent', 'node', nodeA)))).toMatch(/permission|timeout/i);
      expect(await refused(ok(ra, s.cmd('rr', `${clusterId}_rr1`)))).toMatch(/permission|timeout/i);
      expect(await refused(ok(gw, s.evt('vm', randomUUID())))).toMatch(/permission|timeout/i);
      expect(await refused(inventory.jsm.streams.delete(s.eventsStream))).toMatch(/permission|timeout/i);
      // Observations: agents only; route-announcer and the gateway read them and may ask for a resync.
      expect(await refused(ok(inventory, s.obs('node', nodeA)))).toMatch(/permission|timeout/i);
      expect(await refused(ok(gw, s.obs('node', nodeA)))).toMatch(/permission|timeout/i);
      const agent = await as(`agent-node-${nodeB}`);
      const asked: string[] = [];
      agent.nc.subscribe(s.resyncRequests, { callback: (_e, m) => void asked.push(m.string()) });
      await agent.nc.flush();
      for (const [name, n] of [
        ['route-announcer', ra],
        ['gateway', gw],
      ] as const) {
        await expect(new EventStore(n).observations().read(s.obsAll())).resolves.toEqual(expect.any(Array));
        n.nc.publish(s.resyncRequests, name);
      }
      await eventually(() => asked.length === 2, 5000, 50, 'both resync requests reach the agent');
      expect(await refused(new EventStore(ipam).observations().read(s.obsAll()))).toMatch(/permission|timeout/i);
    });

    it('when a service claims a position to append (replicated stream: append-fence.ts) then only on its own aggregates', async () => {
      const ipam = await as('ipam');
      const inventory = await as('inventory');
      const agent = await as(`agent-node-${nodeA}`);
      const s = ipam.subjects;
      const subject = s.evt('ipam', clusterId);
      const first = await new EventStore(ipam).append(subject, [{ id: randomUUID(), event: { type: 'IpReleased', data: { clusterId, vmId: 'v' } } as never }]);
      const fenced = new EventStore(ipam);
      Object.defineProperty(fenced.fence, 'mode', { value: 'on' });
      const ack = await fenced.append(subject, [{ id: randomUUID(), event: { type: 'IpReleased', data: { clusterId, vmId: 'w' } } as never }], first.seqs[0]);
      expect(ack.seqs[0]).toBeGreaterThan(first.seqs[0]);
      // Its own claim read back (a retry), and another's refused position.
      const seq = ack.seqs[0];
      await expect(fenced.fence.claim(subject, seq, 'm')).resolves.toEqual(expect.any(Number));
      await expect(fenced.fence.claim(subject, seq, 'm')).resolves.toEqual(expect.any(Number));
      expect(await refused(new EventStore(inventory).fence.claim(subject, seq + 1, 'm'))).toMatch(/permission|timeout/i);
      expect(await refused(new EventStore(agent).fence.claim(subject, seq + 1, 'm'))).toMatch(/permission|timeout/i);
      await expect(new EventStore(inventory).fence.claim(s.evt('vm', randomUUID()), 1, 'm')).resolves.toEqual(expect.any(Number));
    });

    it('when the projector reads the events and observations then it may; any write, RPC or command is refused', async () => {
      const p = await as('projector');
      const inventory = await as('inventory');
      const s = p.subjects;
      await expect(p.ensureStreams()).resolves.toBeUndefined();
      await expect(new EventStore(p).read(s.evtAll())).resolves.toEqual(expect.any(Array));
      await expect(new EventStore(p).observations().read(s.obsAll())).resolves.toEqual(expect.any(Array));
      const ok = (subj: string) => p.js.publish(subj, '{}', { msgID: randomUUID(), timeout: 2000 });
      for (const subject of [s.evt('vm', randomUUID()), s.cmd('node', nodeA), s.obs('node', nodeA)])
        expect(await refused(ok(subject))).toMatch(/permission|timeout/i);
      const sub = inventory.nc.subscribe(s.rpcAll('inventory'), { callback: (_e, m) => void m.respond('"ok"') });
      await inventory.nc.flush();
      expect(await refused(p.nc.request(s.rpc('inventory', 'CreateVm'), '{}', { timeout: 1000 }))).toMatch(/permission|timeout/i);
      sub.unsubscribe();
    });

    it('when anyone but the gateway sends an RPC command then it is refused (route-announcer: CompleteMigration and CompleteFloatingMove only)', async () => {
      const inventory = await as('inventory');
      const gw = await as('gateway');
      const a = await as(`agent-node-${nodeA}`);
      const s = inventory.subjects;
      const sub = inventory.nc.subscribe(s.rpcAll('inventory'), { queue: 'q' });
      void (async () => {
        for await (const m of sub) m.respond('"ok"');
      })();
      await inventory.nc.flush();
      expect((await gw.nc.request(s.rpc('inventory', 'CreateVm'), '{}', { timeout: 2000 })).string()).toBe('"ok"');
      expect(await refused(a.nc.request(s.rpc('inventory', 'DeleteVm'), '{}', { timeout: 1000 }))).toMatch(/permission|timeout/i);
      // The one exception: route-announcer completes migrations it saw the target node announce — that command only.
      const ra = await as('route-announcer');
      expect((await ra.nc.request(s.rpc('inventory', 'CompleteMigration'), '{}', { timeout: 2000 })).string()).toBe('"ok"');
      expect(await refused(ra.nc.request(s.rpc('inventory', 'CreateVm'), '{}', { timeout: 1000 }))).toMatch(/permission|timeout/i);
      sub.unsubscribe();
      // And IPAM's floating address move completion (the same signal), no other IPAM command.
      const ipam = await as('ipam');
      const ipamSub = ipam.nc.subscribe(s.rpcAll('ipam'), { queue: 'q' });
      void (async () => {
        for await (const m of ipamSub) m.respond('"ok"');
      })();
      await ipam.nc.flush();
      expect((await ra.nc.request(s.rpc('ipam', 'CompleteFloatingMove'), '{}', { timeout: 2000 })).string()).toBe('"ok"');
      expect(await refused(ra.nc.request(s.rpc('ipam', 'AllocateFloatingAddress'), '{}', { timeout: 1000 }))).toMatch(/permission|timeout/i);
      ipamSub.unsubscribe();
    });

    it("when the gateway asks a deriver for a preview (BGP settings, a write's events) then the deriver answers; nobody else may ask", async () => {
      const gw = await as('gateway');
      const a = await as(`agent-node-${nodeA}`);
      const inventory = await as('inventory');
      for (const role of ['route-announcer', 'rr-config', 'router-config'] as const) {
        const d = await as(role);
        const s = d.subjects;
        for (const subject of [s.bgpPreview(role), s.eventsPreview(role)]) {
          const sub = d.nc.subscribe(subject, { callback: (_e, m) => void m.respond('{"targets":[]}') });
          await d.nc.flush();
          expect((await gw.nc.request(subject, '{}', { timeout: 2000 })).string()).toBe('{"targets":[]}');
          for (const other of [a, inventory]) expect(await refused(other.nc.request(subject, '{}', { timeout: 1000 }))).toMatch(/permission|timeout/i);
          sub.unsubscribe();
        }
      }
    });
  });

  it('when a real agent runs with its own credentials then it follows its commands (also after its consumer is deleted) and reports on its own subject', async () => {
    let agent: AgentHandle | undefined;
    try {
      // The FRR role without a namespace cannot apply: the agent reports the failure, which proves it read the command.
      agent = await startAgent({
        role: 'frr-router',
        targetId: clusterId,
        namespace: `fab-auth-absent-${nodeA.slice(0, 6)}`,
        natsUrl: server.url,
        ns: server.ns,
        natsCreds: server.creds(`agent-router-${clusterId}`),
        resyncMs: 60_000,
        pollMs: 60_000,
      });
      const rc = await as('router-config');
      const s = rc.subjects;
      await rc.js.publish(s.cmd('router', clusterId), JSON.stringify({ kind: 'router', targetId: clusterId, clusterId, generation: 7, hash: 'h7' }), {
        msgID: randomUUID(),
      });
      const store = new EventStore(admin);
      const report = await eventually(
        async () =>
          (await store.read(s.evt('agent', 'router', clusterId))).find(
            (e) => e.type === 'ConfigApplyFailed' && (e.data as { generation: number }).generation === 7,
          ),
        15000,
        100,
        'ConfigApplyFailed for generation 7',
      );
      expect(report.data).toMatchObject({ target: { kind: 'router', id: clusterId } });
      // fault: its consumer is deleted under it; it recreates it and gets the next command
      await admin.jsm.consumers.delete(s.commandsStream, agentConsumerName(s, 'router', clusterId));
      await rc.js.publish(s.cmd('router', clusterId), JSON.stringify({ kind: 'router', targetId: clusterId, clusterId, generation: 8, hash: 'h8' }), {
        msgID: randomUUID(),
      });
      await eventually(
        async () =>
          (await store.read(s.evt('agent', 'router', clusterId))).find(
            (e) => e.type === 'ConfigApplyFailed' && (e.data as { generation: number }).generation === 8,
          ),
        20000,
        100,
        'ConfigApplyFailed for generation 8',
      );
    } finally {
      await agent?.stop();
    }
  });

  describe('consumers trust the subject', () => {
    it("when node A publishes a forged event type or another target in its payload on its own subject then readers refuse the type and take the subject's target", async () => {
      const a = await as(`agent-node-${nodeA}`);
      const s = a.subjects;
      const h = natsHeaders();
      const subj = s.evt('agent', 'node', nodeA);
      const forged = await a.js.publish(
        subj,
        JSON.stringify({ id: randomUUID(), type: 'VmDeleted', schemaVersion: 1, occurredAt: new Date().toISOString(), data: { vmId: randomUUID() } }),
        { headers: h },
      );
      const impersonating = await a.js.publish(
        subj,
        JSON.stringify({
          id: randomUUID(),
          type: 'RoutesObserved',
          schemaVersion: 1,
          occurredAt: new Date().toISOString(),
          data: { target: { kind: 'rr', id: `${clusterId}_rr1` }, routes: [] },
        }),
      );
      const raw = async (seq: number) => {
        const m = await admin.jsm.streams.getMessage(s.eventsStream, { seq });
        return { seq: m!.seq, subject: m!.subject, data: m!.data };
      };
      const forgedRaw = await raw(forged.seq);
      expect(() => decodeMessage(forgedRaw)).toThrow(UntrustedEventError);
      const e: StoredEvent = decodeMessage(await raw(impersonating.seq));
      expect(e.data).toMatchObject({ target: { kind: 'node', id: nodeA } });
      // readers skip the forged one
      const read = await new EventStore(admin).read(subj);
      expect(read.map((x) => x.type)).not.toContain('VmDeleted');
    });
  });
});
