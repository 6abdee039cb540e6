/**
 * The lab on a 3-server NATS cluster (streams with 3 replicas, every process on the seed list): during a burst
 * of 200 VMs the events stream's leader is killed with kill -9. Nothing lost, nothing stored twice, every VM
 * at the core (the fault suite's checker over the whole history); the supervisor brings the server back and
 * its own replica (its /jsz) catches up to the stream's last sequence.
 */
import { VmBurst } from './support/vm-burst';
import { startSupervisedFabric, type SupervisedFabric } from './support/supervised-fabric';

jest.setTimeout(600_000);

const BURST = Number(process.env.FAULTS_BURST_VMS ?? 200);

interface Jsz {
  account_details?: { stream_detail?: { name: string; state: { messages: number; last_seq: number } }[] }[];
}

describe('NATS cluster: one server lost during a VM burst', () => {
  let f: SupervisedFabric;
  const report: string[] = [];

  beforeAll(async () => {
    f = await startSupervisedFabric({ nodes: 3, rrs: 1, natsCluster: 3 });
  });
  afterAll(async () => {
    if (report.length) console.log(['NATS cluster: recovery', ...report].join('\n  '));
    await f?.close();
  });

  /** The events stream as this server holds it (its local replica, not the leader's answer). */
  const localEvents = async (httpPort: number) => {
    const jsz = (await (await fetch(`http://127.0.0.1:${httpPort}/jsz?accounts=true&streams=true`)).json()) as Jsz;
    return jsz.account_details?.flatMap((a) => a.stream_detail ?? []).find((s) => s.name === 'FABRIC_EVENTS')?.state;
  };

  it('kill -9 of the events stream leader: nothing lost or twice, every VM at the core, the server catches up', async () => {
    const streams = ['FABRIC_EVENTS', 'FABRIC_COMMANDS'];
    for (const s of streams) expect((await f.nats.jsm.streams.info(s)).config.num_replicas).toBe(3);
    const vms = new VmBurst(f, { vms: BURST, deletes: 0, convergeMs: 240_000, report });
    let victim = f.natsMembers[0];
    const verdict = await vms.caseWith('kill -9 of the events leader', async () => {
      const leader = (await f.nats.jsm.streams.info('FABRIC_EVENTS')).cluster!.leader!;
      victim = f.natsMembers.find((m) => m.serverName === leader)!;
      const before = await f.sup.waitFor(victim.program, (p) => p.state === 'up' && !!p.pid);
      const t0 = Date.now();
      process.kill(before.pid!, 'SIGKILL');
      await f.sup.waitFor(victim.program, (p) => p.state === 'up' && p.pid !== before.pid, 120_000);
      report.push(`${victim.serverName} (events leader) back up (supervisor) ${Date.now() - t0} ms after kill -9`);
    });
    expect(verdict.violations).toEqual([]);
    expect(verdict.live.size).toBe(BURST);

    // Caught up: every server's own replica holds the stream up to the leader's last sequence (in one look at
    // all of them: agents may still append their reports).
    const t0 = Date.now();
    let seen = '';
    for (;;) {
      const info = await f.nats.jsm.streams.info('FABRIC_EVENTS');
      const locals = await Promise.all(f.natsMembers.map((m) => localEvents(m.httpPort).catch(() => undefined)));
      seen = `stream at ${info.state.last_seq}, servers at ${locals.map((l, i) => `${f.natsMembers[i].serverName}:${l?.last_seq}`).join(' ')}`;
      if (locals.every((l) => l?.last_seq === info.state.last_seq && l.messages === info.state.messages) && info.cluster!.replicas!.every((r) => r.current))
        break;
      if (Date.now() - t0 > 60_000) throw new Error(`not caught up within 60 s: ${seen}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    report.push(`${victim.serverName}: caught up (${seen}) ${Date.now() - t0} ms after convergence`);
  });
});
