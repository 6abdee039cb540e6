/** Pure parsers for `birdc` text output (BIRD 2.0.x, default time formats). */

export interface BirdProtocol {
  name: string;
  proto: string; // 'BGP', 'Kernel', 'Device', 'Static', …
  table: string; // '---' for multi-channel protocols such as BGP
  state: string; // 'up', 'down', 'start', 'stop', 'flush'
  since: string;
  info: string; // BGP: 'Established', 'Active', 'Connect', 'Active  Socket: Connection refused', …
}

export interface BirdNextHop {
  via?: string;
  dev?: string;
}

export interface BirdRoute {
  table: string;
  prefix: string;
  type: string; // 'unicast', 'blackhole', 'unreachable', 'prohibit'
  fromProtocol: string;
  /** Learned from this BGP neighbor when it differs from the next hop (`from <ip>` in BIRD's output). */
  from?: string;
  primary: boolean;
  preference: number;
  nextHop?: string;
  dev?: string;
  nextHops: BirdNextHop[];
  /** `show route all` attribute lines: `BGP.next_hop`, `Kernel.source`, `Type`, … */
  attributes: Record<string, string>;
}

const PROTO_LINE = /^(\S+)\s+(\S+)\s+(\S+)\s+(up|down|start|stop|flush|\S+)\s+(\d{4}-\d{2}-\d{2}(?: \d{2}:\d{2}:\d{2}(?:\.\d+)?)?|\S+)(?:\s+(.*))?$/;

export function parseBirdProtocols(text: string): BirdProtocol[] {
  const out: BirdProtocol[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+$/, '');
    if (!line || /^BIRD \S+ ready\.$/.test(line) || /^Name\s+Proto\s+Table/.test(line) || /^\s/.test(line)) continue;
    const m = PROTO_LINE.exec(line);
    if (!m) continue;
    out.push({ name: m[1], proto: m[2], table: m[3], state: m[4], since: m[5], info: (m[6] ?? '').trim() });
  }
  return out;
}

// `<prefix>  <type> [<proto> <since>[ from <ip>]] [*] (<pref>[/<metric>]) [<as info>]`; alternatives omit the prefix.
const ROUTE_LINE =
  /^(\S+)?\s+(unicast|blackhole|unreachable|prohibit|multicast|\S+)\s+\[(\S+)(?:\s+([^\]]*?))?(?:\s+from\s+(\S+))?\]\s*(\*)?\s*\((\d+)(?:\/[^)]*)?\)/;

export function parseBirdRoutes(text: string): BirdRoute[] {
  const out: BirdRoute[] = [];
  let table = '';
  let prefix = '';
  let cur: BirdRoute | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+$/, '');
    if (!line || /^BIRD \S+ ready\.$/.test(line)) continue;
    const t = /^Table (\S+):$/.exec(line);
    if (t) {
      table = t[1];
      cur = undefined;
      continue;
    }
    if (line.startsWith('\t')) {
      if (!cur) continue;
      const body = line.trim();
      const via = /^via (\S+)(?: on (\S+))?/.exec(body);
      const dev = /^dev (\S+)/.exec(body);
      if (via) cur.nextHops.push({ via: via[1], dev: via[2] });
      else if (dev) cur.nextHops.push({ dev: dev[1] });
      else {
        const a = /^([^:]+):\s*(.*)$/.exec(body);
        if (a) cur.attributes[a[1]] = a[2];
      }
      if (cur.nextHops.length) {
        cur.nextHop = cur.nextHops[0].via;
        cur.dev = cur.nextHops[0].dev;
      }
      continue;
    }
    const m = ROUTE_LINE.exec(line);
    if (!m) continue;
    if (m[1]) prefix = m[1];
    if (!prefix) continue;
    cur = {
      table,
      prefix,
      type: m[2],
      fromProtocol: m[3],
      from: m[5],
      primary: m[6] === '*',
      preference: Number(m[7]),
      nextHops: [],
      attributes: {},
    };
    out.push(cur);
  }
  return out;
}
