/**
 * docs/operations/backup.md: back up the events and commands streams (and the durable consumers) of a running
 * control plane, restore them into a fresh nats-server with its own store, rebuild the read model from the
 * restored stream, and get exactly the original read model.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { type DataSource } from 'typeorm';
import { EventStore, Nats } from '@fabric/eventstore';
import { createDataSource, dumpSchema, rebuildInto } from '@fabric/projections';
import { eventually } from '@fabric/testing/infra';
import { type ControlPlane, http, startControlPlane } from '../support/control-plane';
import { createFixture, readModelCaughtUp, settledVm } from '../support/api-fixtures';
import { createBackup, restoreBackup, verifyBackup } from '../../deploy/backup';
import { startRouteAnnouncer } from '../../services/route-announcer/src/main';

jest.setTimeout(120_000);

const ROOT = join(__dirname, '..', '..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-r', './deploy/register.js', 'deploy/backup.ts', ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe('backup and restore of the event and command streams', () => {
  let cp: ControlPlane;
  let announcer: { close(): Promise<unknown> } | undefined;
  let dir: string;
  let server: ChildProcess | undefined;
  let restored: Nats | undefined;
  const sources: DataSource[] = [];
  let file: string;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fabric-backup-'));
    file = join(dir, 'fabric.jsonl.gz');
    cp = await startControlPlane({ ipamCooldownMs: 0 });
    announcer = await startRouteAnnouncer({ ns: cp.ns });
    const fx = await createFixture(cp, { nodes: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await http('POST', `${cp.api}/vms`, {
        clusterId: fx.clusterId,
        nodeId: fx.nodeIds[i % 2],
        name: `web${i}`,
        ownerId: `cust-${i % 3}`,
        driver: 'tap',
      });
      expect(r.status).toBe(202);
      ids.push(r.body.id);
    }
    for (const id of ids) await settledVm(cp, id);
    expect((await http('DELETE', `${cp.api}/vms/${ids[0]}`)).status).toBe(202);
    expect((await http('POST', `${cp.api}/vms/${ids[1]}/migrate`, { nodeId: fx.nodeIds[0] })).status).toBe(202);
    // Everything reacted to: IPAM acknowledged all it received, the announcer published both nodes' desired state.
    await eventually(
      async () => {
        const c = await cp.nats.jsm.consumers.info(cp.nats.subjects.eventsStream, cp.nats.subjects.durable('ipam'));
        const cmds = await cp.nats.jsm.streams.info(cp.nats.subjects.commandsStream);
        const released = (await cp.store.read(cp.nats.subjects.evtAll())).some((e) => e.type === 'IpReleased');
        return c.num_pending === 0 && c.num_ack_pending === 0 && cmds.state.messages === 2 && released ? true : undefined;
      },
      30000,
      100,
      'IPAM and the route announcer idle',
    );
    await announcer.close();
    announcer = undefined;
    await readModelCaughtUp(cp);

    port = await freePort();
    server = spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, 'store')], { stdio: 'ignore' });
    restored = await eventually(
      () => Nats.connect({ servers: `127.0.0.1:${port}`, ns: cp.ns, name: 'restore-test' }).catch(() => undefined),
      20000,
      100,
      'second nats-server up',
    );
  });

  afterAll(async () => {
    await announcer?.close().catch(() => undefined);
    for (const ds of sources) await ds.destroy().catch(() => undefined);
    await restored?.close();
    if (server?.pid && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server!.once('exit', r));
    }
    await cp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a backup file with the npm script, and verifies it', async () => {
    const env = { NATS_URL: '127.0.0.1:4222', FABRIC_NS: cp.ns };
    const r = await runCli(['create', file], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.streams[cp.nats.subjects.eventsStream].lastSeq).toBe(await cp.store.headSeq());
    expect(summary.streams[cp.nats.subjects.commandsStream].messages).toBe(2);
    expect(summary.consumers).toBeGreaterThanOrEqual(1);
    const v = await verifyBackup(file);
    expect(v.ns).toBe(cp.ns);
  });

  it('refuses a truncated or foreign file before writing anything', async () => {
    const lines = gunzipSync(readFileSync(file)).toString().split('\n');
    const truncated = join(dir, 'truncated.jsonl.gz');
    writeFileSync(truncated, gzipSync(lines.slice(0, lines.length - 3).join('\n') + '\n'));
    await expect(restoreBackup(restored!, truncated)).rejects.toThrow(/truncated|records/);
    const foreign = join(dir, 'foreign.jsonl.gz');
    writeFileSync(foreign, gzipSync('{"kind":"header","format":"other/9"}\n'));
    await expect(verifyBackup(foreign)).rejects.toThrow(/not a fabric-backup/);
    await expect(restored!.jsm.streams.info(cp.nats.subjects.eventsStream)).rejects.toThrow();
  });

  it('restores into a fresh NATS with the same sequences, desired states and consumer positions', async () => {
    const summary = await restoreBackup(restored!, file);
    const s = cp.nats.subjects;
    const [a, b] = [await cp.nats.jsm.streams.info(s.eventsStream), await restored!.jsm.streams.info(s.eventsStream)];
    expect(b.state.last_seq).toBe(a.state.last_seq);
    expect(b.state.messages).toBe(a.state.messages);
    expect(b.config.deny_purge).toBe(true);
    expect(summary.streams[s.eventsStream].lastSeq).toBe(a.state.last_seq);

    const original = await cp.store.read(s.evtAll());
    const copy = await new EventStore(restored!).read(s.evtAll());
    expect(copy.map((e) => [e.seq, e.subject, e.id, e.type, JSON.stringify(e.data)])).toEqual(
      original.map((e) => [e.seq, e.subject, e.id, e.type, JSON.stringify(e.data)]),
    );

    for (const node of new Set(original.filter((e) => e.type === 'NodeJoined').map((e) => e.subject.split('.').pop()!))) {
      const subject = s.cmd('node', node);
      const [x, y] = [
        await cp.nats.jsm.streams.getMessage(s.commandsStream, { last_by_subj: subject }),
        await restored!.jsm.streams.getMessage(s.commandsStream, { last_by_subj: subject }),
      ];
      expect(y?.json()).toEqual(x?.json());
    }

    const ipam = await restored!.jsm.consumers.info(s.eventsStream, s.durable('ipam'));
    expect(ipam.num_pending).toBe(0);
  });

  it('refuses to restore over a stream that has messages, and changes nothing', async () => {
    const before = await restored!.jsm.streams.info(cp.nats.subjects.eventsStream);
    await expect(restoreBackup(restored!, file)).rejects.toThrow(/already has messages/);
    expect((await restored!.jsm.streams.info(cp.nats.subjects.eventsStream)).state).toEqual(before.state);
  });

  it('rebuilds a read model from the restored stream that equals the original', async () => {
    const live = createDataSource({ url: cp.db.url, schema: 'fabric', poolSize: 2 });
    await live.initialize();
    sources.push(live);
    const { ds, position } = await rebuildInto(new EventStore(restored!), cp.db.url, 'restored');
    sources.push(ds);
    expect(position).toBe(await cp.store.headSeq());
    const [x, y] = [await dumpSchema(live, 'fabric'), await dumpSchema(ds, 'restored')];
    expect(y).toEqual(x);
    expect(y.vms.length).toBe(8);
  });
});
