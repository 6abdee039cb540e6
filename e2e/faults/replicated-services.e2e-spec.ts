/**
 * Two instances of every service (FABRIC_SERVICE_INSTANCES=2 of npm start, on the authenticated bus): during a
 * burst of VMs, kill -9 one gateway, one IPAM, one projector and the LEADER of inventory and of each deriver. Each killed
 * instance stays down (its host is lost) until the survivor took over: the gateways, IPAMs and projectors are active-active,
 * the standbys of the single-writer services take the leader lease once it expires
 * (docs/adr/0011-active-standby-leader-lease.md). The burst completes through the surviving gateway; then the
 * fault suite's checker over the whole history: every VM at the core, nothing lost, nothing twice.
 */
import { Kvm } from '@nats-io/kv';
import { type LeaderInfo, LEADER_ROLES, serviceLeaseBucket } from '@fabric/eventstore';
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

  /** The holder of a service's leader lease, read as the operator would (the admin identity). */
  async function leaseHolder(role: string): Promise<LeaderInfo | undefined> {
    const kv = await new Kvm(f.nats.nc).open(serviceLeaseBucket('fabric'));
    const e = await kv.get(role);
    return e?.operation === 'PUT' ? (JSON.parse(new TextDecoder().decode(e.value)) as LeaderInfo) : undefined;
  }
  /** The supervised program (`inventory` or `inventory-2`) an instance id names: `<host>/<program>`. */
  const programOf = (info: LeaderInfo) => info.instance.slice(info.instance.lastIndexOf('/') + 1);

  async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await fn().catch(() => undefined);
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** kill -9 and no restart (the instance's host is gone): the supervisor forgets the program right away. */
  async function loseInstance(program: string): Promise<void> {
    const st = await f.sup.waitFor(program, (p) => p.state === 'up' && !!p.pid);
    process.kill(st.pid!, 'SIGKILL');
    await f.sup.remove(program);
  }
  const bringBack = (program: string) => {
    const [service, instance] = program.endsWith('-2') ? [program.slice(0, -2), 2] : [program, 1];
    return f.sup.ensure(f.serviceSpec(service, instance));
  };

  it('the survivors and standbys take over; every VM at the core, nothing lost or twice', async () => {
    // Every leader lease held before the burst, and by instances we know.
    for (const role of LEADER_ROLES) {
      const h = await until(`${role} has a leader`, () => leaseHolder(role));
      expect([role, `${role}-2`]).toContain(programOf(h));
    }

    const vms = new VmBurst(f, { vms: BURST, deletes: 0, convergeMs: 240_000, report });
    const [lostGateway, survivingApi] = ['gateway', f.apis[1]];
    let survivorAcksAtLoss = 0;
    let survivorAcksWhileLost = 0;
    const verdict = await vms.caseWith('gateway, ipam and every leader lost', async () => {
      survivorAcksAtLoss = vms.ackedBy.get(survivingApi) ?? 0;
      await loseInstance(lostGateway);
      await loseInstance('ipam');
      // Projectors are active-active too: the survivor's batches keep the read model (the checkpoint row serialises them).
      await loseInstance('projector');
      report.push(`gateway, ipam and projector (instance 1) killed with kill -9, not restarted`);
      for (const role of LEADER_ROLES) {
        const before = await until(`${role} has a leader`, () => leaseHolder(role));
        const victim = programOf(before);
        const t0 = Date.now();
        await loseInstance(victim);
        // The standby holds the lease: the signal that it took over (not the supervisor's view).
        const after = await until(
          `${role}: the standby takes the lease`,
          async () => {
            const h = await leaseHolder(role);
            return h && programOf(h) !== victim ? h : undefined;
          },
          60_000,
        );
        report.push(`${role}: leader ${victim} killed, ${programOf(after)} holds the lease ${Date.now() - t0} ms later`);
        // Back as the standby now (its host returned): the next leader kill leaves it a survivor.
        await bringBack(victim);
      }
      survivorAcksWhileLost = (vms.ackedBy.get(survivingApi) ?? 0) - survivorAcksAtLoss;
    });
    expect(verdict.violations).toEqual([]);
    expect(verdict.live.size).toBe(BURST);
    // The clients kept being answered by the surviving gateway while the other was gone.
    expect(survivorAcksWhileLost).toBeGreaterThan(0);
    report.push(`surviving gateway acknowledged ${survivorAcksWhileLost} requests while the other was gone (${JSON.stringify([...vms.ackedBy])})`);
    // The lost instances come back (their hosts returned); the gateway answers again.
    await bringBack(lostGateway);
    await bringBack('ipam');
    await bringBack('projector');
    await until('the returned gateway is healthy', () => fetch(`${f.apis[0]}/health`).then((r) => (r.ok ? true : undefined)), 120_000);
  });
});
