/**
 * The BMP collector over real NATS and TCP: the captured FRR 8.4 stream (see bmp-parse.spec.ts) replayed from
 * 127.0.0.1 becomes one full resync on `<ns>.obs.bmp.router.<clusterId>` once the initial table is complete,
 * then deltas; another source address is refused; garbage closes the session and nothing is published.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import pino from 'pino';
import { type Nats } from '@fabric/eventstore';
import { closeTestNats, eventually, openTestNats } from '@fabric/testing/infra';
import { BmpCollector } from './collector';

const session = readFileSync(path.join(__dirname, '__fixtures__', 'frr-8.4-session.bin'));
const bounds: [number, number][] = [];
for (let o = 0; o < session.length; o += session.readUInt32BE(o + 1)) bounds.push([o, o + session.readUInt32BE(o + 1)]);
/** The capture up to (not including) message `n`. */
const firstMessages = (n: number) => session.subarray(0, bounds[n][0]);

interface Report {
  type: string;
  data: { target: { kind: string; id: string }; added: unknown[]; withdrawn: unknown[]; resync?: string; total: number };
}

const log = pino({ level: 'silent' });

function connect(port: number, localAddress = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress }, () => resolve(s));
    s.on('error', reject);
  });
}

describe('BMP collector (real NATS, TCP)', () => {
  let nats: Nats;
  const clusterId = randomUUID();
  const reports: Report[] = [];
  const collectors: BmpCollector[] = [];
  const sockets: net.Socket[] = [];

  beforeAll(async () => {
    nats = await openTestNats();
    nats.nc.subscribe(nats.subjects.obsBmp(clusterId), {
      callback: (_e, m) => {
        const j = JSON.parse(new TextDecoder().decode(m.data));
        for (const e of j.type === 'EventBatch' ? j.data.events : [j]) reports.push(e);
      },
    });
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    for (const c of collectors) await c.stop();
    await closeTestNats(nats);
  });

  const start = async (router: string) => {
    const c = new BmpCollector({ nats, clusterId, port: 0, router, log, settleMs: 100, holdMs: 60_000 });
    collectors.push(c);
    await c.start();
    return c;
  };

  it('given the initial dump, when it is complete, then one full resync with the three host routes; the withdrawals follow as one delta', async () => {
    const c = await start('127.0.0.1');
    const s = await connect(c.address().port);
    sockets.push(s);
    // Initiation, Peer Up, then the table and its End-of-RIBs (the first withdrawal is message 9).
    s.write(firstMessages(9));
    const full = await eventually(() => reports.find((r) => r.data.resync === 'full'));
    expect(full.type).toBe('RoutesChanged');
    expect(full.data.target).toEqual({ kind: 'router', id: clusterId });
    expect(full.data.added).toEqual([
      { prefix: '2001:db8:77::7/128', nextHop: 'fd00:b::2' },
      { prefix: '203.0.113.7/32', nextHop: '198.18.251.2' },
      { prefix: '203.0.113.8/32', nextHop: '198.18.251.2' },
    ]);
    expect(full.data.total).toBe(3);
    // The two withdrawals, not the Peer Down.
    s.write(session.subarray(bounds[9][0], bounds[11][0]));
    const delta = await eventually(() => reports.find((r) => r.data.withdrawn.length > 0));
    expect(delta.data.withdrawn).toEqual(
      expect.arrayContaining([
        { prefix: '203.0.113.8/32', nextHop: '198.18.251.2' },
        { prefix: '2001:db8:77::7/128', nextHop: 'fd00:b::2' },
      ]),
    );
    await eventually(() => reports.reduce((n, r) => n + r.data.withdrawn.length, 0) === 2);
    expect(reports[reports.length - 1].data.total).toBe(1);
    expect(c.status()).toMatchObject({ connected: true, peers: 1, routes: 1, errors: 0, refused: 0 });
  });

  it('given a connection from another address than the router, when it connects, then it is closed and nothing is read', async () => {
    const c = await start('127.0.0.2');
    const s = await connect(c.address().port);
    sockets.push(s);
    await new Promise<void>((r) => s.on('close', () => r()));
    expect(c.status()).toMatchObject({ connected: false, refused: 1, messages: 0 });
  });

  it('given garbage from the router, when read, then the session is closed with an error and nothing is published', async () => {
    const before = reports.length;
    const c = await start('127.0.0.1');
    const s = await connect(c.address().port);
    sockets.push(s);
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    s.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    await closed;
    expect(c.status()).toMatchObject({ connected: false, errors: 1 });
    expect(reports.length).toBe(before);
  });
});
