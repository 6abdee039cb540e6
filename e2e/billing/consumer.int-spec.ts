/**
 * The example billing consumer (billing-consumer.ts) receives every IpAllocated / IpReleased / VmDeleted
 * exactly once although it crashes between its store and its ack, is stopped mid-stream and restarted while
 * the control plane keeps producing: the durables resume where they were, redeliveries are recognised by
 * envelope id, and the derived counters are never incremented twice.
 */
import { Client } from 'pg';
import { eventually, natsUrl } from '@fabric/testing/infra';
import { type ControlPlane, startControlPlane } from '../support/control-plane';
import { createFixture, type Fixture } from '../support/api-fixtures';
import { BillingConsumer, type BillingConsumerOptions } from './billing-consumer';
import { billingEvents, createVm, deleteVm, rawEvents, waitForEvents } from './support';

describe('billing consumer example: exactly once across restarts', () => {
  let cp: ControlPlane;
  let fx: Fixture;
  let db: Client;
  const running: BillingConsumer[] = [];
  let opts: BillingConsumerOptions;
  let n = 0;

  /** Creates `count` VMs of three owners and deletes every other one (cool-down 0: released at once). */
  async function workload(count: number) {
    const ids: string[] = [];
    for (let i = 0; i < count; i++, n++)
      ids.push((await createVm(cp, { clusterId: fx.clusterId, nodeId: fx.nodeIds[n % 2], name: `vm${n}`, ownerId: `owner-${n % 3}` })).id);
    for (const id of ids.filter((_, i) => i % 2 === 0)) await deleteVm(cp, id);
  }
  const start = async (extra: Partial<BillingConsumerOptions> = {}) => {
    const c = await BillingConsumer.start({ ...opts, ...extra });
    running.push(c);
    return c;
  };
  const inbox = async () => (await db.query(`SELECT event_id, type, occurred_at, owner_id FROM billing.events`)).rows;

  beforeAll(async () => {
    cp = await startControlPlane({ ipamCooldownMs: 0 });
    fx = await createFixture(cp, { nodes: 2 });
    db = new Client({ connectionString: cp.db.url });
    await db.connect();
    // Short ack wait: the crash's unacked message comes back in seconds, not 30 s.
    opts = {
      natsUrl: natsUrl(),
      ns: cp.ns,
      databaseUrl: cp.db.url,
      schema: 'billing',
      name: 'acme_billing',
      ackWaitMs: 1500,
      log: (m, x) => console.warn(m, x),
    };
  });

  afterAll(async () => {
    for (const c of running) await c.kill().catch(() => undefined);
    await db?.end();
    await cp?.close();
  });

  it('crash before ack, graceful stop mid-stream, restarts while events keep coming: each event stored once, none missing', async () => {
    await workload(4); // history before the consumer ever ran: a new durable starts from the beginning

    // 1. Crash right after the 3rd store committed, before its ack (like kill -9 at the worst moment).
    let crashedOn: string | undefined;
    // (The hook gets the consumer: events may arrive before start() has returned.)
    const first = await start({
      beforeAck: async (e, self) => {
        if (self.stats.stored === 3 && !crashedOn) {
          crashedOn = e.id;
          await self.kill();
          throw new Error('simulated crash');
        }
      },
    });
    await eventually(() => crashedOn, 15000, 20, 'the simulated crash');
    expect((await inbox()).map((r) => r.event_id)).toContain(crashedOn); // stored, never acked

    // 2. The control plane keeps producing while no consumer runs.
    await workload(4);

    // 3. Restart; stop gracefully mid-stream while a producer is still creating and deleting VMs.
    const second = await start();
    const producing = workload(6);
    await eventually(() => second.stats.stored + second.stats.duplicates >= 5, 20000, 20, 'the second run to make progress');
    await second.stop();
    await producing;

    // 4. Final run catches up with everything.
    const third = await start();
    const expected = await (async () => {
      await waitForEvents(cp, 'IpReleased', 7);
      return billingEvents(await rawEvents(cp.nats));
    })();
    expect(expected.length).toBe(14 + 7 + 7); // 14 VMs allocated; 7 deleted and released
    await eventually(async () => (await inbox()).length >= expected.length, 30000, 100, 'the inbox to hold every billing event');
    // Before judging "no duplicates": nothing left that the server could still redeliver (every delivered
    // message acknowledged, nothing pending).
    await eventually(
      async () => {
        for (const d of ['acme_billing_ipam', 'acme_billing_vm']) {
          const info = await cp.nats.jsm.consumers.info(cp.nats.subjects.eventsStream, d);
          if (info.num_pending || info.num_ack_pending) return undefined;
        }
        return true;
      },
      30000,
      100,
      'the durables to have nothing pending or awaiting an ack',
    );

    const rows = await inbox();
    expect(rows.map((r) => r.event_id).sort()).toEqual(expected.map((e) => e.body.id).sort());
    // Stored with the event's own time, not the delivery time.
    const byId = new Map(expected.map((e) => [e.body.id, e.body]));
    for (const r of rows) {
      expect(new Date(r.occurred_at).toISOString()).toBe(byId.get(r.event_id)!.occurredAt);
      expect(r.owner_id).toBe(byId.get(r.event_id)!.data.ownerId);
    }
    // The effect happened once per event, not once per delivery.
    const counters = (await db.query(`SELECT owner_id, type, n FROM billing.owner_counters ORDER BY owner_id, type`)).rows;
    const want = new Map<string, number>();
    for (const e of expected) want.set(`${e.body.data.ownerId}/${e.body.type}`, (want.get(`${e.body.data.ownerId}/${e.body.type}`) ?? 0) + 1);
    expect(Object.fromEntries(counters.map((c) => [`${c.owner_id}/${c.type}`, c.n]))).toEqual(Object.fromEntries(want));
    // The crash really caused a redelivery, and the inbox recognised it.
    expect(second.stats.duplicates + third.stats.duplicates).toBeGreaterThanOrEqual(1);
    // Other event types were skipped, not stored.
    expect(first.stats.skipped + second.stats.skipped + third.stats.skipped).toBeGreaterThan(0);
    // The durables are caught up: nothing pending, nothing waiting for an ack.
    for (const d of ['acme_billing_ipam', 'acme_billing_vm']) {
      const info = await cp.nats.jsm.consumers.info(cp.nats.subjects.eventsStream, d);
      expect({ d, pending: info.num_pending, ackPending: info.num_ack_pending }).toEqual({ d, pending: 0, ackPending: 0 });
    }
  });
});
