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
import { describeFailures, IpBatch, IpBatchError, type IpCommand, type IpLineResult, ipLine } from './ip-batch';

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
    if (vm.metric !== undefined && (!Number.isInteger(vm.metric) || vm.metric < 0 || vm.metric > 0xffffffff))
      throw new Error(`invalid route metric for ${vm.ifName}`);
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

const vmDst = (vm: DesiredVm) => `${canonicalIp(vm.ip)}/${hostLen(vm.family)}`;
const vmSig = (vm: DesiredVm) => `${vm.ifName}|${canonicalIp(vm.ip)}|${vm.family}|${vm.driver}|${vm.vmNamespace ?? ''}|${vm.metric ?? ''}`;

/** What the driver believes is on the node: a full dump, kept current by targeted re-reads of what changed. */
interface Model {
  ifs: Map<string, ActualInterface>;
  routes: Map<string, ActualRoute>; // routeKey → route
  namespaces: Set<string>;
  forwarding: { ipv4: boolean; ipv6: boolean };
}

export interface ReconcileOptions {
  /** Read everything (drift repair) instead of only what changed since the previous reconcile. */
  full?: boolean;
}

/** Bounded parallelism for the lab's per-VM-namespace work. */
async function eachLimit<T>(items: T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (i < items.length) await fn(items[i++]);
    }),
  );
}

export class NetlinkDriver {
  /** All writes and IPv4/link/address reads of the node namespace. */
  private readonly ip: IpBatch;
  /** IPv6 route dumps (iproute2 dumps routes of one family per process: `-6`). */
  private readonly ip6: IpBatch;
  private model?: Model;
  private needFull = true;
  private lastSig?: string;
  private lastVms = new Map<string, string>(); // ifName → vmSig
  /** Interfaces and route destinations changed (or found missing) by an earlier reconcile: re-read next time. */
  private staleIfs = new Set<string>();
  private staleDsts = new Set<string>();
  /** netns driver: VM namespaces whose inside was checked by this driver. */
  private vmSideOk = new Set<string>();
  /** Full reads so far (for tests and the bench: an incremental reconcile does none). */
  fullReads = 0;

  constructor(private readonly opts: { namespace?: string; protocolNumber: number; ifPrefix: string }) {
    if (opts.namespace !== undefined) assertNamespace(opts.namespace);
    this.ip = new IpBatch({ namespace: opts.namespace, details: true });
    this.ip6 = new IpBatch({ namespace: opts.namespace, family: 6 });
  }

  get protocolNumber(): number {
    return this.opts.protocolNumber;
  }

  /** Pids of the long-lived `ip -batch` processes (tests). */
  get batchPids(): (number | undefined)[] {
    return [this.ip.pid, this.ip6.pid];
  }

  async close(): Promise<void> {
    await Promise.all([this.ip.close(), this.ip6.close()]);
  }

  private parseIfs(addrs: IpAddrJson[], nsById: Map<number, string>): ActualInterface[] {
    return addrs
      .filter((l) => typeof l.ifname === 'string' && l.ifname.startsWith(this.opts.ifPrefix))
      .map<ActualInterface>((l) => ({
        ifName: l.ifname,
        mac: (l.address ?? '').toLowerCase(),
        up: (l.flags ?? []).includes('UP'),
        kind: l.linkinfo?.info_kind,
        addresses: (l.addr_info ?? []).map((a) => `${canonicalIp(a.local)}/${a.prefixlen}`),
        peerNamespace: l.link_netnsid !== undefined ? nsById.get(l.link_netnsid) : undefined,
      }));
  }

  private parseRoutes(rs: IpRouteJson[], family: 4 | 6): ActualRoute[] {
    return rs.map((r) => ({ dst: canonicalDst(r.dst, family), dev: r.dev, family, metric: r.metric ?? defaultMetric(family) }));
  }

