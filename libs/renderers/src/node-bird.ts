/**
 * BIRD 2 config of a hypervisor node: learn our /32 (/128) kernel routes, announce them to every RR (or, in a
 * direct lab cluster, straight to the core over eBGP).
 * The file only changes when RRs, ASNs or BGP options change — adding a VM is just a kernel route.
 */
import {
  type BgpOptions,
  birdHeader,
  birdSessionOptions,
  type Peer,
  asn,
  bgpOptions,
  birdIdent,
  community,
  dottedQuad,
  ip,
  localFor,
  coreCommunityPair,
  name,
  peers,
  array,
  hostRoute,
  sortCidrs,
  type Cidr,
} from './common';
import { DEFAULT_BLACKHOLE_COMMUNITY } from '@fabric/contracts';

function blackholeLine(list: Cidr[], a: number, v: number): string[] {
  return list.length ? [`    if net ~ [ ${list.map((c) => c.text).join(', ')} ] then bgp_community.add((${a},${v}));`] : [];
}

export interface NodeBirdInput {
  nodeName: string;
  /** IPv4 router id (the node underlay IP). */
  routerId: string;
  fabricAsn: number;
  /** Cluster community `asn:value`, e.g. `65000:100`. */
  community: string;
  /** Linux route protocol number our agent writes VM routes with (callers default to 200). */
  kernelProtocolNumber: number;
  routeReflectors: Peer[];
  /**
   * Direct topology (lab/test stands only): no RR, the node peers this core router over eBGP and tags its routes
   * with the core community itself (what an RR does on its core session). routeReflectors must then be empty.
   */
  core?: Peer & { asn: number };
  bgp: BgpOptions;
  /** Underlay IPv4 address of the node (session source, next hop of IPv4 routes). */
  localIp: string;
  /**
   * Underlay IPv6 address; required when an RR address is IPv6. Given: it is the next hop of IPv6
   * routes, also over IPv4 sessions.
   * Absent: IPv6 routes over IPv4 sessions use an IPv4 next hop (extended next hop, RFC 8950).
   */
  localIp6?: string;
  /** RTBH: addresses of this node's VMs announced with `blackholeCommunity` too (the core discards them). */
  blackholed?: string[];
  /** Community of blackholed routes (default RFC 7999 BLACKHOLE 65535:666). */
  blackholeCommunity?: string;
}

export const NODE_KERNEL4 = 'fabric_kernel4';
export const NODE_KERNEL6 = 'fabric_kernel6';

/** Linux reserves 0 (unspec), 2 (kernel: `learn` ignores them) and BIRD owns 12 (treated as its own routes). */
const RESERVED_RTPROT = new Set([0, 2, 12]);

/** Kernel route metric of a VM route on a node that is migrating it away (see the export filter). */
export const LEAVING_ROUTE_METRIC = 4096;

