/**
 * Node data plane (docs/architecture.md): one host-side interface per VM carrying the cluster gateway IP and MAC,
 * and a `<vm-ip>/32|128 dev <if> proto <n>` route that BIRD's kernel protocol learns and announces.
 * The driver owns only interfaces named `<ifPrefix>…` and routes of its protocol number.
 *
 * IPv6: every VM interface also gets `fe80::1/64` (nodad), the VM uses `default via fe80::1 dev eth0`.
 * A fixed link-local gateway is the same on every interface (like the IPv4 gateway) and independent of the MAC.
 */
import { canonicalIp, isIp, isMac, isName } from '@fabric/contracts';
import { ipArgs, ipJson, run, runInNetns, assertNamespace } from './exec';

export type VmDriverKind = 'tap' | 'veth' | 'netns';

export interface DesiredVm {
  ifName: string;
  ip: string;
  family: 4 | 6;
  driver: VmDriverKind;
  /** netns driver only: the VM's namespace (created and deleted by this driver). */
  vmNamespace?: string;
  /** Route metric (make-before-break: a VM migrating away is kept at a high metric). Default: the kernel's. */
  metric?: number;
}

export interface NodeDesiredState {
  /** Node namespace in the lab; undefined = the current namespace. */
  namespace?: string;
  protocolNumber: number;
  ifPrefix: string;
  gateway: { ip: string; mac: string };
  vms: DesiredVm[];
}

export interface ActualInterface {
  ifName: string;
  mac: string;
  up: boolean;
  kind?: string;
  addresses: string[]; // "ip/len"
  /** Peer namespace name for veths whose peer lives in a named namespace. */
  peerNamespace?: string;
}

export interface ActualRoute {
  dst: string; // canonical "ip/len"
  dev?: string;
  family: 4 | 6;
  metric: number;
}

// The kernel's default metrics: a route is identified by (dst, metric), so compare with these filled in.
const defaultMetric = (family: 4 | 6) => (family === 4 ? 0 : 1024);
const routeKey = (dst: string, metric: number) => `${dst}|${metric}`;

export interface NodeActualState {
  interfaces: ActualInterface[]; // only ours (ifPrefix)
  routes: ActualRoute[]; // only ours (protocolNumber)
  forwarding: { ipv4: boolean; ipv6: boolean };
  namespaces: string[]; // named namespaces visible on this machine
}

export interface ReconcileResult {
  changes: number;
  operations: string[];
  /** tap/veth interfaces that libvirt/LXD has not created (yet): not an error, retried next time. */
  missing: string[];
}

export const IPV6_GATEWAY = 'fe80::1';
const VM_IF = 'eth0';

interface IpAddrJson {
  ifname: string;
  address?: string;
  flags?: string[];
  link_netnsid?: number;
  linkinfo?: { info_kind?: string };
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

interface IpRouteJson {
  dst: string;
  dev?: string;
  metric?: number;
}

export function validateDesired(d: NodeDesiredState): void {
  if (d.namespace !== undefined) assertNamespace(d.namespace);
  if (!Number.isInteger(d.protocolNumber) || d.protocolNumber < 1 || d.protocolNumber > 255 || [1, 2, 3, 4].includes(d.protocolNumber)) {
    throw new Error(`invalid route protocol number: ${d.protocolNumber}`);
  }
  if (!/^[a-z][a-z0-9]{0,7}$/.test(d.ifPrefix)) throw new Error(`invalid interface prefix: ${JSON.stringify(d.ifPrefix)}`);
  if (!isIp(d.gateway.ip, 4)) throw new Error(`invalid gateway ip: ${JSON.stringify(d.gateway.ip)}`);
  if (!isMac(d.gateway.mac)) throw new Error(`invalid gateway mac: ${JSON.stringify(d.gateway.mac)}`);
  const names = new Set<string>();
  const ips = new Set<string>();
  for (const vm of d.vms) {
    if (!isName(vm.ifName) || vm.ifName.length > 15 || !vm.ifName.startsWith(d.ifPrefix) || vm.ifName === VM_IF) {
      throw new Error(`invalid VM interface name: ${JSON.stringify(vm.ifName)} (≤15 chars, prefix ${d.ifPrefix})`);
    }
    if (vm.family !== 4 && vm.family !== 6) throw new Error(`invalid family for ${vm.ifName}`);
    if (!isIp(vm.ip, vm.family)) throw new Error(`invalid IPv${vm.family} address for ${vm.ifName}: ${JSON.stringify(vm.ip)}`);
    if (!['tap', 'veth', 'netns'].includes(vm.driver)) throw new Error(`invalid driver for ${vm.ifName}`);
    if (vm.metric !== undefined && (!Number.isInteger(vm.metric) || vm.metric < 0 || vm.metric > 0xffffffff)) throw new Error(`invalid route metric for ${vm.ifName}`);
    if (vm.driver === 'netns') {
      if (!vm.vmNamespace || !isName(vm.vmNamespace)) throw new Error(`netns driver needs a valid vmNamespace for ${vm.ifName}`);
      if (vm.vmNamespace === d.namespace) throw new Error(`vmNamespace equals the node namespace for ${vm.ifName}`);
    }
    if (names.has(vm.ifName)) throw new Error(`duplicate interface ${vm.ifName}`);
    const ip = canonicalIp(vm.ip);
    if (ips.has(ip)) throw new Error(`duplicate VM address ${ip}`);
    names.add(vm.ifName);
    ips.add(ip);
  }
}

const hostLen = (family: 4 | 6) => (family === 4 ? 32 : 128);

function canonicalDst(dst: string, family: 4 | 6): string {
  const [addr, len] = dst.split('/');
  return `${canonicalIp(addr)}/${len ?? hostLen(family)}`;
}

export class NetlinkDriver {
  constructor(private readonly opts: { namespace?: string; protocolNumber: number; ifPrefix: string }) {
    if (opts.namespace !== undefined) assertNamespace(opts.namespace);
  }

