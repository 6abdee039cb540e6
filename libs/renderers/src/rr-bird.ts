/**
 * BIRD 2 config of one route reflector: every node an `rr client` whose imports are pinned to the
 * /32 (/128) currently placed on it and whose received routes are capped (receive limit); nothing reflected
 * back to nodes; only pool prefixes to the core, with the node as next hop, tagged no-export (or the
 * cluster's core community). The RR never forwards traffic, so no kernel protocol at all.
 *
 * The placements are not in this text (docs/adr/rr-origin-validation.md): they are ROAs in the tables
 * `fabric_roa4`/`fabric_roa6`, fed over RTR by the RR agent; a node's import accepts a route whose ROA
 * names the node's origin tag. The config changes only when nodes, RRs or policy change (a node's receive
 * limit moves in power-of-two buckets of its placed addresses, so rarely).
 */
import {
  type BgpOptions,
  birdHeader,
  birdSessionOptions,
  type Cidr,
  type Peer,
  array,
  asn,
  bgpOptions,
  birdIdent,
  cmp,
  community,
  coreCommunityPair,
  dottedQuad,
  fail,
  ip,
  isUuid,
  localFor,
  name,
  network,
  MAX_PREFIX_LIMIT,
  NODE_PREFIX_LIMIT_FLOOR,
  sortCidrs,
  unique,
} from './common';
import { createHash } from 'node:crypto';
import { isName } from '@fabric/contracts';

export interface RrNode {
  /** Node id (uuid or name-like); only used in a comment. */
  id: string;
  name: string;
  underlayIp: string;
  /** The node's origin in the ROA tables: a private 32-bit ASN, unique in the cluster (see originTag()). */
  originTag: number;
  /** Receive limits of its RR session per family (default NODE_PREFIX_LIMIT_FLOOR); see nodePrefixLimit(). */
  prefixLimit?: { v4: number; v6: number };
}

/** RFC 6996 private-use 32-bit ASNs: the origin tags of nodes. */
export const ORIGIN_TAG_MIN = 4200000000;
export const ORIGIN_TAG_MAX = 4294967294;
/** Where the RR's BIRD reaches the RTR cache of its agent (the RR's own loopback). */
export const RTR_DEFAULT_PORT = 8323;

/**
 * A node's origin tag: derived from its id (stable across restarts and RRs), probing past tags already
 * given in the cluster so two nodes never share one. Given tags are never reused.
 */
export function originTag(nodeId: string, taken: ReadonlySet<number> = new Set()): number {
  const span = ORIGIN_TAG_MAX - ORIGIN_TAG_MIN + 1;
  let t = ORIGIN_TAG_MIN + (createHash('sha256').update(nodeId).digest().readUInt32BE(0) % span);
  while (taken.has(t)) t = t === ORIGIN_TAG_MAX ? ORIGIN_TAG_MIN : t + 1;
  return t;
}

/** Name of a node's BGP protocol in the RR config (what `birdc reload in` takes). */
export const rrNodeProtocol = (nodeName: string) => birdIdent('node_', name(nodeName, 'node name'));

export interface RrBirdInput {
  rrName: string;
  /** IPv4 router id. */
  routerId: string;
  fabricAsn: number;
  coreAsn: number;
  /** Cluster community `asn:value`; routes without it are refused. */
  community: string;
  /** Dotted quad shared by all RRs of the cluster. */
  rrClusterId: string;
  /** Underlay IPv4 address of the RR. */
  localIp: string;
  /** Underlay IPv6 address; required when the core or a node has an IPv6 address. */
  localIp6?: string;
  core: Peer;
  nodes: RrNode[];
  /** CIDRs of the cluster's networks/pools; only host routes inside them go to the core. */
  exportPrefixes: string[];
  bgp: BgpOptions;
  /** TCP port of the RTR cache on 127.0.0.1 (default RTR_DEFAULT_PORT). */
  rtrPort?: number;
}

interface ValidNode {
  id: string;
  name: string;
  ip: string;
  tag: number;
  limit4: number;
  limit6: number;
}

