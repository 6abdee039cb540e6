/**
 * Representative inputs whose whole rendered text is checked in under libs/renderers/__golden__/ (golden.spec.ts).
 * One case per situation the fabric meets: an empty cluster, one node, IPv6, a migration (RR side: two nodes, one
 * with a raised receive limit; the VM itself is two ROAs, not config text), MD5 + BFD + GR, Junos.
 * Regenerate after an intended renderer change with `npm run golden:update` and review the diff.
 */
import { renderFrrCore, renderJunos, renderJunosProcedure, renderNodeBird, renderNodeEvpn, renderRrBird, renderRrEvpn } from './index';
import { ALL_ON, TIMERS_BFD, frrInput, junosInput, nodeEvpnInput, nodeInput, rrEvpnInput, rrInput } from './fixtures';

/** Which parser checks the file: BIRD 2 (`bird -p`), FRR (`vtysh -C` + `bgpd -C`), or none available here (Junos). */
export type GoldenDialect = 'bird' | 'frr' | 'junos';

export interface GoldenCase {
  /** File name under __golden__/: `<situation>.<renderer>.<ext>`. */
  file: string;
  dialect: GoldenDialect;
  render: () => string;
}

// The RR config holds no VM address (placements are ROAs fed over RTR): nodes differ by origin tag and limits.
const NODE_1 = { id: '0d3c3c1e-7f57-4a39-8f7e-2f0d1b7d9c01', name: 'node-1', underlayIp: '198.18.0.10', originTag: 4200000001 };
const NODE_2 = { id: 'b2f5e7a4-4a4f-4d2c-9a53-0c1f5a2d6e11', name: 'node-2', underlayIp: '198.18.0.11', originTag: 4200000002 };
const IPV6_RRS = [
  { name: 'rr-6', ip: '2001:db8:ff::2' },
  { name: 'rr-1', ip: '198.18.0.2' },
];