  async readActual(): Promise<NodeActualState> {
    const ns = this.opts.namespace;
    const [addrs, r4, r6, nsList, fwd] = await Promise.all([
      ipJson<IpAddrJson[]>(ns, '-d', 'addr', 'show'),
      ipJson<IpRouteJson[]>(ns, '-4', 'route', 'show', 'proto', String(this.opts.protocolNumber)),
      ipJson<IpRouteJson[]>(ns, '-6', 'route', 'show', 'proto', String(this.opts.protocolNumber)),
      ipJson<{ name: string; id?: number }[]>(ns, 'netns', 'list'),
      readForwarding(ns),
    ]);
    const byId = new Map<number, string>();
    for (const n of nsList) if (n.id !== undefined) byId.set(n.id, n.name);
    const interfaces = addrs
      .filter((l) => l.ifname.startsWith(this.opts.ifPrefix))
      .map<ActualInterface>((l) => ({
        ifName: l.ifname,
        mac: (l.address ?? '').toLowerCase(),
        up: (l.flags ?? []).includes('UP'),
        kind: l.linkinfo?.info_kind,
        addresses: (l.addr_info ?? []).map((a) => `${canonicalIp(a.local)}/${a.prefixlen}`),
        peerNamespace: l.link_netnsid !== undefined ? byId.get(l.link_netnsid) : undefined,
      }));
    const routes: ActualRoute[] = [
      ...r4.map((r) => ({ dst: canonicalDst(r.dst, 4), dev: r.dev, family: 4 as const, metric: r.metric ?? defaultMetric(4) })),
      ...r6.map((r) => ({ dst: canonicalDst(r.dst, 6), dev: r.dev, family: 6 as const, metric: r.metric ?? defaultMetric(6) })),
    ];
    return { interfaces, routes, forwarding: fwd, namespaces: nsList.map((n) => n.name) };
  }

