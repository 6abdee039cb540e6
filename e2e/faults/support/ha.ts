/**
 * Fault steps of the high-availability specs (a NATS cluster, two instances of every service), shared by
 * nats-cluster, replicated-services and ha-deployment: kill the events stream's leader server and see its
 * replica catch up; lose a service instance (its host gone) and see the standby take the leader lease.
 */
import { Kvm } from '@nats-io/kv';
import { type LeaderInfo, serviceLeaseBucket } from '@fabric/eventstore';
import { type NatsMemberInfo, type SupervisedFabric } from './supervised-fabric';

export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The holder of a service's leader lease, read as the operator would (the admin identity). */
export async function leaseHolder(f: SupervisedFabric, role: string): Promise<LeaderInfo | undefined> {
  const kv = await new Kvm(f.nats.nc).open(serviceLeaseBucket('fabric'));
  const e = await kv.get(role);
  return e?.operation === 'PUT' ? (JSON.parse(new TextDecoder().decode(e.value)) as LeaderInfo) : undefined;
}

/** The supervised program (`inventory` or `inventory-2`) an instance id names: `<host>/<program>`. */
export const programOf = (info: LeaderInfo) => info.instance.slice(info.instance.lastIndexOf('/') + 1);

/** kill -9 and no restart (the instance's host is gone): the supervisor forgets the program right away. */
export async function loseInstance(f: SupervisedFabric, program: string): Promise<void> {
  const st = await f.sup.waitFor(program, (p) => p.state === 'up' && !!p.pid);
  process.kill(st.pid!, 'SIGKILL');
  await f.sup.remove(program);
}

/** A lost instance's host returned: the program is supervised again. */
export function bringBack(f: SupervisedFabric, program: string) {
  const [service, instance] = program.endsWith('-2') ? [program.slice(0, -2), 2] : [program, 1];
  return f.sup.ensure(f.serviceSpec(service, instance));
}

/**
 * kill -9 of the leader instance of `role` (not restarted); resolves once the other instance holds the lease
 * (the signal that it took over, not the supervisor's view) with the lost program and the takeover time.
 */
export async function loseLeader(f: SupervisedFabric, role: string, timeoutMs = 60_000): Promise<{ victim: string; successor: string; ms: number }> {
  const before = await until(`${role} has a leader`, () => leaseHolder(f, role));
  const victim = programOf(before);
  const t0 = Date.now();
  await loseInstance(f, victim);
  const after = await until(
    `${role}: the standby takes the lease`,
    async () => {
      const h = await leaseHolder(f, role);
      return h && programOf(h) !== victim ? h : undefined;
    },
    timeoutMs,
  );
  return { victim, successor: programOf(after), ms: Date.now() - t0 };
}

interface Jsz {
  account_details?: { stream_detail?: { name: string; state: { messages: number; last_seq: number } }[] }[];
}

/** The events stream as this server holds it (its local replica, not the leader's answer). */
async function localEvents(httpPort: number) {
  const jsz = (await (await fetch(`http://127.0.0.1:${httpPort}/jsz?accounts=true&streams=true`)).json()) as Jsz;
  return jsz.account_details?.flatMap((a) => a.stream_detail ?? []).find((s) => s.name === 'FABRIC_EVENTS')?.state;
}

/**
 * kill -9 of the NATS server that leads the events stream; the supervisor restarts it. Resolves with the
 * victim once it is up again (a new pid) and the time that took.
 */
export async function killEventsLeader(f: SupervisedFabric): Promise<{ victim: NatsMemberInfo; ms: number }> {
  const leader = (await f.nats.jsm.streams.info('FABRIC_EVENTS')).cluster!.leader!;
  const victim = f.natsMembers.find((m) => m.serverName === leader)!;
  const before = await f.sup.waitFor(victim.program, (p) => p.state === 'up' && !!p.pid);
  const t0 = Date.now();
  process.kill(before.pid!, 'SIGKILL');
  await f.sup.waitFor(victim.program, (p) => p.state === 'up' && p.pid !== before.pid, 120_000);
  return { victim, ms: Date.now() - t0 };
}

/**
 * Every server's own replica holds the events stream up to the leader's last sequence (in one look at all of
 * them: agents may still append their reports). Resolves with what it saw and how long it took.
 */
export async function eventsCaughtUp(f: SupervisedFabric, timeoutMs = 60_000): Promise<{ seen: string; ms: number }> {
  const t0 = Date.now();
  let seen = '';
  for (;;) {
    const info = await f.nats.jsm.streams.info('FABRIC_EVENTS');
    const locals = await Promise.all(f.natsMembers.map((m) => localEvents(m.httpPort).catch(() => undefined)));
    seen = `stream at ${info.state.last_seq}, servers at ${locals.map((l, i) => `${f.natsMembers[i].serverName}:${l?.last_seq}`).join(' ')}`;
    if (locals.every((l) => l?.last_seq === info.state.last_seq && l.messages === info.state.messages) && info.cluster!.replicas!.every((r) => r.current))
      return { seen, ms: Date.now() - t0 };
    if (Date.now() - t0 > timeoutMs) throw new Error(`not caught up within ${timeoutMs / 1000} s: ${seen}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