export const GOLDEN_CASES: GoldenCase[] = [
  // A cluster with RRs and a core but no node and no pool yet: sessions up, nothing to accept or export.
  { file: 'empty-cluster.rr-bird.conf', dialect: 'bird', render: () => renderRrBird(rrInput({ nodes: [], exportPrefixes: [] })) },
  { file: 'empty-cluster.frr-core.conf', dialect: 'frr', render: () => renderFrrCore(frrInput({ exportPrefixes: [] })) },
  { file: 'empty-cluster.junos.set', dialect: 'junos', render: () => renderJunos(junosInput({ exportPrefixes: [] })) },
  // One node with one IPv4 VM.
  { file: 'one-node.node-bird.conf', dialect: 'bird', render: () => renderNodeBird(nodeInput()) },
  {
    file: 'one-node.rr-bird.conf',
    dialect: 'bird',
    render: () => renderRrBird(rrInput({ nodes: [NODE_1], exportPrefixes: ['203.0.113.0/24'] })),
  },
  { file: 'one-node.frr-core.conf', dialect: 'frr', render: () => renderFrrCore(frrInput({ exportPrefixes: ['203.0.113.0/24'] })) },
  // IPv6: an IPv6 RR session next to an IPv4 one, IPv6 underlay, /128 VM routes and IPv6 pools.
  { file: 'ipv6.node-bird.conf', dialect: 'bird', render: () => renderNodeBird(nodeInput({ routeReflectors: IPV6_RRS, localIp6: '2001:db8:ff::10' })) },
  {
    file: 'ipv6.rr-bird.conf',
    dialect: 'bird',
    render: () =>
      renderRrBird(
        rrInput({
          localIp6: '2001:db8:ff::2',
          core: { name: 'core', ip: '2001:db8:ff::1' },
          nodes: [{ id: 'node-6', name: 'node-6', underlayIp: '2001:db8:ff::16', originTag: 4200000006 }, NODE_1],
        }),
      ),
  },
  {
    file: 'ipv6.frr-core.conf',
    dialect: 'frr',
    render: () => renderFrrCore(frrInput({ routeReflectors: IPV6_RRS, exportPrefixes: ['2001:db8::/32', '2001:db8::1/128'] })),
  },
  // A VM migrating from node-1 to node-2: both nodes may announce its /32 and /128 until the source withdraws.
  {
    file: 'migration.rr-bird.conf',
    dialect: 'bird',
    render: () =>
      renderRrBird(
        rrInput({
          nodes: [
            // A busy source node (its receive limit moved up a bucket) and the target.
            { ...NODE_1, prefixLimit: { v4: 512, v6: 256 } },
            NODE_2,
          ],
        }),
      ),
  },
  // MD5 (with every punctuation character the API accepts), BFD and graceful restart on every session.
  { file: 'md5-bfd-gr.node-bird.conf', dialect: 'bird', render: () => renderNodeBird(nodeInput({ bgp: ALL_ON })) },
  { file: 'md5-bfd-gr.rr-bird.conf', dialect: 'bird', render: () => renderRrBird(rrInput({ bgp: ALL_ON })) },
  { file: 'md5-bfd-gr.frr-core.conf', dialect: 'frr', render: () => renderFrrCore(frrInput({ bgp: ALL_ON })) },
  // Timers and BFD intervals changed by PATCH /clusters/:id/bgp.
  { file: 'timers-bfd.node-bird.conf', dialect: 'bird', render: () => renderNodeBird(nodeInput({ bgp: TIMERS_BFD })) },
  { file: 'timers-bfd.rr-bird.conf', dialect: 'bird', render: () => renderRrBird(rrInput({ bgp: TIMERS_BFD })) },
  { file: 'timers-bfd.frr-core.conf', dialect: 'frr', render: () => renderFrrCore(frrInput({ bgp: TIMERS_BFD })) },
  { file: 'timers-bfd.junos.set', dialect: 'junos', render: () => renderJunos(junosInput({ bgp: TIMERS_BFD })) },
  // Junos core: `set` statements and the operator procedure around them.
  { file: 'cluster.junos.set', dialect: 'junos', render: () => renderJunos(junosInput()) },
  { file: 'md5-bfd-gr.junos.set', dialect: 'junos', render: () => renderJunos(junosInput({ bgp: ALL_ON })) },
  { file: 'cluster.junos-procedure.txt', dialect: 'junos', render: () => renderJunosProcedure(junosInput()) },
  // Direct topology (lab/test stands only): no RR, the node peers the core over eBGP; the core has one neighbor per node.
  {
    file: 'direct.node-bird.conf',
    dialect: 'bird',
    render: () => renderNodeBird(nodeInput({ routeReflectors: [], core: { name: 'core', ip: '198.18.0.1', asn: 65001 }, bgp: ALL_ON })),
  },
  {
    file: 'direct.frr-core.conf',
    dialect: 'frr',
    render: () =>
      renderFrrCore(
        frrInput({
          routeReflectors: [],
          nodes: [
            { name: NODE_2.name, ip: NODE_2.underlayIp },
            { name: NODE_1.name, ip: NODE_1.underlayIp },
          ],
          bgp: ALL_ON,
        }),
      ),
  },
  { file: 'direct-no-node.frr-core.conf', dialect: 'frr', render: () => renderFrrCore(frrInput({ routeReflectors: [], nodes: [] })) },
  {
    file: 'direct.junos-procedure.txt',
    dialect: 'junos',
    render: () => renderJunosProcedure(junosInput({ routeReflectors: [], nodes: [{ name: NODE_1.name, ip: NODE_1.underlayIp }] })),
  },
  // A BMP station configured: the core reports its post-policy routes to the collector (at-core for any vendor).
  { file: 'bmp.frr-core.conf', dialect: 'frr', render: () => renderFrrCore(frrInput({ bmpStation: { address: '198.18.254.1', port: 11019 } })) },
  { file: 'bmp.junos.set', dialect: 'junos', render: () => renderJunos(junosInput({ bmpStation: { address: '2001:db8:ff::99', port: 5000 } })) },
  // EVPN (private networks): FRR beside BIRD on a node with a private network and on an RR; an IPv6 RR gets no EVPN session.
  {
    file: 'private-networks.node-evpn.conf',
    dialect: 'frr',
    render: () => renderNodeEvpn(nodeEvpnInput({ routeReflectors: IPV6_RRS.concat([{ name: 'rr-2', ip: '198.18.0.3' }]) })),
  },
  { file: 'private-networks.rr-evpn.conf', dialect: 'frr', render: () => renderRrEvpn(rrEvpnInput()) },
  { file: 'md5-timers.node-evpn.conf', dialect: 'frr', render: () => renderNodeEvpn(nodeEvpnInput({ bgp: TIMERS_BFD })) },
  { file: 'md5-timers.rr-evpn.conf', dialect: 'frr', render: () => renderRrEvpn(rrEvpnInput({ bgp: TIMERS_BFD })) },
];
