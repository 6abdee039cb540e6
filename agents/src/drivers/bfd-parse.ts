/** Pure parsers for BFD session state: BIRD `birdc show bfd sessions`, FRR `vtysh -c 'show bfd peers json'`. */

export interface BfdSession {
  peer: string;
  interface?: string;
  /** Lower-case: 'up', 'down', 'init', 'admindown'. */
  state: string;
  up: boolean;
  /** BIRD: the `Since` column; FRR: seconds up (or down). */
  since?: string;
  /** Negotiated transmit interval and detection timeout in ms (BIRD's columns are in seconds). */
  intervalMs?: number;
  timeoutMs?: number;
  /** BIRD: the `protocol bfd` the session belongs to. */
  protocol?: string;
}

const norm = (s: string) => s.toLowerCase().replace(/[^a-z]/g, '');
const seconds = (v: string | undefined) => (v !== undefined && /^\d+(\.\d+)?$/.test(v) ? Math.round(Number(v) * 1000) : undefined);

/**
 * BIRD 2: a `<protocol>:` line, a header `IP address Interface State Since Interval Timeout`, one row per session.
 * Unknown lines are skipped (tolerant: another BIRD version may add columns at the end).
 */
export function parseBirdBfdSessions(text: string): BfdSession[] {
  const out: BfdSession[] = [];
  let protocol: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (!line || /^BIRD \S+ ready\.$/.test(line) || /^IP address\s/.test(line)) continue;
    const p = /^(\S+):$/.exec(line);
    if (p) {
      protocol = p[1];
      continue;
    }
    const cols = line.trim().split(/\s+/);
    if (cols.length < 3 || !/^[0-9a-fA-F:.]+$/.test(cols[0]) || !/[.:]/.test(cols[0])) continue;
    const [peer, iface, state, ...rest] = cols;
    // Since may be one token (time) or two (date and time); Interval and Timeout are the last two.
    const timeout = rest.length >= 2 ? rest[rest.length - 1] : undefined;
    const interval = rest.length >= 2 ? rest[rest.length - 2] : undefined;
    const since = rest.length > 2 ? rest.slice(0, rest.length - 2).join(' ') : rest[0];
    out.push({
      peer,
      ...(iface && iface !== '---' ? { interface: iface } : {}),
      state: norm(state),
      up: norm(state) === 'up',
      ...(since ? { since } : {}),
      ...(seconds(interval) !== undefined ? { intervalMs: seconds(interval) } : {}),
      ...(seconds(timeout) !== undefined ? { timeoutMs: seconds(timeout) } : {}),
      ...(protocol ? { protocol } : {}),
    });
  }
  return out;
}

/** FRR bfdd: a JSON array of peers `{peer, interface?, status, uptime|downtime, transmit-interval, detect-multiplier, …}`. */
export function parseFrrBfdPeersJson(text: string): BfdSession[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text || '[]');
  } catch {
    return [];
  }
  if (!Array.isArray(doc)) return [];
  const out: BfdSession[] = [];
  for (const p of doc as Record<string, unknown>[]) {
    if (!p || typeof p !== 'object' || typeof p.peer !== 'string') continue;
    const state = norm(String(p.status ?? 'unknown'));
    const num = (k: string) => (typeof p[k] === 'number' ? (p[k] as number) : undefined);
    const tx =
      num('remote-receive-interval') !== undefined && num('transmit-interval') !== undefined
        ? Math.max(num('remote-receive-interval')!, num('transmit-interval')!)
        : num('transmit-interval');
    const mult = num('remote-detect-multiplier') ?? num('detect-multiplier');
    const rx = num('receive-interval');
    const secs = state === 'up' ? num('uptime') : num('downtime');
    out.push({
      peer: p.peer,
      ...(typeof p.interface === 'string' && p.interface ? { interface: p.interface } : {}),
      state,
      up: state === 'up',
      ...(secs !== undefined ? { since: `${secs}s` } : {}),
      ...(tx !== undefined ? { intervalMs: tx } : {}),
      ...(rx !== undefined && mult !== undefined ? { timeoutMs: rx * mult } : {}),
    });
  }
  return out;
}