  private async readModel(): Promise<Model> {
    const proto = String(this.opts.protocolNumber);
    const [[addrs, r4, nsList, netconf], [r6]] = await Promise.all([
      this.ip.runOrThrow([
        ['address', 'show'],
        ['route', 'show', 'table', 'main', 'proto', proto],
        ['netns', 'list'],
        ['netconf', 'show'],
      ]),
      this.ip6.runOrThrow([['route', 'show', 'table', 'main', 'proto', proto]]),
    ]);
    const nsById = new Map<number, string>();
    const namespaces = new Set<string>();
    for (const n of nsList.output as { name: string; id?: number }[]) {
      namespaces.add(n.name);
      if (n.id !== undefined) nsById.set(n.id, n.name);
    }
    const conf = netconf.output as { family: string; interface: string; forwarding?: boolean }[];
    const fwd = (family: string) => conf.some((c) => c.family === family && c.interface === 'all' && c.forwarding === true);
    this.fullReads++;
    return {
      ifs: new Map(this.parseIfs(addrs.output as IpAddrJson[], nsById).map((i) => [i.ifName, i])),
      routes: new Map(
        [...this.parseRoutes(r4.output as IpRouteJson[], 4), ...this.parseRoutes(r6.output as IpRouteJson[], 6)].map((r) => [routeKey(r.dst, r.metric), r]),
      ),
      namespaces,
      forwarding: { ipv4: fwd('inet'), ipv6: fwd('inet6') },
    };
  }

  /** Re-reads only the given interfaces and route destinations (a few batch lines each, no process spawn). */
  private async refresh(m: Model, ifNames: Set<string>, dsts: Set<string>, withNamespaces: boolean): Promise<void> {
    const proto = String(this.opts.protocolNumber);
    const names = [...ifNames];
    const d4 = [...dsts].filter((d) => d.includes('.'));
    const d6 = [...dsts].filter((d) => !d.includes('.'));
    const cmds: IpCommand[] = [];
    for (const n of names) cmds.push(['address', 'show', 'dev', n]);
    for (const d of d4) cmds.push(['route', 'show', d, 'table', 'main', 'proto', proto]);
    if (withNamespaces) cmds.push(['netns', 'list']);
    const [res, res6] = await Promise.all([this.ip.run(cmds), this.ip6.run(d6.map((d) => ['route', 'show', d, 'table', 'main', 'proto', proto]))]);
    const nsById = new Map<number, string>();
    if (withNamespaces) {
      const nsl = res[res.length - 1];
      if (!nsl.ok) throw new IpBatchError(describeFailures([nsl]));
      m.namespaces.clear();
      for (const n of nsl.output as { name: string; id?: number }[]) {
        m.namespaces.add(n.name);
        if (n.id !== undefined) nsById.set(n.id, n.name);
      }
    }
    names.forEach((n, k) => {
      const addr = res[k];
      if (!addr.ok) {
        // Gone (or never there); anything else is a real error.
        if (!/does not exist/i.test(addr.error ?? '')) throw new IpBatchError(describeFailures([addr]));
        m.ifs.delete(n);
        return;
      }
      const prev = m.ifs.get(n);
      const [i] = this.parseIfs(addr.output as IpAddrJson[], nsById);
      if (!i) m.ifs.delete(n);
      else m.ifs.set(n, withNamespaces ? i : { ...i, peerNamespace: i.peerNamespace ?? prev?.peerNamespace });
    });
    const setRoutes = (d: string, r: IpLineResult, family: 4 | 6) => {
      if (!r.ok) throw new IpBatchError(describeFailures([r]));
      for (const [k, x] of m.routes) if (x.dst === d) m.routes.delete(k);
      for (const x of this.parseRoutes(r.output as IpRouteJson[], family)) m.routes.set(routeKey(x.dst, x.metric), x);
    };
    d4.forEach((d, k) => setRoutes(d, res[names.length + k], 4));
    d6.forEach((d, k) => setRoutes(d, res6[k], 6));
  }

  /** A full read of what the driver owns (one batch request per family, no process spawn). */
  async readActual(): Promise<NodeActualState> {
    const m = await this.readModel();
    return { interfaces: [...m.ifs.values()], routes: [...m.routes.values()], forwarding: m.forwarding, namespaces: [...m.namespaces] };
  }

