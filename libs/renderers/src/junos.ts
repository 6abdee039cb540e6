/**
 * Set-style Junos for the production border router, plus the operator procedure (commit confirmed).
 * Each block is deleted then set again, so the text is the whole desired state of this cluster's
 * objects: removed pools/RRs disappear, and an unchanged config shows an empty `show | compare`.
 * FABRIC-<CLUSTER>-OUT rejects everything: nodes reach the world through their own default route,
 * so the border router announces nothing to the fabric.
 */
import { DEFAULT_BFD_INTERVAL_MS, DEFAULT_BFD_MULTIPLIER, DEFAULT_BLACKHOLE_COMMUNITY, DIRECT_TOPOLOGY_WARNING } from '@fabric/contracts';
import {
  type BgpOptions,
  type Cidr,
  type CoreRouterInput,
  type Peer,
  array,
  asn,
  corePeers,
  bgpOptions,
  bmpStation,
  community,
  name,
  network,
  poolPrefixLimit,
  sortCidrs,
} from './common';

/** coreAsn must equal the router's `routing-options autonomous-system` (checked in the procedure, not set here). */
export interface JunosInput extends CoreRouterInput {
  /** Cluster name; upper-cased into object names (FABRIC-<CLUSTER>-…). */
  clusterName: string;
}

export interface JunosNames {
  group: string;
  prefixList: string;
  community: string;
  importPolicy: string;
  exportPolicy: string;
}

export function junosNames(clusterName: string): JunosNames {
  const c = name(clusterName, 'clusterName').toUpperCase();
  return {
    group: `FABRIC-${c}`,
    prefixList: `FABRIC-${c}-POOLS`,
    community: `FABRIC-${c}-COMM`,
    importPolicy: `FABRIC-${c}-IN`,
    exportPolicy: `FABRIC-${c}-OUT`,
  };
}

interface Valid {
  n: JunosNames;
  coreAsn: number;
  fabricAsn: number;
  community: [number, number];
  /** The core's neighbors: the RRs, or the nodes of a direct (lab-only) cluster. */
  rrs: Peer[];
  direct: boolean;
  exports: Cidr[];
  bgp: BgpOptions;
}

function validate(input: JunosInput): Valid {
  if (!input || typeof input !== 'object') throw new Error('invalid junos input');
  const n = junosNames(input.clusterName);
  const coreAsn = asn(input.coreAsn, 'coreAsn');
  const fabricAsn = asn(input.fabricAsn, 'fabricAsn');
  if (coreAsn === fabricAsn) throw new Error('coreAsn must differ from fabricAsn (the RR sessions are eBGP)');
  const { direct, neighbors } = corePeers(input);
  return {
    n,
    coreAsn,
    fabricAsn,
    community: community(input.community),
    rrs: neighbors,
    direct,
    exports: sortCidrs(array<string>(input.exportPrefixes, 'exportPrefixes').map((c, i) => network(c, `exportPrefixes[${i}]`))),
    bgp: bgpOptions(input.bgp),
  };
}

export function renderJunos(input: JunosInput): string {
  const { n, fabricAsn, community: comm, rrs, direct, exports, bgp } = validate(input);
  const po = 'set policy-options';
  const grp = `set protocols bgp group ${n.group}`;
  const out: string[] = [
    `delete policy-options prefix-list ${n.prefixList}`,
    `delete policy-options policy-statement ${n.importPolicy}`,
    `delete policy-options policy-statement ${n.exportPolicy}`,
    `delete protocols bgp group ${n.group}`,
    `delete policy-options community ${n.community}`,
    `delete routing-options bmp station ${n.group}-BMP`,
  ];
  // The prefix-list documents the pools (and is usable by firewall filters); the import policy needs
  // route-filters because prefix-list-filter cannot say "only the /32 (/128) inside".
  for (const c of exports) out.push(`${po} prefix-list ${n.prefixList} ${c.text}`);
  out.push(`${po} community ${n.community} members ${comm[0]}:${comm[1]}`);
  const v4 = exports.filter((c) => c.family === 4);
  const v6 = exports.filter((c) => c.family === 6);
  out.splice(1, 0, ...junosBlackholeDeletes(n));
  out.push(...junosBlackhole(n, po, v4, v6, input.blackholeCommunity));
  for (const [term, list, host] of [
    ['HOSTS-V4', v4, 32],
    ['HOSTS-V6', v6, 128],
  ] as const) {
    if (!list.length) continue;
    for (const c of list) {
      const match = c.len === host ? 'exact' : `prefix-length-range /${host}-/${host}`;
      out.push(`${po} policy-statement ${n.importPolicy} term ${term} from route-filter ${c.text} ${match}`);
    }
    // `from` conditions of one term must all match: inside the pools AND tagged by this cluster's fabric.
    out.push(`${po} policy-statement ${n.importPolicy} term ${term} from community ${n.community}`);
    out.push(`${po} policy-statement ${n.importPolicy} term ${term} then accept`);
  }
  out.push(
    `${po} policy-statement ${n.importPolicy} term REJECT then reject`,
    `${po} policy-statement ${n.exportPolicy} term REJECT then reject`,
    `${grp} type external`,
    `${grp} description "${direct ? 'IP-Fabric nodes, direct peering (lab/test stand only)' : 'IP-Fabric route reflectors'}"`,
    `${grp} peer-as ${fabricAsn}`,
    `${grp} import ${n.importPolicy}`,
    `${grp} export ${n.exportPolicy}`,
    // Received prefixes (before policy) per RR session: at most the pools' addresses plus headroom;
    // beyond that the session is torn down and retried after 5 minutes.
    `${grp} family inet unicast`,
    `${grp} family inet6 unicast`,
    `${grp} family inet unicast prefix-limit maximum ${poolPrefixLimit(
      exports.filter((c) => c.family === 4),
      4,
    )}`,
    `${grp} family inet unicast prefix-limit teardown idle-timeout 5`,
    `${grp} family inet6 unicast prefix-limit maximum ${poolPrefixLimit(
      exports.filter((c) => c.family === 6),
      6,
    )}`,
    `${grp} family inet6 unicast prefix-limit teardown idle-timeout 5`,
  );
  if (bgp.md5Password !== undefined) out.push(`${grp} authentication-key "${bgp.md5Password}"`);
  if (bgp.bfd) {
    if (bgp.bfdMinRxMs === undefined && bgp.bfdMinTxMs === undefined) out.push(`${grp} bfd-liveness-detection minimum-interval ${DEFAULT_BFD_INTERVAL_MS}`);
    if (bgp.bfdMinRxMs !== undefined) out.push(`${grp} bfd-liveness-detection minimum-receive-interval ${bgp.bfdMinRxMs}`);
    if (bgp.bfdMinTxMs !== undefined) out.push(`${grp} bfd-liveness-detection transmit-interval minimum-interval ${bgp.bfdMinTxMs}`);
    out.push(`${grp} bfd-liveness-detection multiplier ${bgp.bfdMultiplier ?? DEFAULT_BFD_MULTIPLIER}`);
  }
  // Junos has no keepalive knob: it sends keepalives at a third of the hold time.
  if (bgp.holdTime !== undefined) out.push(`${grp} hold-time ${bgp.holdTime}`);
  if (bgp.gracefulRestart) out.push(`${grp} graceful-restart`);
  if (bgp.gracefulRestart && bgp.gracefulRestartTime !== undefined) out.push(`${grp} graceful-restart restart-time ${bgp.gracefulRestartTime}`);
  for (const rr of rrs) out.push(`${grp} neighbor ${rr.ip} description "${direct ? 'node' : 'rr'} ${rr.name}"`);
  // The BMP station: post-policy routes to the collector, which proves at-core for this router.
  const st = bmpStation(input.bmpStation);
  if (st) {
    const b = `set routing-options bmp station ${n.group}-BMP`;
    out.push(`${b} station-address ${st.address}`, `${b} station-port ${st.port}`, `${b} connection-mode active`, `${b} route-monitoring post-policy`);
  }
  return out.join('\n') + '\n';
}

