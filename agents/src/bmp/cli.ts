/** BMP collector flags (pure, unit-tested). */
import { UUID_PATTERN, isIp } from '@fabric/contracts';

export const BMP_USAGE = `usage: bmp-collector --cluster <clusterId> --router <ip> [options]
  --cluster <id>      the cluster whose core router this collector watches (its subject <ns>.obs.bmp.router.<id>)
  --router <ip>       the core router's BMP source address: other connections are refused
  --listen <ip>       listen address (default 127.0.0.1)
  --port <port>       listen port (default 11019)
  --hold-ms <ms>      routes kept after the router's session ends, then withdrawn (default 30000)
  --ns <namespace>    NATS subject namespace (default $FABRIC_NS or 'fabric')
  --nats <url,…>      NATS servers (default $NATS_URL or 127.0.0.1:4222)
  --creds <file>      the collector's NATS identity (\`npm run nats -- enroll --role bmp --target <clusterId>\`)`;

export type BmpFlags =
  { help: true } | { help: false; clusterId: string; router: string; host: string; port: number; holdMs: number; ns?: string; nats?: string; creds?: string };

const KNOWN = new Set(['cluster', 'router', 'listen', 'port', 'hold-ms', 'ns', 'nats', 'creds', 'help']);

export function parseBmpFlags(argv: string[]): BmpFlags {
  const v: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--') || !KNOWN.has(a.slice(2))) throw new Error(`unknown argument ${a}`);
    if (a === '--help') return { help: true };
    const val = argv[++i];
    if (val === undefined || val.startsWith('--')) throw new Error(`${a} needs a value`);
    v[a.slice(2)] = val;
  }
  const clusterId = v.cluster ?? '';
  if (!UUID_PATTERN.test(clusterId)) throw new Error('--cluster must be a cluster id (UUID)');
  if (!isIp(v.router ?? '')) throw new Error('--router must be an IP address');
  const host = v.listen ?? '127.0.0.1';
  if (!isIp(host)) throw new Error('--listen must be an IP address');
  const int = (k: string, def: number, max: number) => {
    if (v[k] === undefined) return def;
    if (!/^\d{1,9}$/.test(v[k]) || Number(v[k]) > max) throw new Error(`--${k} must be an integer up to ${max}`);
    return Number(v[k]);
  };
  return {
    help: false,
    clusterId,
    router: v.router,
    host,
    port: int('port', 11019, 65535),
    holdMs: int('hold-ms', 30_000, 86_400_000),
    ...(v.ns ? { ns: v.ns } : {}),
    ...(v.nats ? { nats: v.nats } : {}),
    ...(v.creds ? { creds: v.creds } : {}),
  };
}
