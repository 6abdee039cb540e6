/**
 * A reader after its NATS server was killed (-9) and started again on the same store: an ordered reader and a
 * durable one both handle the next event, and how long that took after the server answered again is printed.
 * A private nats-server (free port, its own store dir), so the kill touches nothing shared.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type FabricEvent } from '@fabric/contracts';
import { eventually, freePort, tcpAnswers } from '@fabric/testing/infra';
import { EventStore, Nats, StreamReader } from '@fabric/eventstore';

jest.setTimeout(120_000);

const cluster = '6f1d2c1e-0000-4000-8000-000000000d01';
const rr = (name: string): FabricEvent => ({ type: 'RouteReflectorAdded', data: { clusterId: cluster, name, ip: '198.18.0.2' } });

describe('readers across a NATS server restart', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fabric-nats-restart-'));
  const bin = ['/usr/sbin/nats-server', '/usr/bin/nats-server'].find((p) => existsSync(p)) ?? 'nats-server';
  let port: number;
  let server: ChildProcess | undefined;
  let nats: Nats | undefined;
  const readers: StreamReader[] = [];

  const startServer = async () => {
    server = spawn(bin, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', path.join(dir, 'js')], { stdio: 'ignore' });
    await eventually(() => tcpAnswers(port), 15_000, 20, 'nats-server up');
  };
  const killServer = async () => {
    const s = server!;
    const gone = new Promise<void>((r) => (s.exitCode !== null ? r() : s.once('exit', () => r())));
    s.kill('SIGKILL');
    await gone;
  };

  beforeAll(async () => {
    port = await freePort();
    await startServer();
    nats = await Nats.connect({ servers: `127.0.0.1:${port}`, ns: 'restart', name: 'restart-test' });
    await nats.ensureStreams();
  });
  afterAll(async () => {
    for (const r of readers) await r.stop().catch(() => undefined);
    await nats?.close().catch(() => undefined);
    if (server && server.exitCode === null) await killServer();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an ordered and a durable reader handle the first event after kill -9 and restart of the server', async () => {
    const store = new EventStore(nats!);
    const subject = store.subjects.evt('cluster', cluster);
    const seen = { ordered: [] as string[], durable: [] as string[] };
    const add = (r: StreamReader) => (readers.push(r), r);
    await add(
      new StreamReader(store, { name: 'restart_ordered', filter: subject, handle: async (b) => void seen.ordered.push(...b.events.map((e) => e.id)) }),
    ).start();
    await add(
      new StreamReader(store, {
        name: 'restart_durable',
        filter: subject,
        durable: { name: 'restart_durable', ackWaitMs: 5_000 },
        handle: async (b) => void seen.durable.push(...b.events.map((e) => e.id)),
      }),
    ).start();
    await store.append(subject, [{ id: 'before', event: rr('a') }]);
    await eventually(() => seen.ordered.includes('before') && seen.durable.includes('before'), 10_000, 20, 'the event before the restart');

    await killServer();
    await startServer();
    const back = Date.now();
    // The first append the restarted server accepts (JetStream may still be recovering its store).
    await eventually(
      () =>
        store.append(subject, [{ id: 'after', event: rr('b') }]).then(
          () => true,
          () => false,
        ),
      30_000,
      100,
      'an append after the restart',
    );
    const appended = Date.now();
    const took: Record<string, number> = {};
    await eventually(
      () => {
        for (const k of ['ordered', 'durable'] as const) if (seen[k].includes('after')) took[k] ??= Date.now() - appended;
        return took.ordered !== undefined && took.durable !== undefined;
      },
      60_000,
      20,
      'both readers handled the event after the restart',
    );
    console.log(
      `readers after a NATS kill -9 + restart: an append accepted ${appended - back} ms after the server answered (one sent before JetStream was ready waits out its 5 s timeout); handled by the ordered reader ${took.ordered} ms, the durable ${took.durable} ms after that`,
    );
    expect(seen.ordered.filter((id) => id === 'after')).toHaveLength(1);
  });
});
