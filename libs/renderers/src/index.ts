export type { BgpOptions, BmpStation, CoreRouterInput, Peer } from './common';
export { bgpOptionsOf, previewBgpOptions, withPreviewBgp } from './common';
export { NODE_PREFIX_LIMIT_FLOOR, MAX_PREFIX_LIMIT, nodePrefixLimit, poolPrefixLimit } from './common';
export { renderNodeBird, NODE_KERNEL4, NODE_KERNEL6, LEAVING_ROUTE_METRIC } from './node-bird';
export type { NodeBirdInput } from './node-bird';
export {
  renderRrBird,
  renderRrBirdMain,
  renderRrNode,
  rrNodeTemplate,
  rrNodeProtocol,
  originTag,
  ORIGIN_TAG_MIN,
  ORIGIN_TAG_MAX,
  RTR_DEFAULT_PORT,
} from './rr-bird';
export type { RrBirdInput, RrNode, RrNodePart, RrNodePolicy } from './rr-bird';
export { renderFrrCore, FRR_PREFIX_LIST_V4, FRR_PREFIX_LIST_V6, FRR_COMMUNITY_LIST, FRR_PREFIX_LIMIT_RESTART_MINUTES } from './frr-core';
export type { FrrCoreInput } from './frr-core';
export { renderJunos, renderJunosProcedure, junosNames } from './junos';
export type { JunosInput, JunosNames } from './junos';
export { unifiedDiff } from './diff';
export { contentHash, canonicalJson } from './hash';
export * from './redact';
export {
  renderLibvirtInterface,
  renderLxdDevice,
  renderNetworkConfig,
  guestNetworkConfig,
  guestNetworkFacts,
  vmGuestMac,
  GUEST_IF,
  GUEST_IPV6_GATEWAY,
} from './guest-network';
export type { GuestNetworkInput, GuestNetworkFacts, NetworkConfigV2 } from './guest-network';
export { renderNodeEvpn, renderRrEvpn, EVPN_BGP_PORT } from './frr-evpn';
export type { NodeEvpnInput, RrEvpnInput } from './frr-evpn';
export { nodeConfigText, rrPartsText } from './preview-text';