export function renderNodeBird(input: NodeBirdInput): string {
  if (!input || typeof input !== 'object') throw new Error('invalid node bird input');
  const nodeName = name(input.nodeName, 'nodeName');
  const routerId = dottedQuad(input.routerId, 'routerId');
  const fabricAsn = asn(input.fabricAsn, 'fabricAsn');
  const [ca, cv] = community(input.community);
  const proto = input.kernelProtocolNumber;
  if (!Number.isInteger(proto) || proto < 1 || proto > 255 || RESERVED_RTPROT.has(proto)) {
    throw new Error(`invalid kernelProtocolNumber: ${JSON.stringify(proto)} (1..255, not 2 or 12)`);
  }
  const direct = input.core !== undefined;
  const rrs = peers(input.routeReflectors, 'routeReflectors', direct ? 0 : 1);
  if (direct && rrs.length) throw new Error('routeReflectors must be empty when the node peers the core directly');
  const core = direct ? { ...peers([input.core], 'core')[0], asn: asn(input.core!.asn, 'core.asn') } : undefined;
  if (core && core.asn === fabricAsn) throw new Error('core.asn must differ from fabricAsn (the node-core session is eBGP)');
  const bgp = bgpOptions(input.bgp);
  const coreTag = core ? coreCommunityPair(bgp.coreCommunity) : undefined;
  const localIp = ip(input.localIp, 'localIp', 4);
  const localIp6 = input.localIp6 === undefined ? undefined : ip(input.localIp6, 'localIp6', 6);
  const [ba, bv] = community(input.blackholeCommunity ?? DEFAULT_BLACKHOLE_COMMUNITY);
  const blackholed = sortCidrs(
    array<string>(input.blackholed ?? [], 'blackholed').map((a, i) => {
      const addr = ip(a, `blackholed[${i}]`);
      return hostRoute(`${addr}/${addr.includes(':') ? 128 : 32}`, `blackholed[${i}]`);
    }),
  );

  const out: string[] = birdHeader(`node ${nodeName}`, routerId, bgp);

  for (const [kname, fam, len] of [
    [NODE_KERNEL4, 'ipv4', 32],
    [NODE_KERNEL6, 'ipv6', 128],
  ] as const) {
    out.push(
      `# Learn only the VM routes our agent writes (proto ${proto}), host routes only; never write the kernel.`,
      `protocol kernel ${kname} {`,
      `  ${fam} {`,
      `    import filter { if krt_source = ${proto} && net.len = ${len} then accept; reject; };`,
      '    export none;',
      '  };',
      '  learn;',
      // The default buffer drops netlink messages on bursts of routes (10k routes: 30 s instead of 0.23 s).
      '  netlink rx buffer 8388608;',
      '}',
      '',
    );
  }

  for (const [fname, kname, len] of [
    ['fabric_out4', NODE_KERNEL4, 32],
    ['fabric_out6', NODE_KERNEL6, 128],
  ] as const) {
    out.push(
      `filter ${fname} {`,
      `  if proto = "${kname}" && krt_source = ${proto} && net.len = ${len} then {`,
      `    bgp_community.add((${ca},${cv}));`,
      // Direct: no RR adds the core community (no-export by default), so the node does.
      ...(coreTag ? [`    bgp_community.add((${coreTag[0]},${coreTag[1]}));`] : []),
      // RTBH: the operator blackholed these addresses; the core discards traffic to them.
      ...blackholeLine(
        blackholed.filter((c) => c.len === len),
        ba,
        bv,
      ),
      // Make-before-break migration: the old node keeps the route at a high kernel metric while the new
      // node announces it; the lower local preference makes the RRs (and so the core) pick the new node.
      // Direct: local preference does not cross eBGP, so a longer AS path makes the core pick the new node.
      core
        ? `    if krt_metric >= ${LEAVING_ROUTE_METRIC} then { bgp_local_pref = 50; bgp_path.prepend(${fabricAsn}); }`
        : `    if krt_metric >= ${LEAVING_ROUTE_METRIC} then bgp_local_pref = 50;`,
      '    accept;',
      '  }',
      '  reject;',
      '}',
      '',
    );
  }

  const sessions = core
    ? [{ ...core, ident: birdIdent('core_', core.name), what: 'core router (direct, lab only)' }]
    : rrs.map((rr) => ({ ...rr, asn: fabricAsn, ident: birdIdent('rr_', rr.name), what: 'route reflector' }));
  for (const rr of sessions) {
    const v4session = rr.ip.includes('.');
    const local = localFor(rr.ip, localIp, localIp6);
    // Same-family channel: next hop self. Other family: an explicit next hop of that family, else
    // extended next hop (IPv4 next hop in the IPv6 AFI): BIRD RRs accept it, but an FRR 8.4 core sees
    // ::ffff:a.b.c.d and does not install the route — IPv6 VMs need localIp6.
    const ch4 = v4session ? ['next hop self;'] : [`next hop address ${localIp};`];
    const ch6 = !v4session ? ['next hop self;'] : localIp6 ? [`next hop address ${localIp6};`] : ['extended next hop on;', 'next hop self;'];
    out.push(`protocol bgp ${rr.ident} {`, `  description "${rr.what} ${rr.name}";`, `  local ${local} as ${fabricAsn};`, `  neighbor ${rr.ip} as ${rr.asn};`);
    out.push(...birdSessionOptions(bgp));
    // BIRD's BFD session follows the BGP session's kind: iBGP is multihop by default (BFD on UDP 4784, no
    // interface), but the RR treats its nodes as `direct` (single-hop BFD on 3784, bound to the interface).
    // The two kinds never meet — both ends stay Down and BFD never takes a session down — so with BFD the
    // node treats its RRs as direct neighbours too (they share the underlay segment, as the RR assumes).
    // eBGP to the core (direct topology) is direct already.
    if (bgp.bfd && !core) out.push('  direct;');
    out.push(
      '  ipv4 {',
      '    import none;',
      '    export filter fabric_out4;',
      ...ch4.map((l) => `    ${l}`),
      '  };',
      '  ipv6 {',
      '    import none;',
      '    export filter fabric_out6;',
      ...ch6.map((l) => `    ${l}`),
      '  };',
      '}',
      '',
    );
  }
  return out.join('\n');
}
