/** Cluster aggregate (subject cluster.<clusterId>): settings, route reflectors. */
import {
  BGP_TIMER_KEYS,
  type BgpOptions,
  type BgpSettingsInput,
  type BmpStationRef,
  type ClusterTopology,
  DEFAULT_BLACKHOLE_COMMUNITY,
  bgpTimerProblems,
  type CoreRouterRef,
  DEFAULT_CORE_COMMUNITY,
  DEFAULT_PREFIX_LIMIT_ACTION,
  type Decider,
  type EventOf,
  type GatewaySettings,
  type RouteReflectorRef,
  conflict,
  invalid,
  isMac,
  notFound,
} from '@fabric/contracts';
import { canonical, isValidIp } from '@fabric/ipam-math';
import { requireIp, requireUnicastIp, sameIp } from './ip-input';

export const DEFAULT_GATEWAY: GatewaySettings = { ip: '10.0.0.1', mac: 'fe:ff:ff:ff:ff:ff' };
export const DEFAULT_RR_CLUSTER_ID = '0.0.0.1';
export const MAX_ROUTE_REFLECTORS = 16;

export type ClusterEvent = EventOf<
  'ClusterCreated' | 'RouteReflectorAdded' | 'RouteReflectorRemoved' | 'BgpPasswordChanged' | 'ClusterBgpSettingsChanged' | 'RouterConfigRollbackRequested'
>;

export interface CreateClusterData {
  clusterId: string;
  name: string;
  fabricAsn: number;
  coreAsn: number;
  community: string;
  gateway?: Partial<GatewaySettings>;
  routeReflectors?: RouteReflectorRef[];
  coreRouter: CoreRouterRef;
  rrClusterId?: string;
  bgp?: Partial<BgpOptions>;
  blackholeCommunity?: string;
  /** `direct`: no RRs, every node peers the core (lab/test stands only). */
  topology?: ClusterTopology;
}
export type CreateClusterCommand = {
  type: 'CreateCluster';
  data: CreateClusterData;
  /** nameTaken: another cluster already has this name. */
  context: { nameTaken: boolean };
};
export type AddRouteReflectorCommand = {
  type: 'AddRouteReflector';
  data: { clusterId: string; name: string; ip: string };
  /** ipTakenByNode (optional): a node of this cluster uses the address as its underlay IP; ipInPool: the pool holding it. */
  context?: { ipTakenByNode?: boolean; ipInPool?: string };
};
export type RemoveRouteReflectorCommand = { type: 'RemoveRouteReflector'; data: { clusterId: string; name: string } };
/** md5Password: the secret reference of the new password (the value is in the secrets stream). */
export type ChangeBgpPasswordCommand = { type: 'ChangeBgpPassword'; data: { clusterId: string; md5Password: string } };
/** Only the fields given change; a timer set to null returns to the daemon default. md5Password: a secret reference. */
export type BgpSettingsPatch = Omit<BgpSettingsInput, 'md5Password' | 'rotateMd5'>;
export type ChangeBgpSettingsCommand = { type: 'ChangeBgpSettings'; data: { clusterId: string; settings: BgpSettingsPatch; md5Password?: string } };
/** context.currentVersion: the core router config version in force (router-config's last RouterConfigRendered), 0 when none. */
export type RollbackRouterConfigCommand = {
  type: 'RollbackRouterConfig';
  data: { clusterId: string; toVersion: number; reason?: string };
  context: { currentVersion: number };
};
export type ClusterCommand =
  | CreateClusterCommand
  | AddRouteReflectorCommand
  | RemoveRouteReflectorCommand
  | ChangeBgpPasswordCommand
  | ChangeBgpSettingsCommand
  | RollbackRouterConfigCommand;

export type ClusterState =
  | { status: 'absent' }
  | {
      status: 'active';
      clusterId: string;
      name: string;
      fabricAsn: number;
      coreAsn: number;
      community: string;
      gateway: GatewaySettings;
      coreRouter: CoreRouterRef;
      rrClusterId: string;
      bgp: BgpOptions;
      routeReflectors: RouteReflectorRef[];
      blackholeCommunity?: string;
      /** Set only for a direct (lab-only) cluster. */
      topology?: 'direct';
    };
