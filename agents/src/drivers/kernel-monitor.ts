/**
 * The node agent's kernel event source: one long-lived `ip [-n <ns>] -N -o -d monitor link address route` child
 * (argument array, no shell). iproute2 6.1 prints monitor events as text only (`-json` is ignored there), so `-o`
 * puts each event on one line, `-N` prints protocol, table and scope numbers instead of names from
 * /etc/iproute2 and `-d` the link kind. `parseMonitorLine` (pure) turns a line into a MonitorEvent; KernelMonitor
 * runs the child, splits its output into lines and restarts it with back-off when it dies (every start is
 * announced: events may have been lost in between, so the user reads everything again).
 *
 * The child is not killed when the agent dies with SIGKILL; its next write (the next kernel event) fails with
 * SIGPIPE and ends it.
 */
import { spawn, type ChildProcess } from 'child_process';
import { isIp } from '@fabric/contracts';
import { assertNamespace } from './exec';

export interface LinkEvent {
  type: 'link';
  deleted: boolean;
  ifName: string;
  mac?: string;
  up: boolean;
  /** `tun`, `veth`, … (the first word of the details line), when printed. */
  kind?: string;
  /** `link-netnsid N`: the namespace id of a veth's peer. */
  netnsid?: number;
}

export interface AddressEvent {
  type: 'address';
  deleted: boolean;
  ifName: string;
  family: 4 | 6;
  /** As printed: `ip` and prefix length. */
  local: string;
  prefixLen: number;
}

export interface RouteEvent {
  type: 'route';
  deleted: boolean;
  /** `default` or the address as printed, with `/len` only when it is not a host route. */
  dst: string;
  family: 4 | 6;
  dev?: string;
  /** Numbers (`-N`): main is 254. */
  table: number;
  protocol: number;
  /** The kernel's default when not printed (0 for IPv4; IPv6 always prints it). */
  metric: number;
}

export type MonitorEvent = LinkEvent | AddressEvent | RouteEvent;

const LINK = /^(Deleted )?(\d+): ([^:@\s]+)(?:@\S*)?: <([^>]*)>/;
const ADDRESS = /^(Deleted )?(\d+): (\S+)\s+(inet6?) ([0-9A-Fa-f.:]+)\/(\d+)\b/;
const MAC = /\blink\/\S+ ([0-9a-f]{2}(?::[0-9a-f]{2}){5})\b/i;
const NETNSID = /\blink-netnsid (\d+)\b/;
/** Route types as words (without `-N`) or numbers (with it). */
const ROUTE_TYPE = /^(unicast|local|broadcast|anycast|multicast|blackhole|unreachable|prohibit|throw|nat|xresolve|\d+)$/;

function isDst(t: string | undefined): t is string {
  if (t === undefined) return false;
  if (t === 'default') return true;
  const [a, len, extra] = t.split('/');
  return extra === undefined && (len === undefined || /^\d{1,3}$/.test(len)) && (isIp(a, 4) || isIp(a, 6));
}

