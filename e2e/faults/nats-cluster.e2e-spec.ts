/**
 * The lab on a 3-server NATS cluster (streams with 3 replicas, every process on the seed list): during a burst
 * of 200 VMs the events stream's leader is killed with kill -9. Nothing lost, nothing stored twice, every VM
 * at the core (the fault suite's checker over the whole history); the supervisor brings the server back and
 * its own replica (its /jsz) catches up to the stream's last sequence.
 */
import { eventsCaughtUp, killEventsLeader } from './support/ha';
import { VmBurst } from './support/vm-burst';
import { startSupervisedFabric, type SupervisedFabric } from './support/supervised-fabric';

jest.setTimeout(600_000);

const BURST = Number(process.env.FAULTS_BURST_VMS ?? 200);

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

  it('kill -9 of the events stream leader: nothing lost or twice, every VM at the core, the server catches up', async () => {
    const streams = ['FABRIC_EVENTS', 'FABRIC_COMMANDS'];
    for (const s of streams) expect((await f.nats.jsm.streams.info(s)).config.num_replicas).toBe(3);
    const vms = new VmBurst(f, { vms: BURST, deletes: 0, convergeMs: 240_000, report });
    let victim = f.natsMembers[0];
    const verdict = await vms.caseWith('kill -9 of the events leader', async () => {
      const killed = await killEventsLeader(f);
      victim = killed.victim;
      report.push(`${victim.serverName} (events leader) back up (supervisor) ${killed.ms} ms after kill -9`);
    });
    expect(verdict.violations).toEqual([]);
    expect(verdict.live.size).toBe(BURST);

    const { seen, ms } = await eventsCaughtUp(f);
    report.push(`${victim.serverName}: caught up (${seen}) ${ms} ms after convergence`);
  });
});