type ActiveCluster = Extract<ClusterState, { status: 'active' }>;

// Names are DNS labels: "RR1" and "rr1" would be the same host to an operator.
const sameName = (a: string, b: string) => String(a).toLowerCase() === String(b).toLowerCase();

function createCluster(cmd: CreateClusterCommand, state: ClusterState): ClusterEvent[] {
  const d = cmd.data;
  if (state.status !== 'absent') throw conflict('cluster-exists', `cluster ${d.clusterId} already exists`);
  if (d.fabricAsn === d.coreAsn) {
    throw invalid(
      'ibgp-core-not-supported',
      `fabricAsn and coreAsn are both ${d.fabricAsn}: the core must peer with the route reflectors over eBGP ` +
        '(the generated core config is an external BGP group that forwards straight to the nodes); an iBGP core would have to be a route-reflector client, which is not supported',
      { coreAsn: ['must differ from fabricAsn'] },
    );
  }
  const gateway: GatewaySettings = {
    ip: requireIp(d.gateway?.ip ?? DEFAULT_GATEWAY.ip, 'gateway.ip', 4),
    mac: String(d.gateway?.mac ?? DEFAULT_GATEWAY.mac).toLowerCase(),
  };
  if (!isMac(gateway.mac)) throw invalid('invalid-mac', 'gateway.mac must be a MAC address like fe:ff:ff:ff:ff:ff', { 'gateway.mac': ['invalid MAC'] });
  const coreRouter: CoreRouterRef = { ...d.coreRouter, ip: requireUnicastIp(d.coreRouter?.ip, 'coreRouter.ip') };
  if (sameIp(coreRouter.ip, gateway.ip)) {
    throw invalid('ip-is-gateway', `coreRouter.ip ${coreRouter.ip} is the VM gateway address, which every node holds locally`);
  }
  if (d.topology !== undefined && d.topology !== 'route-reflectors' && d.topology !== 'direct') {
    throw invalid('invalid-topology', "topology must be 'route-reflectors' or 'direct'", { topology: ['route-reflectors or direct'] });
  }
  const direct = d.topology === 'direct';
  if (direct && (d.routeReflectors ?? []).length) {
    throw invalid('direct-with-route-reflectors', "topology 'direct' peers every node with the core: routeReflectors must be empty", {
      routeReflectors: ['must be empty for topology direct'],
    });
  }
  const rrs: RouteReflectorRef[] = [];
  for (const [i, rr] of (d.routeReflectors ?? []).entries()) {
    const ip = requireUnicastIp(rr?.ip, `routeReflectors[${i}].ip`);
    checkRouteReflectorIp(ip, gateway, coreRouter);
    if (rrs.some((o) => sameName(o.name, rr.name))) {
      throw invalid('duplicate-route-reflector', `route reflector name ${rr.name} is given twice`, { routeReflectors: ['names must be unique'] });
    }
    if (rrs.some((o) => sameIp(o.ip, ip))) {
      throw invalid('duplicate-route-reflector', `route reflector address ${ip} is given twice`, { routeReflectors: ['addresses must be unique'] });
    }
    rrs.push({ name: rr.name, ip });
  }
  if (rrs.length > MAX_ROUTE_REFLECTORS) throw invalid('too-many-route-reflectors', `at most ${MAX_ROUTE_REFLECTORS} route reflectors per cluster`);
  // A community's ASN part may differ from fabricAsn (e.g. a 4-byte fabric ASN cannot fit): allowed.
  if (d.blackholeCommunity !== undefined && d.blackholeCommunity === d.community) {
    throw invalid('blackhole-community-is-cluster-community', 'blackholeCommunity must differ from community (every VM route carries community)', {
      blackholeCommunity: ['must differ from community'],
    });
  }
  if (cmd.context?.nameTaken) throw conflict('cluster-name-taken', `a cluster named ${d.name} already exists`);

  const rrClusterId =
    d.rrClusterId !== undefined ? requireIp(d.rrClusterId, 'rrClusterId', 4) : (rrs.find((r) => isValidIp(r.ip, 4))?.ip ?? DEFAULT_RR_CLUSTER_ID);
  // MD5 is on unless the operator opts out with a reason (inventory generates a password when none is given).
  if (d.bgp?.md5Password !== undefined && d.bgp?.md5OptOut !== undefined) {
    throw invalid('md5-conflict', 'give either bgp.md5Password or bgp.md5OptOut, not both', { 'bgp.md5OptOut': ['not allowed with md5Password'] });
  }
  if (d.bgp?.md5Password === undefined && d.bgp?.md5OptOut === undefined) {
    throw invalid('md5-required', 'BGP sessions need an MD5 password, or bgp.md5OptOut with the reason to run without', {
      'bgp.md5Password': ['required unless bgp.md5OptOut is given'],
    });
  }
  const bgp: BgpOptions = {
    gracefulRestart: d.bgp?.gracefulRestart ?? true,
    bfd: d.bgp?.bfd ?? false,
    prefixLimitAction: d.bgp?.prefixLimitAction ?? DEFAULT_PREFIX_LIMIT_ACTION,
    coreCommunity: d.bgp?.coreCommunity ?? DEFAULT_CORE_COMMUNITY,
  };
  if (d.bgp?.md5Password !== undefined) bgp.md5Password = d.bgp.md5Password;
  if (d.bgp?.md5OptOut !== undefined) bgp.md5OptOut = d.bgp.md5OptOut;

  return [
    {
      type: 'ClusterCreated',
      data: {
        clusterId: d.clusterId,
        name: d.name,
        fabricAsn: d.fabricAsn,
        coreAsn: d.coreAsn,
        community: d.community,
        gateway,
        coreRouter,
        rrClusterId,
        bgp,
        ...(d.blackholeCommunity !== undefined ? { blackholeCommunity: d.blackholeCommunity } : {}),
        ...(direct ? { topology: 'direct' as const } : {}),
      },
    },
    ...rrs.map((rr): ClusterEvent => ({ type: 'RouteReflectorAdded', data: { clusterId: d.clusterId, name: rr.name, ip: rr.ip } })),
  ];
}