/** One line of `ip -N -o -d monitor link address route`; undefined for anything else (nsid, prefix lines…). */
export function parseMonitorLine(raw: string): MonitorEvent | undefined {
  const line = raw.trim();
  if (!line) return undefined;
  let m = LINK.exec(line);
  if (m) {
    const segs = line.split('\\').map((s) => s.trim());
    // The details segment (-d) comes after the `link/…` one; altnames have their own segments.
    const details = segs.slice(1).find((s) => s && !s.startsWith('link/') && !s.startsWith('altname') && !s.startsWith('prop '));
    const kind = details?.split(/\s+/)[0];
    const mac = MAC.exec(line)?.[1]?.toLowerCase();
    const nsid = NETNSID.exec(line)?.[1];
    return {
      type: 'link',
      deleted: m[1] !== undefined,
      ifName: m[3],
      up: m[4].split(',').includes('UP'),
      ...(mac ? { mac } : {}),
      ...(kind && /^[a-z][a-z0-9_]*$/.test(kind) ? { kind } : {}),
      ...(nsid !== undefined ? { netnsid: Number(nsid) } : {}),
    };
  }
  m = ADDRESS.exec(line);
  if (m) {
    const family = m[4] === 'inet6' ? 6 : 4;
    if (!isIp(m[5], family)) return undefined;
    return { type: 'address', deleted: m[1] !== undefined, ifName: m[3], family, local: m[5], prefixLen: Number(m[6]) };
  }
  let toks = line.split(/\s+/);
  const deleted = toks[0] === 'Deleted';
  if (deleted) toks = toks.slice(1);
  if (!isDst(toks[0]) && ROUTE_TYPE.test(toks[0] ?? '') && isDst(toks[1])) toks = toks.slice(1);
  if (!isDst(toks[0])) return undefined;
  const dst = toks[0];
  const val = (key: string) => {
    const k = toks.indexOf(key, 1);
    return k > 0 ? toks[k + 1] : undefined;
  };
  const num = (key: string) => {
    const v = val(key);
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
  };
  const family = dst.includes(':') ? 6 : 4;
  const protocol = num('proto');
  if (protocol === undefined) return undefined; // without -N a name: not one of ours
  const table = val('table') === undefined ? 254 : num('table');
  if (table === undefined) return undefined;
  const dev = val('dev');
  return { type: 'route', deleted, dst, family, ...(dev ? { dev } : {}), table, protocol, metric: num('metric') ?? (family === 4 ? 0 : 1024) };
}

export interface KernelMonitorOptions {
  namespace?: string;
  /** Called with the events of one output chunk, in kernel order. */
  onEvents: (events: MonitorEvent[]) => void;
  /** Called after every start of the child (the first included): events before it were not seen. */
  onStart: (pid: number | undefined) => void;
  /** Back-off after a death: doubles from this (default 100 ms) up to 5 s; a child that ran ≥ 5 s resets it. */
  minBackoffMs?: number;
}

export class KernelMonitor {
  private child?: ChildProcess;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private backoff: number;
  private rest = '';
  /** Children started so far. */
  starts = 0;

  constructor(private readonly opts: KernelMonitorOptions) {
    if (opts.namespace !== undefined) assertNamespace(opts.namespace);
    this.backoff = opts.minBackoffMs ?? 100;
    this.start();
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The child is running (not between a death and its restart). */
  get running(): boolean {
    return this.child !== undefined;
  }

  private start(): void {
    if (this.stopped) return;
    const args = [...(this.opts.namespace !== undefined ? ['-n', this.opts.namespace] : []), '-N', '-o', '-d', 'monitor', 'link', 'address', 'route'];
    const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, LC_ALL: 'C' } });
    const t0 = Date.now();
    this.child = child;
    this.rest = '';
    this.starts++;
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      if (child !== this.child) return;
      const lines = (this.rest + d).split('\n');
      this.rest = lines.pop() ?? '';
      const events: MonitorEvent[] = [];
      for (const l of lines) {
        const e = parseMonitorLine(l);
        if (e) events.push(e);
      }
      if (events.length) this.opts.onEvents(events);
    });
    let gone = false;
    const died = () => {
      if (gone) return;
      gone = true;
      if (child !== this.child) return;
      this.child = undefined;
      if (this.stopped) return;
      const min = this.opts.minBackoffMs ?? 100;
      this.backoff = Date.now() - t0 >= 5000 ? min : Math.min(this.backoff * 2, 5000);
      this.timer = setTimeout(() => this.start(), this.backoff);
      this.timer.unref?.();
    };
    child.on('error', died);
    child.on('exit', died);
    // Never keeps the agent alive.
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    this.opts.onStart(child.pid);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const c = this.child;
    this.child = undefined;
    c?.kill('SIGKILL');
  }
}
