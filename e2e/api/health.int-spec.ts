/**
 * /health reports every stream-reading loop: this gateway's projection (live), and the tails and
 * consumers of other processes by their heartbeats. It answers 503 `degraded` when a loop's lag grows
 * without progress (the projection blocked on a lock) or a process is gone (kill -9 of an IPAM process),
 * and 200 again once they recover by themselves.
 */
import { Client } from 'pg';
import { eventually } from '@fabric/testing/infra';
import { type ControlPlane, http, startControlPlane } from '../support/control-plane';
import { killAllChildren, type ServiceProcess, startIpamProcess } from '../support/processes';

type Loop = { name: string; state: string; lag: number | null; problem?: string; source: string; pid: number; deadLettered: number };
type Health = { status: number; body: { status: string; checks: { loops: { ok: boolean; loops: Loop[] } } } };

describe('/health and the loops of every process', () => {
  let cp: ControlPlane;
  let ipam: ServiceProcess | undefined;
  const env = { FABRIC_LOOP_HEARTBEAT_MS: '200', FABRIC_LOOP_STALL_MS: '1500' };
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    for (const [k, v] of Object.entries(env)) [saved[k], process.env[k]] = [process.env[k], v];
    cp = await startControlPlane({ ipamProcesses: 0 });
    ipam = await startIpamProcess(cp.ns, env);
  });
  afterAll(async () => {
    await killAllChildren();
    await cp?.close();
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  });

  const health = () => http('GET', `${cp.api}/health`) as Promise<Health>;
  const loop = (h: Health, name: string) => h.body.checks.loops.loops.filter((l) => l.name === name);
  const ipamLoop = () => `${cp.ns}_ipam`;

  it('lists the projection, the inventory tail and the IPAM consumer of another process, all ok', async () => {
    const h = await eventually(
      async () => {
        const r = await health();
        return r.status === 200 && loop(r, ipamLoop()).length === 1 ? r : undefined;
      },
      20000,
      50,
      'healthy with the IPAM heartbeat',
    );
    expect(h.body.status).toBe('ok');
    expect(loop(h, 'projection:read-model')[0]).toMatchObject({ state: 'running', source: 'local' });
    expect(loop(h, 'inventory-index')[0]).toMatchObject({ state: 'running', source: 'local' });
    expect(loop(h, ipamLoop())[0]).toMatchObject({ state: 'running', source: 'heartbeat', pid: ipam!.pid });
  });

  it('a projection whose lag grows without progress makes it degraded (503) until it moves again', async () => {
    const pg = new Client({ connectionString: cp.db.url });
    await pg.connect();
    try {
      await pg.query('BEGIN');
      await pg.query(`SELECT position FROM fabric.projection_checkpoints WHERE name = 'read-model' FOR UPDATE`);
      // An event the projection must commit: it blocks on the checkpoint row.
      const seq = (
        await cp.store.append(cp.store.subjects.evt('agent', 'rr', 'c1_rr1'), [
          {
            id: 'health-stall-1',
            event: { type: 'ConfigApplyFailed', data: { target: { kind: 'rr', id: 'c1_rr1' }, generation: 1, hash: 'h1', error: 'health stall' } },
          },
        ])
      ).seqs[0];
      const degraded = await eventually(
        async () => {
          const r = await health();
          return r.status === 503 ? r : undefined;
        },
        20000,
        100,
        '503 while the projection is stuck',
      );
      expect(degraded.body.status).toBe('degraded');
      expect(loop(degraded, 'projection:read-model')[0].problem).toMatch(/without progress/);
      await pg.query('ROLLBACK');
      await eventually(() => cp.gateway.runner.currentPosition >= seq, 20000, 50, 'projection moved on');
      await eventually(async () => ((await health()).status === 200 ? true : undefined), 20000, 50, '200 again');
    } finally {
      await pg.end();
    }
  });

  it('a killed process is reported (its loop is silent), and healthy again once a new one runs the loop', async () => {
    const old = ipam!.pid;
    await ipam!.kill9();
    const degraded = await eventually(
      async () => {
        const r = await health();
        return r.status === 503 ? r : undefined;
      },
      20000,
      50,
      '503 after kill -9',
    );
    expect(loop(degraded, ipamLoop()).find((l) => l.pid === old)?.problem).toMatch(/no heartbeat/);
    ipam = await startIpamProcess(cp.ns, env);
    const h = await eventually(
      async () => {
        const r = await health();
        return r.status === 200 ? r : undefined;
      },
      20000,
      50,
      '200 with the new IPAM process',
    );
    expect(loop(h, ipamLoop()).map((l) => l.pid)).toEqual([ipam.pid]);
  });

  it('a poison event leaves the projection running (and healthy); it is counted as dead-lettered', async () => {
    const h = (await import('@nats-io/nats-core')).headers();
    h.set('Fabric-Event-Type', 'ConfigApplied');
    const bad = {
      id: 'health-poison',
      type: 'ConfigApplied',
      schemaVersion: 1,
      occurredAt: new Date().toISOString(),
      data: { target: { kind: 'rr', id: 'c1_rr1' }, generation: 'seven', hash: 7 },
    };
    const poison = (await cp.nats.js.publish(cp.store.subjects.evt('agent', 'rr', 'c1_rr1'), new TextEncoder().encode(JSON.stringify(bad)), { headers: h }))
      .seq;
    await eventually(() => cp.gateway.runner.currentPosition >= poison, 20000, 50, 'projection past the poison');
    const r = await eventually(
      async () => {
        const x = await health();
        return x.status === 200 && loop(x, 'projection:read-model')[0].deadLettered === 1 ? x : undefined;
      },
      20000,
      50,
      'healthy, one dead letter',
    );
    expect(loop(r, 'projection:read-model')[0].state).toBe('running');
  });
});