/** Nodes hold the gateway IP on every VM interface, so neither an RR nor the core may use it. */
function checkRouteReflectorIp(ip: string, gateway: GatewaySettings, coreRouter: CoreRouterRef): void {
  if (sameIp(ip, gateway.ip)) throw invalid('ip-is-gateway', `route reflector address ${ip} is the VM gateway address, which every node holds locally`);
  if (sameIp(ip, coreRouter.ip)) throw invalid('ip-is-core-router', `route reflector address ${ip} is the core router's address`);
}

function requireCluster(state: ClusterState, clusterId: string): ActiveCluster {
  if (state.status === 'absent') throw notFound('cluster', clusterId);
  return state;
}

function addRouteReflector(cmd: AddRouteReflectorCommand, state: ClusterState): ClusterEvent[] {
  const c = requireCluster(state, cmd.data.clusterId);
  if (c.topology === 'direct') {
    throw conflict('direct-topology', `cluster ${c.name} peers its nodes with the core directly (topology direct): it takes no route reflector`);
  }
  const ip = requireUnicastIp(cmd.data.ip, 'ip');
  checkRouteReflectorIp(ip, c.gateway, c.coreRouter);
  if (c.routeReflectors.some((r) => sameName(r.name, cmd.data.name))) {
    throw conflict('route-reflector-name-taken', `cluster already has a route reflector named ${cmd.data.name}`);
  }
  if (c.routeReflectors.some((r) => sameIp(r.ip, ip))) throw conflict('route-reflector-ip-taken', `cluster already has a route reflector at ${ip}`);
  if (cmd.context?.ipTakenByNode) throw conflict('ip-taken-by-node', `${ip} is the underlay address of a node of this cluster`);
  if (cmd.context?.ipInPool) throw conflict('ip-in-pool', `${ip} is inside the cluster's VM address pool ${cmd.context.ipInPool}: IPAM could give it to a VM`);
  if (c.routeReflectors.length >= MAX_ROUTE_REFLECTORS) {
    throw conflict('too-many-route-reflectors', `cluster already has ${MAX_ROUTE_REFLECTORS} route reflectors`);
  }
  return [{ type: 'RouteReflectorAdded', data: { clusterId: c.clusterId, name: cmd.data.name, ip } }];
}

