/**
 * Merges an operator-owned FRR base config (the router's own: uplinks, other neighbors, statics) with the
 * fabric's generated section into the one integrated frr.conf that frr-reload applies. Pure text in, text out.
 *
 * The base must be in `show running-config` layout (contexts at column 0, their lines indented by one space,
 * address families by two). Rules:
 * - the base keeps everything it has, in its order; the fabric's contexts follow;
 * - global one-line settings (`hostname`, `frr version`, `frr defaults`, …) of the base win;
 * - one `router bgp <asn>` in both: the base owns the router-wide settings (the fabric's are dropped with a
 *   warning), the fabric adds its neighbors and their address-family lines;
 * - the base may not define what the fabric owns (its route-maps, prefix-lists, neighbors) or another BGP ASN.
 */

interface Sub {
  head: string;
  lines: string[];
}
type Item = string | Sub;
interface Block {
  head: string;
  body: Item[];
}

export class FrrMergeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrrMergeError';
  }
}

const GLOBAL_SINGLETONS = [/^hostname\s/, /^frr version\s/, /^frr defaults\s/, /^log\s/, /^service\s/, /^ip forwarding$/, /^ipv6 forwarding$/];

export function parseFrrConfig(text: string): Block[] {
  const blocks: Block[] = [];
  let cur: Block | undefined;
  let sub: Sub | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+$/, '');
    if (!line.trim() || line.trim().startsWith('!')) continue;
    if (!/^\s/.test(line)) {
      sub = undefined;
      if (line === 'exit' || line === 'end') {
        cur = undefined;
        continue;
      }
      cur = { head: line, body: [] };
      blocks.push(cur);
      continue;
    }
    if (!cur) throw new FrrMergeError(`indented line outside of a context: ${JSON.stringify(line.trim())}`);
    if (/^ address-family\s/.test(line) || /^ vni\s/.test(line)) {
      sub = { head: line, lines: [] };
      cur.body.push(sub);
    } else if (/^ exit-address-family$/.test(line) || /^ exit-vni$/.test(line)) {
      sub = undefined;
    } else if (sub && /^ {2}/.test(line)) {
      sub.lines.push(line);
    } else {
      sub = undefined;
      cur.body.push(line);
    }
  }
  return blocks;
}

function render(blocks: Block[]): string {
  const out: string[] = [];
  for (const b of blocks) {
    out.push(b.head);
    for (const it of b.body) {
      if (typeof it === 'string') out.push(it);
      else out.push(it.head, ...it.lines, it.head.startsWith(' vni') ? ' exit-vni' : ' exit-address-family');
    }
    if (b.body.length || /^(route-map|router|interface|vrf|line|key chain) /.test(b.head)) out.push('exit');
    out.push('!');
  }
  return out.join('\n') + '\n';
}

const bgpAsn = (head: string) => /^router bgp (\d+)$/.exec(head)?.[1];
const neighborOf = (line: string) => /^\s*(?:no )?neighbor (\S+)/.exec(line)?.[1];
/** Names the fabric defines: `route-map NAME …`, `ip prefix-list NAME …`, `ipv6 prefix-list NAME …`. */
const definedName = (head: string) =>
  /^(route-map|ip prefix-list|ipv6 prefix-list|bgp community-list(?: standard| expanded)?|bgp as-path access-list) (\S+)/.exec(head);

export interface FrrMergeResult {
  text: string;
  warnings: string[];
}

export function mergeFrrConfig(baseText: string, fabricText: string): FrrMergeResult {
  const base = parseFrrConfig(baseText);
  const fabric = parseFrrConfig(fabricText);
  const warnings: string[] = [];

  const owned = new Set<string>();
  for (const b of fabric) {
    const m = definedName(b.head);
    if (m) owned.add(`${m[1]} ${m[2]}`);
  }
  for (const b of base) {
    const m = definedName(b.head);
    if (m && owned.has(`${m[1]} ${m[2]}`)) throw new FrrMergeError(`the operator file defines ${m[1]} ${m[2]}, which the fabric owns`);
  }

  const fabricBgp = fabric.filter((b) => bgpAsn(b.head));
  const baseBgp = base.filter((b) => bgpAsn(b.head));
  if (fabricBgp.length > 1) throw new FrrMergeError('the fabric section has more than one router bgp');
  const fb = fabricBgp[0];
  const bb = baseBgp[0];
  if (fb && bb && bgpAsn(fb.head) !== bgpAsn(bb.head)) {
    throw new FrrMergeError(`the operator file runs ${bb.head}, the fabric needs ${fb.head} (one BGP instance per router)`);
  }

  const result: Block[] = [];
  const baseSingletons = base.filter((b) => !b.body.length).map((b) => b.head);
  for (const b of base) if (b !== bb) result.push(b);
  for (const b of fabric) {
    if (b === fb && bb) {
      result.push(mergeBgp(bb, fb, warnings));
      continue;
    }
    if (!b.body.length && GLOBAL_SINGLETONS.some((re) => re.test(b.head)) && baseSingletons.some((h) => sameSetting(h, b.head))) continue;
    if (!b.body.length && baseSingletons.includes(b.head)) continue;
    const clash = base.find((x) => x.head === b.head && (x.body.length || b.body.length));
    if (clash) throw new FrrMergeError(`the operator file has its own "${b.head}", which the fabric section configures`);
    result.push(b);
  }
  return { text: render(result), warnings };
}

function sameSetting(a: string, b: string): boolean {
  const key = (h: string) => /^(frr version|frr defaults)\s/.exec(h)?.[1] ?? h.split(/\s+/)[0];
  return key(a) === key(b);
}

function mergeBgp(base: Block, fabric: Block, warnings: string[]): Block {
  const fabricNeighbors = new Set<string>();
  for (const it of fabric.body) {
    const lines = typeof it === 'string' ? [it] : it.lines;
    for (const l of lines) {
      const n = neighborOf(l);
      if (n) fabricNeighbors.add(n);
    }
  }
  for (const it of base.body) {
    for (const l of typeof it === 'string' ? [it] : it.lines) {
      const n = neighborOf(l);
      if (n && fabricNeighbors.has(n)) throw new FrrMergeError(`the operator file configures neighbor ${n}, which the fabric owns`);
    }
  }
  const body: Item[] = base.body.map((it) => (typeof it === 'string' ? it : { head: it.head, lines: [...it.lines] }));
  const dropped: string[] = [];
  for (const it of fabric.body) {
    if (typeof it === 'string') {
      if (neighborOf(it)) body.splice(lastTopLevelLine(body) + 1, 0, it);
      else if (!body.includes(it)) dropped.push(it.trim());
      continue;
    }
    const existing = body.find((x): x is Sub => typeof x !== 'string' && x.head === it.head);
    if (existing) existing.lines.push(...it.lines.filter((l) => !existing.lines.includes(l)));
    else body.push({ head: it.head, lines: [...it.lines] });
  }
  if (dropped.length) warnings.push(`router-wide BGP settings of the fabric not applied (the operator file's router bgp owns them): ${dropped.join('; ')}`);
  return { head: base.head, body };
}

function lastTopLevelLine(body: Item[]): number {
  let i = -1;
  body.forEach((it, k) => {
    if (typeof it === 'string') i = k;
  });
  return i;
}
