/**
 * BIRD 2 config of one route reflector: every node an `rr client` whose imports are pinned to the
 * /32 (/128) currently placed on it and whose received routes are capped (receive limit); nothing reflected
 * back to nodes; only pool prefixes to the core, with the node as next hop, tagged no-export (or the
 * cluster's core community). The RR never forwards traffic, so no kernel protocol at all.
 */
import {
  BgpOptions,
  birdHeader,
  Cidr,
  Peer,
  array,
  asn,
  bgpOptions,
  birdIdent,
  cmp,
  community,
  coreCommunityPair,
  dottedQuad,
  fail,
  hostRoute,
  ip,
  isUuid,
  localFor,
  name,
  network,
  nodePrefixLimit,
  sortCidrs,
  unique,
} from './common';
import { isName } from '@fabric/contracts';

export interface RrNode {
  /** Node id (uuid or name-like); only used in a comment. */
  id: string;
  name: string;
  underlayIp: string;
  /** The /32 and /128 currently placed on that node. */
  prefixes: string[];
}

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
}

interface ValidNode {
  id: string;
  name: string;
  ip: string;
  v4: Cidr[];
  v6: Cidr[];
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
    const prefixes = sortCidrs(array<string>(n.prefixes, `nodes[${i}].prefixes`).map((p, j) => hostRoute(p, `nodes[${i}].prefixes[${j}]`)));
    return {
      id,
      name: name(n.name, `nodes[${i}].name`),
      ip: ip(n.underlayIp, `nodes[${i}].underlayIp`),
      v4: prefixes.filter((p) => p.family === 4),
      v6: prefixes.filter((p) => p.family === 6),
    };
  });
  unique(nodes.map((n) => n.name.toLowerCase()), 'node name');
  unique([...nodes.map((n) => n.ip), core.ip, localIp, ...(localIp6 ? [localIp6] : [])], 'address (nodes, core, local)');
  nodes.sort((a, b) => cmp(a.name.toLowerCase(), b.name.toLowerCase()));

  const comm = `(${ca},${cv})`;
  const tag = coreCommunityPair(bgp.coreCommunity);
  const out: string[] = birdHeader(`route reflector ${rrName}`, routerId, bgp.bfd);

  const set = (list: Cidr[], hostLen: number) =>
    list.map((c) => (c.len === hostLen ? c.text : `${c.text}{${hostLen},${hostLen}}`)).join(', ');
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

  const common = (neighborIp: string, neighborAsn: number): string[] => {
    const local = localFor(neighborIp, localIp, localIp6);
    const l = [`  local ${local} as ${fabricAsn};`, `  neighbor ${neighborIp} as ${neighborAsn};`];
    if (bgp.md5Password !== undefined) l.push(`  password "${bgp.md5Password}";`);
    if (bgp.gracefulRestart) l.push('  graceful restart on;');
    if (bgp.bfd) l.push('  bfd on;');
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
    out.push(`# node ${n.name} (${n.id}): accept only its current prefixes, tagged with the cluster community.`);
    for (const [fname, list] of [
      [birdIdent('node4_', n.name), n.v4],
      [birdIdent('node6_', n.name), n.v6],
    ] as const) {
      out.push(`filter ${fname} {`);
      if (list.length) out.push(`  if net ~ [ ${list.map((c) => c.text).join(', ')} ] && ${comm} ~ bgp_community then accept;`);
      out.push('  reject;', '}');
    }
    out.push(
      `protocol bgp ${id} {`,
      `  description "node ${n.name}";`,
      ...common(n.ip, fabricAsn),
      // Nodes share the underlay segment: their next hops resolve directly, no IGP table needed.
      '  direct;',
      '  rr client;',
      `  rr cluster id ${clusterId};`,
      '  ipv4 {',
      `    import filter ${birdIdent('node4_', n.name)};`,
      // A VM's route may arrive before this RR's filter lists it: keeping filtered routes lets the next
      // `configure` re-evaluate them locally, instead of waiting on a route refresh from the node.
      '    import keep filtered on;',
      // Counts every route received, filtered ones too (they are kept): a flooding node is cut off before
      // it fills the RR's memory, whatever it announces. Bucketed: see nodePrefixLimit.
      `    receive limit ${nodePrefixLimit(n.v4.length)} action ${bgp.prefixLimitAction};`,
      // Never reflect routes to nodes (thousands of sessions x routes); nodes only need the default route.
      '    export none;',
      ...ext(n.ip, 4),
      '  };',
      '  ipv6 {',
      `    import filter ${birdIdent('node6_', n.name)};`,
      '    import keep filtered on;',
      `    receive limit ${nodePrefixLimit(n.v6.length)} action ${bgp.prefixLimitAction};`,
      '    export none;',
      ...ext(n.ip, 6),
      '  };',
      '}',
      '',
    );
  }
  return out.join('\n');
}