function removeRouteReflector(cmd: RemoveRouteReflectorCommand, state: ClusterState): ClusterEvent[] {
  const c = requireCluster(state, cmd.data.clusterId);
  const rr = c.routeReflectors.find((r) => sameName(r.name, cmd.data.name));
  if (!rr) throw notFound('route-reflector', String(cmd.data.name));
  return [{ type: 'RouteReflectorRemoved', data: { clusterId: c.clusterId, name: rr.name } }];
}

function changeBgpPassword(cmd: ChangeBgpPasswordCommand, state: ClusterState): ClusterEvent[] {
  const c = requireCluster(state, cmd.data.clusterId);
  if (c.bgp.md5Password === cmd.data.md5Password) return [];
  return [{ type: 'BgpPasswordChanged', data: { clusterId: c.clusterId, md5Password: cmd.data.md5Password } }];
}

const SETTING_KEYS = ['gracefulRestart', 'bfd', 'prefixLimitAction', 'coreCommunity', ...BGP_TIMER_KEYS, 'bmpStation'] as const;

/** A BMP station from a command (null: unset), canonical; its problems go into `fields`. */
function bmpStationOf(v: unknown, fields: Record<string, string[]>): BmpStationRef | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v !== 'object') {
    fields.bmpStation = ['must be {address, port} or null'];
    return undefined;
  }
  const { address, port } = v as Record<string, unknown>;
  if (!isValidIp(address)) fields['bmpStation.address'] = ['must be a valid IP address'];
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) fields['bmpStation.port'] = ['must be an integer 1-65535'];
  return isValidIp(address) ? { address: canonical(address as string), port: port as number } : undefined;
}

function changeBgpSettings(cmd: ChangeBgpSettingsCommand, state: ClusterState): ClusterEvent[] {
  const c = requireCluster(state, cmd.data.clusterId);
  const p = cmd.data.settings ?? {};
  const { md5Password: _secret, ...current } = c.bgp;
  const next: BgpOptions = { ...current };
  const nextRecord = next as unknown as Record<string, unknown>;
  for (const k of SETTING_KEYS) {
    const v = (p as Record<string, unknown>)[k];
    if (v === null) delete nextRecord[k];
    else if (v !== undefined) nextRecord[k] = v;
  }
  // gracefulRestart, bfd, prefixLimitAction and coreCommunity cannot be unset (null keeps them).
  next.gracefulRestart ??= c.bgp.gracefulRestart;
  next.bfd ??= c.bgp.bfd;
  if (c.bgp.prefixLimitAction !== undefined) next.prefixLimitAction ??= c.bgp.prefixLimitAction;
  if (c.bgp.coreCommunity !== undefined) next.coreCommunity ??= c.bgp.coreCommunity;
  const fields = bgpTimerProblems(next, c.coreRouter.vendor !== 'junos');
  if (p.bmpStation !== undefined) {
    const st = bmpStationOf(p.bmpStation, fields);
    if (st) next.bmpStation = st;
    else delete next.bmpStation;
  }
  const community = p.community ?? c.community;
  if (community === (c.blackholeCommunity ?? DEFAULT_BLACKHOLE_COMMUNITY)) {
    fields.community = ['must differ from the cluster blackhole community'];
  }
  if (Object.keys(fields).length) {
    const first = Object.entries(fields)[0];
    throw invalid('invalid-bgp-settings', `${first[0]} ${first[1][0]}`, fields);
  }
  const changed = SETTING_KEYS.filter((k) => JSON.stringify(current[k]) !== JSON.stringify(next[k])) as string[];
  if (community !== c.community) changed.unshift('community');
  // A new password on a cluster that ran without MD5 ends the opt-out.
  if (cmd.data.md5Password !== undefined && next.md5OptOut !== undefined) {
    delete next.md5OptOut;
    changed.push('md5OptOut');
  }
  const events: ClusterEvent[] = [];
  if (changed.length) events.push({ type: 'ClusterBgpSettingsChanged', data: { clusterId: c.clusterId, community, bgp: next, changed } });
  if (cmd.data.md5Password !== undefined && cmd.data.md5Password !== c.bgp.md5Password) {
    events.push({ type: 'BgpPasswordChanged', data: { clusterId: c.clusterId, md5Password: cmd.data.md5Password } });
  }
  return events;
}