  /**
   * Converge actual → desired. Work grows with the change: a full read only at the first reconcile, after an
   * error, when asked (`full`) or when the desired state is the one applied last time (a resync: drift repair);
   * otherwise only the VMs that differ from the previous desired state (and what earlier reconciles touched) are
   * re-read and written, all through the long-lived `ip -batch` processes.
   */
  async reconcile(desired: NodeDesiredState, opts: ReconcileOptions = {}): Promise<ReconcileResult> {
    validateDesired(desired);
    if (desired.namespace !== this.opts.namespace || desired.protocolNumber !== this.opts.protocolNumber || desired.ifPrefix !== this.opts.ifPrefix) {
      throw new Error('desired state does not match this driver (namespace/protocolNumber/ifPrefix)');
    }
    const ns = this.opts.namespace;
    const proto = String(desired.protocolNumber);
    const mac = desired.gateway.mac.toLowerCase();
    const gw4 = `${canonicalIp(desired.gateway.ip)}/32`;
    const gw6 = `${IPV6_GATEWAY}/64`;
    const vmSigs = new Map(desired.vms.map((v) => [v.ifName, vmSig(v)]));
    const sig = `${gw4}|${mac}|${[...vmSigs.values()].sort().join(',')}`;
    const gwSig = `${gw4}|${mac}`;

    const full = opts.full || this.needFull || !this.model || sig === this.lastSig || !this.lastSig?.startsWith(`${gwSig}|`);
    this.needFull = true; // until this reconcile succeeds
    let m: Model;
    if (full) {
      m = await this.readModel();
      this.staleIfs.clear();
      this.staleDsts.clear();
    } else {
      m = this.model!;
      const ifNames = new Set(this.staleIfs);
      const dsts = new Set(this.staleDsts);
      const prevByIf = this.lastVms;
      for (const vm of desired.vms) {
        if (prevByIf.get(vm.ifName) !== vmSigs.get(vm.ifName)) {
          ifNames.add(vm.ifName);
          dsts.add(vmDst(vm));
        }
      }
      for (const n of prevByIf.keys()) if (!vmSigs.has(n)) ifNames.add(n);
      // Routes of interfaces that changed (a VM's old address) are in the model under their device.
      for (const r of m.routes.values()) if (r.dev && ifNames.has(r.dev)) dsts.add(r.dst);
      const lab = desired.vms.some((v) => v.driver === 'netns' && ifNames.has(v.ifName)) || [...ifNames].some((n) => m.ifs.get(n)?.peerNamespace);
      await this.refresh(m, ifNames, dsts, lab);
      this.staleIfs.clear();
      this.staleDsts.clear();
    }
    this.model = m;
    const ifs = m.ifs;
    const routes = m.routes;

    const operations: string[] = [];
    const nsAdds: string[] = [];
    const batch: IpCommand[] = [];
    const missing: string[] = [];
    const vmSides: DesiredVm[] = [];
    const namespacesToDelete: string[] = [];
    const touchIf = (n: string) => this.staleIfs.add(n);
    const touchDst = (d: string) => this.staleDsts.add(d);

    const needSysctl = !m.forwarding.ipv4 || !m.forwarding.ipv6;

    const wanted = new Set(desired.vms.map((v) => v.ifName));
    const wantedRoutes = new Set<string>();
    for (const vm of desired.vms) {
      const dst = vmDst(vm);
      const metric = vm.metric ?? defaultMetric(vm.family);
      wantedRoutes.add(routeKey(dst, metric));
      let cur = ifs.get(vm.ifName);
      if (!cur) {
        if (vm.driver !== 'netns') {
          missing.push(vm.ifName);
          touchIf(vm.ifName); // libvirt/LXD may create it any time: look again next reconcile
          touchDst(dst);
          continue;
        }
        if (!m.namespaces.has(vm.vmNamespace!)) nsAdds.push(vm.vmNamespace!);
        batch.push(['link', 'add', vm.ifName, 'type', 'veth', 'peer', 'name', VM_IF, 'netns', vm.vmNamespace!]);
        this.vmSideOk.delete(vm.vmNamespace!);
        cur = { ifName: vm.ifName, mac: '', up: false, addresses: [] };
      }
      const before = batch.length;
      // MAC and up in one netlink message; the addresses after it (an IPv6 address needs the link up).
      const link = [...(cur.mac !== mac ? ['address', mac] : []), ...(!cur.up ? ['up'] : [])];
      if (link.length) batch.push(['link', 'set', 'dev', vm.ifName, ...link]);
      if (!cur.addresses.includes(gw4)) batch.push(['address', 'add', gw4, 'dev', vm.ifName]);
      if (vm.family === 6 && !cur.addresses.includes(gw6)) batch.push(['address', 'add', gw6, 'dev', vm.ifName, 'nodad']);
      const r = routes.get(routeKey(dst, metric));
      if (!r || r.dev !== vm.ifName) {
        // Added before the orphan deletions below: a route changing metric is never absent.
        batch.push(['route', 'replace', dst, 'dev', vm.ifName, ...(vm.family === 4 ? ['scope', 'link'] : []), 'proto', proto, 'metric', String(metric)]);
        touchDst(dst);
      }
      if (batch.length > before) touchIf(vm.ifName);
      if (vm.driver === 'netns') vmSides.push(vm);
    }
    // Orphans: only our protocol's routes and our prefix's interfaces.
    for (const r of routes.values()) {
      if (wantedRoutes.has(routeKey(r.dst, r.metric))) continue;
      batch.push(['route', 'del', r.dst, ...(r.dev ? ['dev', r.dev] : []), 'proto', proto, 'metric', String(r.metric)]);
      touchDst(r.dst);
    }
    for (const i of ifs.values()) {
      if (wanted.has(i.ifName)) continue;
      // Only veths with their peer in a VM namespace were made by us (netns driver). A tap (libvirt) or a
      // veth (LXD) belongs to the hypervisor: it may exist before its VM is placed here, so we only take
      // back the gateway addresses we put on it.
      if (!(i.kind === 'veth' && i.peerNamespace)) {
        for (const a of i.addresses) {
          if (a === gw4 || a === gw6) {
            batch.push(['address', 'del', a, 'dev', i.ifName]);
            touchIf(i.ifName);
          }
        }
        continue;
      }
      batch.push(['link', 'del', 'dev', i.ifName]);
      touchIf(i.ifName);
      // A lab VM namespace goes with its veth, but only if nothing we want still uses it.
      if (isName(i.peerNamespace) && !desired.vms.some((v) => v.vmNamespace === i.peerNamespace)) {
        namespacesToDelete.push(i.peerNamespace);
      }
    }

    if (needSysctl) {
      await runInNetns(ns, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
      m.forwarding = { ipv4: true, ipv6: true };
      operations.push('sysctl net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1');
    }
    if (nsAdds.length) {
      // Lab only, one process for all new VM namespaces (`netns add` inside a `-n` batch does not work).
      const cmds = nsAdds.map((n) => ['netns', 'add', n]);
      await run('ip', ['-batch', '-'], { input: cmds.map(ipLine).join('\n') + '\n' });
      for (const n of nsAdds) m.namespaces.add(n);
      operations.push(...cmds.map((c) => `ip ${c.join(' ')}`));
    }
    const failed: IpLineResult[] = [];
    if (batch.length) {
      // Every line runs (-force); the failures are reported together and the next reconcile reads everything.
      const res = await this.ip.run(batch);
      for (const x of res) {
        if (x.ok) operations.push(x.line);
        else failed.push(x);
      }
    }
    const failedIfs = new Set(failed.flatMap((f) => f.line.split(' ').filter((t) => ifs.has(t) || wanted.has(t))));
    await eachLimit(
      vmSides.filter((vm) => !failedIfs.has(vm.ifName) && !this.vmSideOk.has(vm.vmNamespace!)),
      4,
      async (vm) => {
        operations.push(...(await this.reconcileVmSide(vm, desired.gateway.ip)));
        this.vmSideOk.add(vm.vmNamespace!);
      },
    );
    if (namespacesToDelete.length) {
      await run('ip', ['-batch', '-'], { input: namespacesToDelete.map((n) => ipLine(['netns', 'del', n])).join('\n') + '\n', allowFailure: true });
      for (const n of namespacesToDelete) {
        m.namespaces.delete(n);
        this.vmSideOk.delete(n);
        operations.push(`ip netns del ${n}`);
      }
    }
    this.lastSig = sig;
    this.lastVms = vmSigs;
    if (failed.length) throw new IpBatchError(describeFailures(failed));
    this.needFull = false;
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
