/**
 * Upgrade path: a namespace's history on an open NATS moves into the product's authenticated one with the
 * same sequences (read-model checkpoints stay valid); a non-empty target is refused.
 */
import { randomUUID } from 'node:crypto';
import { type AuthNats, closeTestNats, openTestNats, startAuthenticatedNats, uniqueNs } from '@fabric/testing/infra';
import { Nats } from './connection';
import { EventStore } from './event-store';
import { importHistory } from './import-history';

describe('given a history on an open NATS', () => {
  let server: AuthNats;
  let open: Nats;
  let target: Nats;
  const ns = uniqueNs('imp');

  beforeAll(async () => {
    open = await openTestNats(ns);
    server = await startAuthenticatedNats([{ role: 'admin' }], ns);
    target = await Nats.connect({ servers: server.url, ns, creds: server.creds('admin') });
    await target.ensureStreams();
  });

  afterAll(async () => {
    await target?.close();
    await server?.stop();
    await closeTestNats(open);
  });

  it('when it is imported then every event keeps its sequence and content, and commands keep the latest per target', async () => {
    const store = new EventStore(open);
    const s = open.subjects;
    const vms = [randomUUID(), randomUUID(), randomUUID()];
    for (const vm of vms) await store.append(s.evt('vm', vm), [{ id: `deleted:${vm}`, event: { type: 'VmDeleted', data: { vmId: vm } as never } }]);
    const node = randomUUID();
    await open.js.publish(s.cmd('node', node), JSON.stringify({ generation: 1 }));
    await open.js.publish(s.cmd('node', node), JSON.stringify({ generation: 2 }));

    const r = await importHistory(open, target);
    expect(r).toEqual({ events: 3, commands: 1 });
    const before = await store.read(s.evtAll());
    const after = await new EventStore(target).read(s.evtAll());
    expect(after).toEqual(before);
    const last = await target.jsm.direct.getMessage(s.commandsStream, { last_by_subj: s.cmd('node', node) });
    expect(last?.json()).toEqual({ generation: 2 });

    // a second import would mix histories: refused, nothing written
    await expect(importHistory(open, target)).rejects.toThrow(/not empty/);
    expect((await target.jsm.streams.info(s.eventsStream)).state.last_seq).toBe(before[before.length - 1].seq);
  });
});