/** Only an earlier version can become desired again; the versions are router-config's, numbered from 1. */
function rollbackRouterConfig(cmd: RollbackRouterConfigCommand, state: ClusterState): ClusterEvent[] {
  const c = requireCluster(state, cmd.data.clusterId);
  const { toVersion, reason } = cmd.data;
  const current = cmd.context.currentVersion;
  if (!Number.isInteger(toVersion) || toVersion < 1) throw invalid('invalid-version', 'toVersion must be a positive integer', { toVersion: ['must be >= 1'] });
  if (current === 0) throw conflict('router-config-none', `cluster ${c.clusterId} has no core router config yet`);
  if (toVersion > current) throw notFound('router-config-version', String(toVersion));
  if (toVersion === current) throw conflict('router-config-current', `version ${toVersion} is the current core router config`);
  return [
    { type: 'RouterConfigRollbackRequested', data: { clusterId: c.clusterId, toVersion, fromVersion: current, ...(reason !== undefined ? { reason } : {}) } },
  ];
}

export const clusterDecider: Decider<ClusterCommand, ClusterState, ClusterEvent> = {
  initialState: () => ({ status: 'absent' }),
  decide(command, state) {
    switch (command.type) {
      case 'CreateCluster':
        return createCluster(command, state);
      case 'AddRouteReflector':
        return addRouteReflector(command, state);
      case 'RemoveRouteReflector':
        return removeRouteReflector(command, state);
      case 'ChangeBgpPassword':
        return changeBgpPassword(command, state);
      case 'ChangeBgpSettings':
        return changeBgpSettings(command, state);
      case 'RollbackRouterConfig':
        return rollbackRouterConfig(command, state);
      default:
        throw invalid('unknown-command', `unknown cluster command ${String((command as { type?: unknown }).type)}`);
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'ClusterCreated': {
        const { clusterId, name, fabricAsn, coreAsn, community, gateway, coreRouter, rrClusterId, bgp, blackholeCommunity, topology } = event.data;
        return {
          status: 'active',
          clusterId,
          name,
          fabricAsn,
          coreAsn,
          community,
          gateway,
          coreRouter,
          rrClusterId,
          bgp,
          routeReflectors: [],
          ...(blackholeCommunity !== undefined ? { blackholeCommunity } : {}),
          ...(topology === 'direct' ? { topology } : {}),
        };
      }
      case 'RouteReflectorAdded':
        if (state.status === 'absent') return state;
        return { ...state, routeReflectors: [...state.routeReflectors, { name: event.data.name, ip: event.data.ip }] };
      case 'RouteReflectorRemoved':
        if (state.status === 'absent') return state;
        return { ...state, routeReflectors: state.routeReflectors.filter((r) => !sameName(r.name, event.data.name)) };
      case 'BgpPasswordChanged':
        if (state.status === 'absent') return state;
        return { ...state, bgp: { ...state.bgp, md5Password: event.data.md5Password } };
      case 'ClusterBgpSettingsChanged': {
        if (state.status === 'absent') return state;
        const md5 = state.bgp.md5Password;
        return { ...state, community: event.data.community, bgp: { ...event.data.bgp, ...(md5 !== undefined ? { md5Password: md5 } : {}) } };
      }
      default:
        return state;
    }
  },
};
