/**
 * The node data plane's pure part (no I/O): the desired VMs, validated and parsed once per record and kept across
 * reconciles (DesiredIndex), and the plan that turns the driver's picture of the node plus the VMs to look at into
 * `ip` batch lines (planNode). NetlinkDriver (netlink.ts) reads and writes the node around them.
 */
import { canonicalIp, isIp, isName } from '@fabric/contracts';

export type VmDriverKind = 'tap' | 'veth' | 'netns';

export interface DesiredVm {
  ifName: string;
  ip: string;
  family: 4 | 6;
  driver: VmDriverKind;
  /** The VM's extra addresses (either family): each gets its own host route on the interface, like `ip`. */
  extraIps?: string[];
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

/** What the driver believes is on the node: a full dump, kept current by targeted re-reads of what changed. */
export interface NodeModel {
  ifs: Map<string, ActualInterface>;
  /** dst → our protocol's routes to it (a route is identified by dst and metric). */
  routes: Map<string, ActualRoute[]>;
  namespaces: Set<string>;
  forwarding: { ipv4: boolean; ipv6: boolean };
}

export const IPV6_GATEWAY = 'fe80::1';
export const VM_IF = 'eth0';

// The kernel's default metrics: a route is identified by (dst, metric), so compare with these filled in.
export const defaultMetric = (family: 4 | 6) => (family === 4 ? 0 : 1024);
export const hostLen = (family: 4 | 6) => (family === 4 ? 32 : 128);

/** A desired VM as validated, with what the plan needs derived from it (parsed once per record). */
export interface PreparedVm {
  readonly ifName: string;
  /** The address exactly as desired (compared to spot a changed record); `dst` holds the canonical form. */
  readonly ip: string;
  readonly family: 4 | 6;
  readonly driver: VmDriverKind;
  readonly vmNamespace?: string;
  readonly metric?: number;
  /** Canonical `ip/32` or `ip/128`. */
  readonly dst: string;
  /** The extra addresses as desired (compared to spot a changed record). */
  readonly extraIps?: readonly string[];
  /** Their canonical routes with their families, in the order given. */
  readonly extras: readonly { dst: string; family: 4 | 6 }[];
  /** `metric`, or the kernel's default for the family. */
  readonly routeMetric: number;
}

/** The same record field by field (no key string: a crafted name cannot collide with another record). */
function sameRecord(p: PreparedVm, vm: DesiredVm): boolean {
  return (
    p.ip === vm.ip &&
    p.family === vm.family &&
    p.driver === vm.driver &&
    p.vmNamespace === vm.vmNamespace &&
    p.metric === vm.metric &&
    sameList(p.extraIps, vm.extraIps)
  );
}

function sameList(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** Every route of a prepared VM: its address's, then its extra addresses'. */
export function dstsOf(v: PreparedVm): string[] {
  return v.extras.length ? [v.dst, ...v.extras.map((e) => e.dst)] : [v.dst];
}

/** Validates one desired VM (the node namespace and interface prefix are the driver's) and derives its route. */
export function prepareVm(vm: DesiredVm, scope: { namespace?: string; ifPrefix: string }): PreparedVm {
  if (!isName(vm.ifName) || vm.ifName.length > 15 || !vm.ifName.startsWith(scope.ifPrefix) || vm.ifName === VM_IF) {
    throw new Error(`invalid VM interface name: ${JSON.stringify(vm.ifName)} (≤15 chars, prefix ${scope.ifPrefix})`);
  }
  if (vm.family !== 4 && vm.family !== 6) throw new Error(`invalid family for ${vm.ifName}`);
  if (!isIp(vm.ip, vm.family)) throw new Error(`invalid IPv${vm.family} address for ${vm.ifName}: ${JSON.stringify(vm.ip)}`);
  if (!['tap', 'veth', 'netns'].includes(vm.driver)) throw new Error(`invalid driver for ${vm.ifName}`);
  if (vm.metric !== undefined && (!Number.isInteger(vm.metric) || vm.metric < 0 || vm.metric > 0xffffffff))
    throw new Error(`invalid route metric for ${vm.ifName}`);
  const extras: { dst: string; family: 4 | 6 }[] = [];
  if (vm.extraIps !== undefined) {
    if (!Array.isArray(vm.extraIps) || vm.extraIps.length > 64) throw new Error(`invalid extra addresses for ${vm.ifName}`);
    for (const x of vm.extraIps) {
      if (!isIp(x)) throw new Error(`invalid extra address for ${vm.ifName}: ${JSON.stringify(x)}`);
      const family: 4 | 6 = isIp(x, 4) ? 4 : 6;
      const dst = `${canonicalIp(x)}/${hostLen(family)}`;
      if (dst === `${canonicalIp(vm.ip)}/${hostLen(vm.family)}` || extras.some((e) => e.dst === dst))
        throw new Error(`duplicate address ${x} for ${vm.ifName}`);
      extras.push({ dst, family });
    }
  }
  if (vm.driver === 'netns') {
    if (!vm.vmNamespace || !isName(vm.vmNamespace)) throw new Error(`netns driver needs a valid vmNamespace for ${vm.ifName}`);
    if (vm.vmNamespace === scope.namespace) throw new Error(`vmNamespace equals the node namespace for ${vm.ifName}`);
  }
  return {
    ifName: vm.ifName,
    ip: vm.ip,
    family: vm.family,
    driver: vm.driver,
    ...(vm.vmNamespace !== undefined ? { vmNamespace: vm.vmNamespace } : {}),
    ...(vm.metric !== undefined ? { metric: vm.metric } : {}),
    dst: `${canonicalIp(vm.ip)}/${hostLen(vm.family)}`,
    ...(vm.extraIps?.length ? { extraIps: [...vm.extraIps] } : {}),
    extras,
    routeMetric: vm.metric ?? defaultMetric(vm.family),
  };
}

export interface DesiredDelta {
  /** VMs that are new or whose record differs from the previous list (validated and parsed by this update). */
  changed: PreparedVm[];
  /** The previous records of VMs removed or changed. */
  gone: PreparedVm[];
  /** The list is the previous one (order aside). */
  unchanged: boolean;
}

/**
 * The desired VMs of the last accepted list. `update` validates only the records it has not seen (an unchanged
 * VM costs a map lookup and five comparisons, no address parse) and tells what changed; a list with an invalid
 * or duplicate VM throws and leaves the index as it was.
 */
export class DesiredIndex {
  private byIf = new Map<string, PreparedVm>();
  private byDst = new Map<string, PreparedVm>();

  constructor(private readonly scope: { namespace?: string; ifPrefix: string }) {}

  get size(): number {
    return this.byIf.size;
  }

  vms(): IterableIterator<PreparedVm> {
    return this.byIf.values();
  }

  get(ifName: string): PreparedVm | undefined {
    return this.byIf.get(ifName);
  }

  /** The desired VM whose route is `dst`. */
  owner(dst: string): PreparedVm | undefined {
    return this.byDst.get(dst);
  }

  /** Whether a desired VM lives in this namespace (lab netns driver; a scan: only for an orphan veth). */
  usesNamespace(ns: string): boolean {
    for (const v of this.byIf.values()) if (v.vmNamespace === ns) return true;
    return false;
  }

  update(vms: readonly DesiredVm[]): DesiredDelta {
    const next = new Map<string, PreparedVm>();
    const changed: PreparedVm[] = [];
    let kept = 0; // previous interface names still desired
    for (const vm of vms) {
      if (next.has(vm.ifName)) throw new Error(`duplicate interface ${vm.ifName}`);
      const prev = this.byIf.get(vm.ifName);
      if (prev) kept++;
      let p = prev;
      if (!p || !sameRecord(p, vm)) {
        p = prepareVm(vm, this.scope);
        changed.push(p);
      }
      next.set(p.ifName, p);
    }
    const gone: PreparedVm[] = [];
    for (const p of changed) {
      const prev = this.byIf.get(p.ifName);
      if (prev) gone.push(prev);
    }
    if (kept !== this.byIf.size) for (const [n, prev] of this.byIf) if (!next.has(n)) gone.push(prev);
    // Addresses: the unchanged VMs' were unique already; a changed one must not take one still held.
    const taken = new Set<string>();
    for (const p of changed) {
      for (const dst of dstsOf(p)) {
        const holder = this.byDst.get(dst);
        if (taken.has(dst) || (holder && holder.ifName !== p.ifName && next.get(holder.ifName) === holder)) {
          throw new Error(`duplicate VM address ${dst.split('/')[0]}`);
        }
        taken.add(dst);
      }
    }
    for (const g of gone) for (const dst of dstsOf(g)) if (this.byDst.get(dst) === g) this.byDst.delete(dst);
    for (const p of changed) for (const dst of dstsOf(p)) this.byDst.set(dst, p);
    this.byIf = next;
    return { changed, gone, unchanged: changed.length === 0 && gone.length === 0 };
  }
}

export interface PlanInput {
  model: NodeModel;
  desired: DesiredIndex;
  protocolNumber: number;
  /** Canonical `<gateway ip>/32` and the lower-case gateway MAC. */
  gateway: { ip4: string; mac: string };
  /** The VMs to converge: all of them, or those changed or touched since the last reconcile. */
  vms: Iterable<PreparedVm>;
  /** Where to look for what is no longer desired: every route/interface of the model, or those re-read. */
  orphanDsts: Iterable<string>;
  orphanIfs: Iterable<string>;
}

export interface Plan {
  /** ip batch lines, the VMs' writes before the orphan deletions (a route changing metric is never absent). */
  batch: string[][];
  /** tap/veth interfaces the hypervisor has not created (yet). */
  missing: string[];
  /** Lab: VM namespaces to add, VM namespaces whose veth is (re)created, netns VMs whose inside to check. */
  nsAdds: string[];
  newVeths: string[];
  vmSides: PreparedVm[];
  namespacesToDelete: string[];
  /** Written or found missing: re-read at the next reconcile. */
  staleIfs: string[];
  staleDsts: string[];
}

/** The writes that take the model to the desired state for the VMs, routes and interfaces given. */
export function planNode(input: PlanInput): Plan {
  const { model: m, desired, gateway } = input;
  const proto = String(input.protocolNumber);
  const mac = gateway.mac;
  const gw4 = gateway.ip4;
  const gw6 = `${IPV6_GATEWAY}/64`;
  const plan: Plan = { batch: [], missing: [], nsAdds: [], newVeths: [], vmSides: [], namespacesToDelete: [], staleIfs: [], staleDsts: [] };
  const { batch } = plan;

  for (const vm of input.vms) {
    const dst = vm.dst;
    let cur = m.ifs.get(vm.ifName);
    if (!cur) {
      if (vm.driver !== 'netns') {
        plan.missing.push(vm.ifName);
        plan.staleIfs.push(vm.ifName); // libvirt/LXD may create it any time: look again next reconcile
        plan.staleDsts.push(dst);
        continue;
      }
      if (!m.namespaces.has(vm.vmNamespace!)) plan.nsAdds.push(vm.vmNamespace!);
      batch.push(['link', 'add', vm.ifName, 'type', 'veth', 'peer', 'name', VM_IF, 'netns', vm.vmNamespace!]);
      plan.newVeths.push(vm.vmNamespace!);
      cur = { ifName: vm.ifName, mac: '', up: false, addresses: [] };
    }
    const before = batch.length;
    // MAC and up in one netlink message; the addresses after it (an IPv6 address needs the link up).
    const link = [...(cur.mac !== mac ? ['address', mac] : []), ...(!cur.up ? ['up'] : [])];
    if (link.length) batch.push(['link', 'set', 'dev', vm.ifName, ...link]);
    if (!cur.addresses.includes(gw4)) batch.push(['address', 'add', gw4, 'dev', vm.ifName]);
    const v6 = vm.family === 6 || vm.extras.some((e) => e.family === 6);
    if (v6 && !cur.addresses.includes(gw6)) batch.push(['address', 'add', gw6, 'dev', vm.ifName, 'nodad']);
    for (const { dst: d, family } of [{ dst, family: vm.family }, ...vm.extras]) {
      // The kernel's default metric differs per family: an extra address of the other family takes its own.
      const metric = vm.metric ?? defaultMetric(family);
      const r = m.routes.get(d)?.find((x) => x.metric === metric);
      if (!r || r.dev !== vm.ifName) {
        batch.push(['route', 'replace', d, 'dev', vm.ifName, ...(family === 4 ? ['scope', 'link'] : []), 'proto', proto, 'metric', String(metric)]);
        plan.staleDsts.push(d);
      }
    }
    if (batch.length > before) plan.staleIfs.push(vm.ifName);
    if (vm.driver === 'netns') plan.vmSides.push(vm);
  }
  // Orphans: only our protocol's routes and our prefix's interfaces.
  for (const dst of input.orphanDsts) {
    const owner = desired.owner(dst);
    for (const r of m.routes.get(dst) ?? []) {
      if (owner && (owner.metric ?? defaultMetric(r.family)) === r.metric) continue;
      batch.push(['route', 'del', r.dst, ...(r.dev ? ['dev', r.dev] : []), 'proto', proto, 'metric', String(r.metric)]);
      plan.staleDsts.push(r.dst);
    }
  }
  for (const n of input.orphanIfs) {
    const i = m.ifs.get(n);
    if (!i || desired.get(n)) continue;
    // Only veths with their peer in a VM namespace were made by us (netns driver). A tap (libvirt) or a
    // veth (LXD) belongs to the hypervisor: it may exist before its VM is placed here, so we only take
    // back the gateway addresses we put on it.
    if (!(i.kind === 'veth' && i.peerNamespace)) {
      for (const a of i.addresses) {
        if (a === gw4 || a === gw6) {
          batch.push(['address', 'del', a, 'dev', i.ifName]);
          plan.staleIfs.push(i.ifName);
        }
      }
      continue;
    }
    batch.push(['link', 'del', 'dev', i.ifName]);
    plan.staleIfs.push(i.ifName);
    // A lab VM namespace goes with its veth, but only if nothing we want still uses it.
    if (isName(i.peerNamespace) && !desired.usesNamespace(i.peerNamespace)) plan.namespacesToDelete.push(i.peerNamespace);
  }
  return plan;
}
