/**
 * The ROA feed across a NATS server loss (kill -9 and restart on the same store): a placement written after the
 * restart reaches the RTR cache without waiting for the periodic re-read (switched off here). The watch's ordered
 * consumer can stay silent after a reconnect; the feed reopens it. A private nats-server (free port, own store dir),
 * so the kill touches nothing shared.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Nats } from '@fabric/eventstore';
import { eventually, freePort, tcpAnswers } from '@fabric/testing/infra';
import { RoaFeed } from './feed';
import { roa } from './codec';
import { setPlacements } from './test-placements';

jest.setTimeout(120_000);

const cluster = randomUUID();
const T1 = 4200000001;

describe('RoaFeed across a NATS server restart', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'fabric-feed-restart-'));
  const bin = ['/usr/sbin/nats-server', '/usr/bin/nats-server'].find((p) => existsSync(p)) ?? 'nats-server';
  let port: number;
  let server: ChildProcess | undefined;
  let nats: Nats | undefined;
  let feed: RoaFeed | undefined;

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
    nats = await Nats.connect({ servers: `127.0.0.1:${port}`, ns: 'feedrestart', name: 'feed-restart-test' });
    await nats.ensureStreams();
  });
  afterAll(async () => {
    await feed?.stop().catch(() => undefined);
    await nats?.close().catch(() => undefined);
    if (server && server.exitCode === null) await killServer();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a placement written after kill -9 and restart of the server reaches the cache (no periodic re-read)', async () => {
    await setPlacements(nats!, cluster, [{ ip: '203.0.113.10', tag: T1 }]);
    feed = new RoaFeed({ nats: nats!, clusterId: cluster, socketDir: dir, port: 0, resyncMs: 0, protocolOf: () => 'node_a', reload: async () => {} });
    await feed.start();
    expect(feed.cache.has(roa('203.0.113.10/32', 32, T1))).toBe(true);

    await killServer();
    await startServer();
    // The first write the restarted server accepts (JetStream may still be recovering its store).
    await eventually(
      () =>
        setPlacements(nats!, cluster, [{ ip: '203.0.113.11', tag: T1 }]).then(
          () => true,
          () => false,
        ),
      30_000,
      100,
      'a placement after the restart',
    );
    await eventually(() => feed!.cache.has(roa('203.0.113.11/32', 32, T1)), 30_000, 50, 'the new placement in the RTR cache');
    expect(feed.cache.has(roa('203.0.113.10/32', 32, T1))).toBe(true);
  });
});
