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

/** Template every node session of a family inherits (`protocol bgp node_x from <it>`). */
export const rrNodeTemplate = (sessionFamily: 4 | 6) => `fabric_node_v${sessionFamily}`;

/**
 * One node's part of an RR config (docs/adr/rr-split-desired-state.md): the same on every RR of the cluster
 * (the RR's address, the session options and the MD5 password are in the template of the cluster-wide part),
 * so it is stored once per node in the `<NS>_RR_NODES` bucket and the RR agent includes it.
 */
export interface RrNodePart {
  nodeId: string;
  /** BIRD protocol of the node's session (what `birdc reload in` takes). */
  protocol: string;
  originTag: number;
  /** `protocol bgp <protocol> from fabric_node_v4|6 { ... }`. */
  bird: string;
}

/** What a node part depends on besides the node: the fabric ASN and the prefix-limit action. */
export interface RrNodePolicy {
  fabricAsn: number;
  bgp: BgpOptions;
}

function validNode(n: RrNode, at: string): ValidNode {
  const id = n?.id;
  if (!isUuid(id) && !isName(id)) fail(`${at}.id`, id);
  const tag = n.originTag;
  if (!Number.isInteger(tag) || tag < ORIGIN_TAG_MIN || tag > ORIGIN_TAG_MAX) fail(`${at}.originTag`, tag);
  const limit = (v: unknown, f: string) => {
    if (v === undefined) return NODE_PREFIX_LIMIT_FLOOR;
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > MAX_PREFIX_LIMIT) fail(`${at}.prefixLimit.${f}`, v);
    return v as number;
  };
  return {
    id,
    name: name(n.name, `${at}.name`),
    ip: ip(n.underlayIp, `${at}.underlayIp`),
    tag,
    limit4: limit(n.prefixLimit?.v4, 'v4'),
    limit6: limit(n.prefixLimit?.v6, 'v6'),
  };
}

// IPv6 routes on an IPv4 session (and vice versa) may carry a next hop of the other family.
const ext = (sessionIp: string, fam: 4 | 6) => ((sessionIp.includes('.') ? 4 : 6) === fam ? [] : ['    extended next hop on;']);
const familyOf = (addr: string): 4 | 6 => (addr.includes('.') ? 4 : 6);

function nodeBlock(n: ValidNode, fabricAsn: number, action: string): string {
  // Distinct prefixes (node_, node4_, node6_) so no node name can collide with another symbol.
  const id = birdIdent('node_', n.name);
  return [
    `# node ${n.name} (${n.id}): accept only the addresses placed on it (ROA origin ${n.tag}), with the cluster community.`,
    `protocol bgp ${id} from ${rrNodeTemplate(familyOf(n.ip))} {`,
    `  description "node ${n.name}";`,
    `  neighbor ${n.ip} as ${fabricAsn};`,
    '  ipv4 {',
    `    import where fabric_node4(${n.tag});`,
    // Counts every route received, filtered ones too (they are kept): a flooding node is cut off before
    // it fills the RR's memory, whatever it announces. Bucketed: see nodePrefixLimit.
    `    receive limit ${n.limit4} action ${action};`,
    '  };',
    '  ipv6 {',
    `    import where fabric_node6(${n.tag});`,
    `    receive limit ${n.limit6} action ${action};`,
    '  };',
    '}',
    '',
  ].join('\n');
}

/** One node's part (validated): see RrNodePart. Its session's family must have a template on the RRs. */
export function renderRrNode(policy: RrNodePolicy, node: RrNode): RrNodePart {
  if (!policy || typeof policy !== 'object') throw new Error('invalid rr node policy');
  const fabricAsn = asn(policy.fabricAsn, 'fabricAsn');
  const bgp = bgpOptions(policy.bgp);
  const n = validNode(node, 'node');
  return { nodeId: n.id, protocol: birdIdent('node_', n.name), originTag: n.tag, bird: nodeBlock(n, fabricAsn, bgp.prefixLimitAction) };
}

/**
 * The cluster-wide part of an RR config: everything but the node sessions (router id, filters, ROA tables
 * and RTR, the core session, the node templates). Its size does not depend on the number of nodes or VMs.
 */
export function renderRrBirdMain(input: Omit<RrBirdInput, 'nodes'>): string {
  return render({ ...input, nodes: [] }).main;
}

/** The whole RR config: the cluster-wide part followed by every node's part (sorted by name). */
export function renderRrBird(input: RrBirdInput): string {
  const r = render(input);
  return [r.main, ...r.nodes].join('\n');
}

function render(input: RrBirdInput): { main: string; nodes: string[] } {
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

  const nodes: ValidNode[] = array<RrNode>(input.nodes, 'nodes').map((n, i) => validNode(n, `nodes[${i}]`));
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
  // A node whose session family has no local address on the RR has no template to inherit from.
  for (const n of nodes) localFor(n.ip, localIp, localIp6);
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

  const common = (local: string, neighborIp: string | undefined, neighborAsn: number): string[] => {
    const l = [`  local ${local} as ${fabricAsn};`];
    if (neighborIp) l.push(`  neighbor ${neighborIp} as ${neighborAsn};`);
    l.push(...birdSessionOptions(bgp));
    return l;
  };

  out.push(
    `protocol bgp ${birdIdent('core_', core.name)} {`,
    `  description "core router ${core.name}";`,
    ...common(localFor(core.ip, localIp, localIp6), core.ip, coreAsn),
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

  // The node sessions inherit everything but neighbor, origin tag and receive limits from a template per
  // session family: the node parts carry no RR address and no secret (docs/adr/rr-split-desired-state.md).
  for (const [fam, local] of [
    [4, localIp],
    [6, localIp6],
  ] as const) {
    if (!local) continue;
    out.push(
      `# Node sessions over IPv${fam}: each node's part (protocol bgp node_<name> from ${rrNodeTemplate(fam)}) sets neighbor, origin tag and limits.`,
      `template bgp ${rrNodeTemplate(fam)} {`,
      ...common(local, undefined, fabricAsn),
      // Nodes share the underlay segment: their next hops resolve directly, no IGP table needed.
      '  direct;',
      '  rr client;',
      `  rr cluster id ${clusterId};`,
      '  ipv4 {',
      '    import none;',
      // A VM's route may arrive before its ROA: the agent re-evaluates it locally (`reload in`) from the
      // import table right after the RTR update, instead of waiting on a route refresh from the node.
      '    import keep filtered on;',
      '    import table on;',
      '    rpki reload off;',
      // Never reflect routes to nodes (thousands of sessions x routes); nodes only need the default route.
      '    export none;',
      ...ext(local, 4),
      '  };',
      '  ipv6 {',
      '    import none;',
      '    import keep filtered on;',
      '    import table on;',
      '    rpki reload off;',
      '    export none;',
      ...ext(local, 6),
      '  };',
      '}',
      '',
    );
  }
  return { main: out.join('\n'), nodes: nodes.map((n) => nodeBlock(n, fabricAsn, bgp.prefixLimitAction)) };
}
