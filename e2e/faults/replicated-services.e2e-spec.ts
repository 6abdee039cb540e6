/**
 * Two instances of every service (FABRIC_SERVICE_INSTANCES=2 of npm start, on the authenticated bus): during a
 * burst of VMs, kill -9 one gateway, one IPAM, one projector and the LEADER of inventory and of each deriver. Each killed
 * instance stays down (its host is lost) until the survivor took over: the gateways, IPAMs and projectors are active-active,
 * the standbys of the single-writer services take the leader lease once it expires
 * (docs/adr/0011-active-standby-leader-lease.md). The burst completes through the surviving gateway; then the
 * fault suite's checker over the whole history: every VM at the core, nothing lost, nothing twice.
 */
import { LEADER_ROLES } from '@fabric/eventstore';
import { bringBack, leaseHolder, loseInstance, loseLeader, programOf, until } from './support/ha';
import { startSupervisedFabric, type SupervisedFabric } from './support/supervised-fabric';
import { VmBurst } from './support/vm-burst';

jest.setTimeout(900_000);

const BURST = Number(process.env.FAULTS_BURST_VMS ?? 200);

describe('two instances of every service: instances killed during a VM burst', () => {
  let f: SupervisedFabric;
  const report: string[] = [];

  beforeAll(async () => {
    f = await startSupervisedFabric({ nodes: 3, rrs: 2, instances: 2 });
  });
  afterAll(async () => {
    if (report.length) console.log(['replicated services: takeovers', ...report].join('\n  '));
    await f?.close();
  });

  it('the survivors and standbys take over; every VM at the core, nothing lost or twice', async () => {
    // Every leader lease held before the burst, and by instances we know.
    for (const role of LEADER_ROLES) {
      const h = await until(`${role} has a leader`, () => leaseHolder(f, role));
      expect([role, `${role}-2`]).toContain(programOf(h));
    }

    const vms = new VmBurst(f, { vms: BURST, deletes: 0, convergeMs: 240_000, report });
    const [lostGateway, survivingApi] = ['gateway', f.apis[1]];
    let survivorAcksAtLoss = 0;
    let survivorAcksWhileLost = 0;
    const verdict = await vms.caseWith('gateway, ipam and every leader lost', async () => {
      survivorAcksAtLoss = vms.ackedBy.get(survivingApi) ?? 0;
      await loseInstance(f, lostGateway);
      await loseInstance(f, 'ipam');
      // Projectors are active-active too: the survivor's batches keep the read model (the checkpoint row serialises them).
      await loseInstance(f, 'projector');
      report.push(`gateway, ipam and projector (instance 1) killed with kill -9, not restarted`);
      for (const role of LEADER_ROLES) {
        // The standby holds the lease: the signal that it took over (not the supervisor's view).
        const { victim, successor, ms } = await loseLeader(f, role);
        report.push(`${role}: leader ${victim} killed, ${successor} holds the lease ${ms} ms later`);
        // Back as the standby now (its host returned): the next leader kill leaves it a survivor.
        await bringBack(f, victim);
      }
      survivorAcksWhileLost = (vms.ackedBy.get(survivingApi) ?? 0) - survivorAcksAtLoss;
    });
    expect(verdict.violations).toEqual([]);
    expect(verdict.live.size).toBe(BURST);
    // The clients kept being answered by the surviving gateway while the other was gone.
    expect(survivorAcksWhileLost).toBeGreaterThan(0);
    report.push(`surviving gateway acknowledged ${survivorAcksWhileLost} requests while the other was gone (${JSON.stringify([...vms.ackedBy])})`);
    // The lost instances come back (their hosts returned); the gateway answers again.
    await bringBack(f, lostGateway);
    await bringBack(f, 'ipam');
    await bringBack(f, 'projector');
    await until('the returned gateway is healthy', () => fetch(`${f.apis[0]}/health`).then((r) => (r.ok ? true : undefined)), 120_000);
  });
});
