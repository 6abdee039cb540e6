/**
 * The supervisor on its own, with small stand-in programs: restart after kill -9, back-off and the
 * crash-loop limit, a stop that leaves nothing behind (checked by the processes' environment marker, not by
 * pid files), and a new supervisor clearing what a killed one left.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eventually } from '@fabric/testing/infra';
import { SupervisorClient } from '../../deploy/supervisor-client';
import { markedProcesses, terminate } from '../../deploy/procs';
import { isAlive } from '../../agents/src/drivers/proc';
import { freePort } from './support/supervised-fabric';

jest.setTimeout(120_000);

const node = (script: string) => ({ cmd: process.execPath, args: ['-e', script] });
const forever = node('setInterval(() => {}, 1 << 30)');
// A program with a helper in its process group (as agents run `ip`/`birdc`).
const withHelper = node("require('child_process').spawn('sleep', ['1000'], { stdio: 'ignore' }); setInterval(() => {}, 1 << 30)");

describe('supervisor', () => {
  let dir: string;
  let sup: SupervisorClient;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'fabric-sup-'));
    sup = new SupervisorClient(dir);
    await sup.start();
  });
  afterEach(async () => {
    await sup.stop().catch(() => undefined);
    await terminate((await markedProcesses(sup.dataDir)).map((p) => p.pid));
    rmSync(dir, { recursive: true, force: true });
  });

  it('restarts a program killed with SIGKILL and reports the restart and the exit', async () => {
    const first = await sup.ensure({ name: 'svc', ...forever });
    await sup.waitFor('svc', (p) => p.state === 'up');
    process.kill(first.pid!, 'SIGKILL');
    const again = await sup.waitFor('svc', (p) => p.state === 'up' && p.pid !== first.pid);
    expect(again.restarts).toBe(1);
    expect(again.lastExit).toMatchObject({ code: null, signal: 'SIGKILL' });
    expect(await isAlive(first.pid!)).toBe(false);
    // The state file says the same for `npm run status` without the socket.
    await eventually(() => sup.lastState()?.programs.find((p) => p.name === 'svc' && p.pid === again.pid && p.restarts === 1));
  });

  it('marks a crash-looping program failed after 5 exits within a minute, still reported, and restarts it on reset', async () => {
    const spec = { name: 'crasher', ...node('process.exit(3)') };
    await sup.ensure(spec);
    const failed = await sup.waitFor('crasher', (p) => p.state === 'failed', 60_000);
    expect(failed.restarts).toBe(4);
    expect(failed.lastExit).toMatchObject({ code: 3, signal: null });
    expect(failed.pid).toBeUndefined();
    const status = await sup.status();
    expect(status!.programs.find((p) => p.name === 'crasher')!.state).toBe('failed');
    await sup.ensure(spec, true);
    await sup.waitFor('crasher', (p) => p.restarts > 4 || p.state !== 'failed');
  });

  it('grows the back-off between restarts', async () => {
    await sup.ensure({ name: 'crasher', ...node('process.exit(1)') });
    const seen: number[] = [];
    let last = -1;
    const until = Date.now() + 60_000;
    while (seen.length < 3 && Date.now() < until) {
      const p = (await sup.status())!.programs.find((x) => x.name === 'crasher')!;
      if (p.state === 'backoff' && p.lastExit && p.nextStartAt && p.restarts !== last) {
        last = p.restarts;
        seen.push(Date.parse(p.nextStartAt) - Date.parse(p.lastExit.at));
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(seen.length).toBe(3);
    expect(seen[1]).toBeGreaterThan(seen[0]);
    expect(seen[2]).toBeGreaterThan(seen[1]);
  });

  it('restarts a program that runs but fails its liveness probe, and says why', async () => {
    // Healthy for its first two answers, then 503 forever: a process whose inner loop died.
    const script = `let n = 0; require('http').createServer((q, s) => { s.statusCode = n++ < 2 ? 200 : 503; s.end(); }).listen(Number(process.env.PORT), '127.0.0.1')`;
    const port = await freePort();
    const first = await sup.ensure({
      name: 'web',
      ...node(script),
      env: { PORT: String(port) },
      health: { url: `http://127.0.0.1:${port}/`, intervalMs: 100, failures: 3, graceMs: 0 },
    });
    const again = await sup.waitFor('web', (p) => p.restarts === 1 && p.state === 'up');
    expect(again.pid).not.toBe(first.pid);
    expect(again.lastExit).toMatchObject({ signal: 'SIGKILL', reason: expect.stringContaining('unhealthy: 3 failed probes') });
  });

  it('stops every program and their helpers, also one waiting in back-off, and exits', async () => {
    await sup.ensure({ name: 'svc', ...withHelper });
    await sup.ensure({ name: 'nats', ...forever, infra: true });
    await sup.ensure({ name: 'crasher', ...node('process.exit(1)') });
    await eventually(async () => (await markedProcesses(sup.dataDir)).some((p) => p.cmdline[0] === 'sleep'));
    await sup.waitFor('crasher', (p) => p.state === 'backoff');
    const supPid = (await sup.status())!.pid;

    const kept = await sup.stop(['nats']);
    expect(kept.stopped.sort()).toEqual(['crasher', 'svc']);
    expect(kept.remaining).toEqual(['nats']);
    const left = await markedProcesses(sup.dataDir);
    expect(left.filter((p) => p.program !== 'nats' && p.pid !== supPid)).toEqual([]);

    const all = await sup.stop();
    expect(all).toMatchObject({ stopped: ['nats'], exiting: true });
    await eventually(async () => ((await markedProcesses(sup.dataDir)).length === 0 ? true : undefined), 10_000);
    expect(await isAlive(supPid)).toBe(false);
  });

  it('a new supervisor stops what a killed one left running', async () => {
    const { pid: child } = await sup.ensure({ name: 'svc', ...forever });
    const old = (await sup.status())!.pid;
    process.kill(old, 'SIGKILL');
    await eventually(async () => !(await isAlive(old)));
    expect(await isAlive(child!)).toBe(true); // orphaned, still ours by its marker
    await sup.start();
    expect(await isAlive(child!)).toBe(false);
    expect((await markedProcesses(sup.dataDir)).map((p) => p.pid)).toEqual([(await sup.status())!.pid]);
  });
});