const blackholeNames = (n: JunosNames) => ({ community: `${n.group}-BLACKHOLE`, noExport: `${n.group}-NO-EXPORT` });

function junosBlackholeDeletes(n: JunosNames): string[] {
  const b = blackholeNames(n);
  return [`delete policy-options community ${b.community}`, `delete policy-options community ${b.noExport}`];
}

/**
 * RTBH terms, first in the import policy: a pool host route with the blackhole community is accepted with
 * `next-hop discard` (and NO_EXPORT), so the router drops its traffic; without the community the HOSTS terms
 * accept it as usual.
 */
function junosBlackhole(n: JunosNames, po: string, v4: Cidr[], v6: Cidr[], value: string | undefined): string[] {
  const [a, v] = community(value ?? DEFAULT_BLACKHOLE_COMMUNITY);
  const b = blackholeNames(n);
  const out = [`${po} community ${b.community} members ${a}:${v}`, `${po} community ${b.noExport} members no-export`];
  for (const [term, list, host] of [
    ['BLACKHOLE-V4', v4, 32],
    ['BLACKHOLE-V6', v6, 128],
  ] as const) {
    if (!list.length) continue;
    const t = `${po} policy-statement ${n.importPolicy} term ${term}`;
    out.push(`${t} from community ${b.community}`);
    for (const c of list) out.push(`${t} from route-filter ${c.text} ${c.len === host ? 'exact' : `prefix-length-range /${host}-/${host}`}`);
    out.push(`${t} then community add ${b.noExport}`, `${t} then next-hop discard`, `${t} then accept`);
  }
  return out;
}

/** Operator text: paste the config under `load set terminal`, check, commit confirmed, verify, confirm. */
export function renderJunosProcedure(input: JunosInput): string {
  const v = validate(input);
  const config = renderJunos(input);
  const lines: string[] = [
    `IP-Fabric: apply the border router configuration for ${v.n.group}`,
    '',
    ...(v.direct ? [`WARNING: ${DIRECT_TOPOLOGY_WARNING}.`, ''] : []),
    `0. Check the router's AS is ${v.coreAsn}:`,
    '     show configuration routing-options autonomous-system',
    '1. Enter configuration mode:',
    '     configure',
    '2. Load the configuration (paste the block, then press Ctrl-D on an empty line):',
    '     load set terminal',
    ...config
      .trimEnd()
      .split('\n')
      .map((l) => `     ${l}`),
    '   ("warning: statement not found" on the delete lines is expected on the first run.)',
    '3. Review the change (only the FABRIC objects of this cluster may appear):',
    '     show | compare',
    '4. Validate:',
    '     commit check',
    '5. Commit with automatic rollback after 5 minutes:',
    `     commit confirmed 5 comment "IP-Fabric ${v.n.group}"`,
    `6. Verify every ${v.direct ? 'node' : 'route reflector'} session is Established and routes are accepted`,
    '   (from configuration mode, hence `run`):',
    ...v.rrs.map((rr) => `     run show bgp neighbor ${rr.ip} | match Accepted`),
    ...(v.rrs.length ? [`     run show route receive-protocol bgp ${v.rrs[0].ip} | count`] : []),
    '7. If all checks pass, confirm before the 5 minutes expire:',
    '     commit',
    '     exit',
    '   If a check fails, do nothing: the router rolls back automatically (or `rollback 1` then `commit`).',
    '',
  ];
  return lines.join('\n');
}