export function renderRrBird(input: RrBirdInput): string {
  if (!input || typeof input !== 'object') throw new Error('invalid rr bird input');
  const rrName = name(input.rrName, 'rrName');
  const routerId = dottedQuad(input.routerId, 'routerId');
  const fabricAsn = asn(input.fabricAsn, 'fabricAsn');
  const coreAsn = asn(input.coreAsn, 'coreAsn');
  if (coreAsn === fabricAsn) throw new Error('coreAsn must differ from fabricAsn (the core session is eBGP)');
  const [ca, cv] = community(input.community);
  const clusterId = dottedQuad(input.rrClusterId, 'rrClusterId');
  const localIp = ip(input.localIp, 'localIp', 4);
  const localIp6 = input.localIp6 === undefined ? undefined : ip(input.localIp6, 'localIp6', 6);
  const core: Peer = {
    name: name(input.core?.name, 'core.name'),
    ip: ip(input.core?.ip, 'core.ip'),
  };
  const bgp = bgpOptions(input.bgp);
  const exports = sortCidrs(array<string>(input.exportPrefixes, 'exportPrefixes').map((c, i) => network(c, `exportPrefixes[${i}]`)));

  const nodes: ValidNode[] = array<RrNode>(input.nodes, 'nodes').map((n, i) => {
    const id = n?.id;
    if (!isUuid(id) && !isName(id)) fail(`nodes[${i}].id`, id);
    const tag = n.originTag;
    if (!Number.isInteger(tag) || tag < ORIGIN_TAG_MIN || tag > ORIGIN_TAG_MAX) fail(`nodes[${i}].originTag`, tag);
    const limit = (v: unknown, f: string) => {
      if (v === undefined) return NODE_PREFIX_LIMIT_FLOOR;
      if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > MAX_PREFIX_LIMIT) fail(`nodes[${i}].prefixLimit.${f}`, v);
      return v as number;
    };
    return {
      id,
      name: name(n.name, `nodes[${i}].name`),
      ip: ip(n.underlayIp, `nodes[${i}].underlayIp`),
      tag,
      limit4: limit(n.prefixLimit?.v4, 'v4'),
      limit6: limit(n.prefixLimit?.v6, 'v6'),
    };
  });
  const rtrPort = input.rtrPort ?? RTR_DEFAULT_PORT;
  if (!Number.isInteger(rtrPort) || rtrPort < 1 || rtrPort > 65535) fail('rtrPort', rtrPort);
  unique(
    nodes.map((n) => n.name.toLowerCase()),
    'node name',
  );
  unique(
    nodes.map((n) => String(n.tag)),
    'node origin tag',
  );
  unique([...nodes.map((n) => n.ip), core.ip, localIp, ...(localIp6 ? [localIp6] : [])], 'address (nodes, core, local)');
  nodes.sort((a, b) => cmp(a.name.toLowerCase(), b.name.toLowerCase()));

  const comm = `(${ca},${cv})`;
  const tag = coreCommunityPair(bgp.coreCommunity);
  const out: string[] = birdHeader(`route reflector ${rrName}`, routerId, bgp);

  const set = (list: Cidr[], hostLen: number) => list.map((c) => (c.len === hostLen ? c.text : `${c.text}{${hostLen},${hostLen}}`)).join(', ');
  for (const [fname, fam, hostLen] of [
    ['fabric_core_out4', 4, 32],
    ['fabric_core_out6', 6, 128],
  ] as const) {
    const list = exports.filter((c) => c.family === fam);
    out.push(`# Only host routes inside the cluster's pools go to the core.`, `filter ${fname} {`);
    if (list.length && tag) {
      out.push(
        `  if net ~ [ ${set(list, hostLen)} ] && ${comm} ~ bgp_community then {`,
        // Fabric /32s stay with the core (no-export by default): never announced beyond it.
        `    bgp_community.add((${tag[0]},${tag[1]}));`,
        '    accept;',
        '  }',
      );
    } else if (list.length) out.push(`  if net ~ [ ${set(list, hostLen)} ] && ${comm} ~ bgp_community then accept;`);
    out.push('  reject;', '}', '');
  }

  out.push(
    "# Placements: one ROA per placed address (origin = the node's tag), served over RTR by the RR agent.",
    'roa4 table fabric_roa4;',
    'roa6 table fabric_roa6;',
    'protocol rpki fabric_rtr {',
    '  roa4 { table fabric_roa4; };',
    '  roa6 { table fabric_roa6; };',
    `  remote 127.0.0.1 port ${rtrPort};`,
    // Fail static: if the agent is gone the table stays for a day; accepted routes stay accepted.
    '  retry keep 5;',
    '  refresh keep 30;',
    '  expire keep 86400;',
    '}',
    '',
    `function fabric_node4(int origin) { return roa_check(fabric_roa4, net, origin) = ROA_VALID && ${comm} ~ bgp_community; }`,
    `function fabric_node6(int origin) { return roa_check(fabric_roa6, net, origin) = ROA_VALID && ${comm} ~ bgp_community; }`,
    '',
  );

  const common = (neighborIp: string, neighborAsn: number): string[] => {
    const local = localFor(neighborIp, localIp, localIp6);
    const l = [`  local ${local} as ${fabricAsn};`, `  neighbor ${neighborIp} as ${neighborAsn};`];
    l.push(...birdSessionOptions(bgp));
    return l;
  };
  // IPv6 routes on an IPv4 session (and vice versa) may carry a next hop of the other family.
  const ext = (sessionIp: string, fam: 4 | 6) => ((sessionIp.includes('.') ? 4 : 6) === fam ? [] : ['    extended next hop on;']);

  out.push(
    `protocol bgp ${birdIdent('core_', core.name)} {`,
    `  description "core router ${core.name}";`,
    ...common(core.ip, coreAsn),
    '  ipv4 {',
    '    import none;',
    '    export filter fabric_core_out4;',
    // Traffic goes core → node directly; the RR is not in the forwarding path.
    '    next hop keep;',
    ...ext(core.ip, 4),
    '  };',
    '  ipv6 {',
    '    import none;',
    '    export filter fabric_core_out6;',
    '    next hop keep;',
    ...ext(core.ip, 6),
    '  };',
    '}',
    '',
  );

  for (const n of nodes) {
    // Distinct prefixes (node_, node4_, node6_) so no node name can collide with another symbol.
    const id = birdIdent('node_', n.name);
    out.push(`# node ${n.name} (${n.id}): accept only the addresses placed on it (ROA origin ${n.tag}), with the cluster community.`);
    out.push(
      `protocol bgp ${id} {`,
      `  description "node ${n.name}";`,
      ...common(n.ip, fabricAsn),
      // Nodes share the underlay segment: their next hops resolve directly, no IGP table needed.
      '  direct;',
      '  rr client;',
      `  rr cluster id ${clusterId};`,
      '  ipv4 {',
      `    import where fabric_node4(${n.tag});`,
      // A VM's route may arrive before its ROA: the agent re-evaluates it locally (`reload in`) from the
      // import table right after the RTR update, instead of waiting on a route refresh from the node.
      '    import keep filtered on;',
      '    import table on;',
      '    rpki reload off;',
      // Counts every route received, filtered ones too (they are kept): a flooding node is cut off before
      // it fills the RR's memory, whatever it announces. Bucketed: see nodePrefixLimit.
      `    receive limit ${n.limit4} action ${bgp.prefixLimitAction};`,
      // Never reflect routes to nodes (thousands of sessions x routes); nodes only need the default route.
      '    export none;',
      ...ext(n.ip, 4),
      '  };',
      '  ipv6 {',
      `    import where fabric_node6(${n.tag});`,
      '    import keep filtered on;',
      '    import table on;',
      '    rpki reload off;',
      `    receive limit ${n.limit6} action ${bgp.prefixLimitAction};`,
      '    export none;',
      ...ext(n.ip, 6),
      '  };',
      '}',
      '',
    );
  }
  return out.join('\n');
}
