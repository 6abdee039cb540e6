/**
 * BMP collector CLI (docs/adr/bmp-collector.md):
 *   node -r ./deploy/register.js agents/src/bmp/main.ts --cluster <clusterId> --router <core's source IP> \
 *        [--listen 127.0.0.1] [--port 11019] [--hold-ms 30000] [--ns fabric] [--nats <url>] [--creds <file>]
 * JSON logs on stdout; SIGINT/SIGTERM stop it.
 */
import pino from 'pino';
import { Nats } from '@fabric/eventstore';
import { startMetricsServer } from '@fabric/service-kit';
import { BmpCollector } from './collector';
import { parseBmpFlags, BMP_USAGE } from './cli';

async function main(): Promise<void> {
  const f = parseBmpFlags(process.argv.slice(2));
  if (f.help) {
    process.stdout.write(BMP_USAGE + '\n');
    return;
  }
  const log = pino({ base: { component: 'bmp-collector', clusterId: f.clusterId } });
  const nats = await Nats.connect({ servers: f.nats, ns: f.ns, creds: f.creds, name: `bmp-${f.clusterId}` });
  await startMetricsServer();
  const c = new BmpCollector({ nats, clusterId: f.clusterId, host: f.host, port: f.port, router: f.router, holdMs: f.holdMs, log });
  await c.start();
  const stop = () =>
    void c
      .stop()
      .then(() => nats.nc.close())
      .then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e) => {
  process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n${BMP_USAGE}\n`);
  process.exit(2);
});