  /** Converge actual → desired. Node-side changes go through one `ip -batch -`. */
  async reconcile(desired: NodeDesiredState): Promise<ReconcileResult> {
    validateDesired(desired);
    if (desired.namespace !== this.opts.namespace || desired.protocolNumber !== this.opts.protocolNumber || desired.ifPrefix !== this.opts.ifPrefix) {
      throw new Error('desired state does not match this driver (namespace/protocolNumber/ifPrefix)');
    }
    const ns = this.opts.namespace;
    const proto = String(desired.protocolNumber);
    const mac = desired.gateway.mac.toLowerCase();
    const gw4 = `${canonicalIp(desired.gateway.ip)}/32`;
    const gw6 = `${IPV6_GATEWAY}/64`;
    const actual = await this.readActual();
    const ifs = new Map(actual.interfaces.map((i) => [i.ifName, i]));
    const routes = new Map(actual.routes.map((r) => [routeKey(r.dst, r.metric), r]));

    const operations: string[] = [];
    const preOps: string[][] = []; // `ip netns add` before the batch (netns driver)
    const batch: string[] = [];
    const missing: string[] = [];
    const vmSides: DesiredVm[] = [];
    const namespacesToDelete: string[] = [];

    if (!actual.forwarding.ipv4 || !actual.forwarding.ipv6) operations.push('sysctl net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1');

    const wanted = new Set(desired.vms.map((v) => v.ifName));
    const wantedRoutes = new Set<string>();
    for (const vm of desired.vms) {
      const dst = `${canonicalIp(vm.ip)}/${hostLen(vm.family)}`;
      const metric = vm.metric ?? defaultMetric(vm.family);
      wantedRoutes.add(routeKey(dst, metric));
      let cur = ifs.get(vm.ifName);
      if (!cur) {
        if (vm.driver !== 'netns') {
          missing.push(vm.ifName);
          continue;
        }
        if (!actual.namespaces.includes(vm.vmNamespace!)) preOps.push(['netns', 'add', vm.vmNamespace!]);
        batch.push(`link add ${vm.ifName} type veth peer name ${VM_IF} netns ${vm.vmNamespace}`);
        cur = { ifName: vm.ifName, mac: '', up: false, addresses: [] };
      }
      if (cur.mac !== mac) batch.push(`link set dev ${vm.ifName} address ${mac}`);
      if (!cur.addresses.includes(gw4)) batch.push(`address add ${gw4} dev ${vm.ifName}`);
      if (vm.family === 6 && !cur.addresses.includes(gw6)) batch.push(`address add ${gw6} dev ${vm.ifName} nodad`);
      if (!cur.up) batch.push(`link set dev ${vm.ifName} up`);
      const r = routes.get(routeKey(dst, metric));
      if (!r || r.dev !== vm.ifName) {
        // Added before the orphan deletions below: a route changing metric is never absent.
        batch.push(`route replace ${dst} dev ${vm.ifName}${vm.family === 4 ? ' scope link' : ''} proto ${proto} metric ${metric}`);
      }
      if (vm.driver === 'netns') vmSides.push(vm);
    }
    // Orphans: only our protocol's routes and our prefix's interfaces.
    for (const r of actual.routes) {
      if (!wantedRoutes.has(routeKey(r.dst, r.metric))) batch.push(`route del ${r.dst}${r.dev ? ` dev ${r.dev}` : ''} proto ${proto} metric ${r.metric}`);
    }
    for (const i of actual.interfaces) {
      if (wanted.has(i.ifName)) continue;
      // Only veths with their peer in a VM namespace were made by us (netns driver). A tap (libvirt) or a
      // veth (LXD) belongs to the hypervisor: it may exist before its VM is placed here, so we only take
      // back the gateway addresses we put on it.
      if (!(i.kind === 'veth' && i.peerNamespace)) {
        for (const a of i.addresses) if (a === gw4 || a === gw6) batch.push(`address del ${a} dev ${i.ifName}`);
        continue;
      }
      batch.push(`link del dev ${i.ifName}`);
      // A lab VM namespace goes with its veth, but only if nothing we want still uses it.
      if (i.kind === 'veth' && i.peerNamespace && isName(i.peerNamespace) && !desired.vms.some((v) => v.vmNamespace === i.peerNamespace)) {
        namespacesToDelete.push(i.peerNamespace);
      }
    }

    if (operations.length) {
      await runInNetns(ns, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    }
    for (const args of preOps) {
      await run('ip', args);
      operations.push(`ip ${args.join(' ')}`);
    }
    if (batch.length) {
      // No -force: stop at the first error; the next reconcile continues from the actual state.
      await run('ip', ipArgs(ns, '-batch', '-'), { input: batch.join('\n') + '\n' });
      operations.push(...batch);
    }
    for (const vm of vmSides) operations.push(...(await this.reconcileVmSide(vm, desired.gateway.ip)));
    for (const n of namespacesToDelete) {
      await run('ip', ['netns', 'del', n], { allowFailure: true });
      operations.push(`ip netns del ${n}`);
    }
    return { changes: operations.length, operations, missing };
  }

  /** netns driver: configure eth0 inside the VM namespace (one batch for that namespace). */
  private async reconcileVmSide(vm: DesiredVm, gatewayIp: string): Promise<string[]> {
    const vns = vm.vmNamespace!;
    const [links, routes] = await Promise.all([
      ipJson<IpAddrJson[]>(vns, 'addr', 'show'),
      ipJson<(IpRouteJson & { gateway?: string })[]>(vns, vm.family === 4 ? '-4' : '-6', 'route', 'show'),
    ]);
    const lo = links.find((l) => l.ifname === 'lo');
    const eth = links.find((l) => l.ifname === VM_IF);
    if (!eth) throw new Error(`VM namespace ${vns} has no ${VM_IF}`);
    const has = (a: string) => (eth.addr_info ?? []).some((x) => `${canonicalIp(x.local)}/${x.prefixlen}` === a);
    const ops: string[] = [];
    if (lo && !(lo.flags ?? []).includes('UP')) ops.push('link set dev lo up');
    if (!(eth.flags ?? []).includes('UP')) ops.push(`link set dev ${VM_IF} up`);
    const gw = vm.family === 4 ? canonicalIp(gatewayIp) : IPV6_GATEWAY;
    if (vm.family === 4) {
      const a = `${canonicalIp(vm.ip)}/32`;
      if (!has(a)) ops.push(`address add ${a} dev ${VM_IF}`);
      if (!routes.some((r) => r.dst === gw && r.dev === VM_IF)) ops.push(`route replace ${gw} dev ${VM_IF} scope link`);
    } else {
      const a = `${canonicalIp(vm.ip)}/128`;
      if (!has(a)) ops.push(`address add ${a} dev ${VM_IF} nodad`);
    }
    if (!routes.some((r) => r.dst === 'default' && r.gateway === gw && r.dev === VM_IF)) ops.push(`route replace default via ${gw} dev ${VM_IF}`);
    if (ops.length) await run('ip', ipArgs(vns, '-batch', '-'), { input: ops.join('\n') + '\n' });
    return ops.map((o) => `[${vns}] ${o}`);
  }
}

async function readForwarding(ns: string | undefined): Promise<{ ipv4: boolean; ipv6: boolean }> {
  const { stdout } = await runInNetns(ns, 'sysctl', ['-n', 'net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']);
  const [v4, v6] = stdout.trim().split(/\s+/);
  return { ipv4: v4 === '1', ipv6: v6 === '1' };
}
