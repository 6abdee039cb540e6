/**
 * Node data plane (docs/architecture.md): one host-side interface per VM carrying the cluster gateway IP and MAC,
 * and a `<vm-ip>/32|128 dev <if> proto <n>` route that BIRD's kernel protocol learns and announces.
 * The driver owns only interfaces named `<ifPrefix>…` and routes of its protocol number.
 *
 * IPv6: every VM interface also gets `fe80::1/64` (nodad), the VM uses `default via fe80::1 dev eth0`.
 * A fixed link-local gateway is the same on every interface (like the IPv4 gateway) and independent of the MAC.
 */
import { canonicalIp, isIp, isMac } from '@fabric/contracts';
import { ipArgs, ipJson, run, runInNetns, assertNamespace } from './exec';
import { describeFailures, IpBatch, IpBatchError, type IpCommand, type IpLineResult, ipLine } from './ip-batch';
import { KernelMonitor, type MonitorEvent } from './kernel-monitor';
import {
  type ActualInterface,
  type ActualRoute,
  defaultMetric,
  DesiredIndex,
  type DesiredVm,
  dstsOf,
  hostLen,
  IPV6_GATEWAY,
  type NodeDesiredState,
  type NodeModel,
  planNode,
  type PreparedVm,
  VM_IF,
} from './node-plan';

export type { ActualInterface, ActualRoute, DesiredVm, NodeDesiredState, VmDriverKind } from './node-plan';
export { IPV6_GATEWAY } from './node-plan';

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

/** The node-wide fields: namespace, protocol number, interface prefix, gateway. */
function validateBase(d: NodeDesiredState): void {
  if (d.namespace !== undefined) assertNamespace(d.namespace);
  if (!Number.isInteger(d.protocolNumber) || d.protocolNumber < 1 || d.protocolNumber > 255 || [1, 2, 3, 4].includes(d.protocolNumber)) {
    throw new Error(`invalid route protocol number: ${d.protocolNumber}`);
  }
  if (!/^[a-z][a-z0-9]{0,7}$/.test(d.ifPrefix)) throw new Error(`invalid interface prefix: ${JSON.stringify(d.ifPrefix)}`);
  if (!isIp(d.gateway.ip, 4)) throw new Error(`invalid gateway ip: ${JSON.stringify(d.gateway.ip)}`);
  if (!isMac(d.gateway.mac)) throw new Error(`invalid gateway mac: ${JSON.stringify(d.gateway.mac)}`);
}

/** Throws a readable error on anything invalid in a desired state (every VM, duplicates included). */
export function validateDesired(d: NodeDesiredState): void {
  validateBase(d);
  new DesiredIndex({ namespace: d.namespace, ifPrefix: d.ifPrefix }).update(d.vms);
}

function canonicalDst(dst: string, family: 4 | 6): string {
  const [addr, len] = dst.split('/');
  return `${canonicalIp(addr)}/${len ?? hostLen(family)}`;
}

export interface ReconcileOptions {
  /** Read everything (drift repair) instead of only what changed since the previous reconcile. */
  full?: boolean;
  /** Never a full read only because the desired state is unchanged (a reconcile started by a kernel event). */
  incremental?: boolean;
}

/** The kernel's main routing table (`-N` prints numbers). */
const MAIN_TABLE = 254;
/**
 * Fences: a route added and deleted at once in a table of its own (never read by BIRD, whose kernel protocol
 * reads the main table), `metric <n>` telling them apart. When the monitor prints the deletion of fence n, every
 * kernel event before it has been applied to the model.
 */
export const FENCE_TABLE = 32683;
export const FENCE_DST = '192.0.2.255/32';

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
  private model?: NodeModel;
  private needFull = true;
  /** The desired VMs last accepted, validated and parsed: a reconcile parses only new or changed records. */
  private readonly desired: DesiredIndex;
  private lastGateway?: string;
  /** Interfaces and route destinations changed (or found missing) by an earlier reconcile: re-read next time. */
  private staleIfs = new Set<string>();
  private staleDsts = new Set<string>();
  /** netns driver: VM namespaces whose inside was checked by this driver. */
  private vmSideOk = new Set<string>();
  /** Full reads so far (for tests and the bench: an incremental reconcile does none). */
  fullReads = 0;
  /** Targeted re-reads (`refresh`) so far: none while the kernel monitor keeps the model (tap/veth VMs). */
  refreshReads = 0;
  /** Kernel events that found the node off its desired state (onDrift calls). */
  driftEvents = 0;

  // Kernel monitor (watchKernel): the model follows the kernel's events instead of being re-read.
  private monitor?: KernelMonitor;
  private onDrift?: () => void;
  /** Incremented at every start of the monitor's child: events between two children were not seen. */
  private monitorEpoch = 0;
  /** The monitor epoch whose events the model has followed since its full read (-1: none). */
  private modelEpoch = -1;
  /** The epoch in which a fence was seen: that child is subscribed. */
  private fencedEpoch = -1;
  private fenceSeq = 0;
  private fenceWaiters: { seq: number; resolve: (ok: boolean) => void }[] = [];
  /** Events that arrive during a full read, applied on top of it. */
  private buffered?: MonitorEvent[];
  /** Interfaces and routes kernel events touched since the last reconcile looked at them. */
  private touchedIfs = new Set<string>();
  private touchedDsts = new Set<string>();
  private reconciling = false;
  private driftScheduled = false;
  private gw?: { ip4: string; mac: string };
  /** Namespace ids (veth peers) → names, from the last namespace read. */
  private nsById = new Map<number, string>();

  constructor(private readonly opts: { namespace?: string; protocolNumber: number; ifPrefix: string }) {
    if (opts.namespace !== undefined) assertNamespace(opts.namespace);
    this.ip = new IpBatch({ namespace: opts.namespace, details: true });
    this.ip6 = new IpBatch({ namespace: opts.namespace, family: 6 });
    this.desired = new DesiredIndex({ namespace: opts.namespace, ifPrefix: opts.ifPrefix });
  }

  /**
   * Starts the kernel monitor (kernel-monitor.ts). From then on the model follows the kernel's link, address and
   * route events, so an incremental reconcile reads nothing back (a fence makes sure every event up to then is
   * in); and an event that takes the node off its desired state — libvirt/LXD creating a VM's tap/veth, someone
   * deleting one of our routes — calls `onDrift` (the agent reconciles). Every (re)start of the monitor's child
   * also calls it, and the next reconcile reads everything (events in between were not seen).
   */
  watchKernel(onDrift: () => void, minBackoffMs?: number): void {
    if (this.monitor) throw new Error('the kernel monitor runs already');
    this.onDrift = onDrift;
    this.monitor = new KernelMonitor({
      namespace: this.opts.namespace,
      minBackoffMs,
      onEvents: (evs) => this.onKernelEvents(evs),
      onStart: () => {
        this.monitorEpoch++;
        this.needFull = true;
        // The first start finds the state the first reconcile reads; a restart may have missed a change.
        if (this.model) queueMicrotask(() => this.onDrift?.());
      },
    });
  }

  /** The monitor child's pid and how many were started (tests). */
  get monitorPid(): number | undefined {
    return this.monitor?.pid;
  }

  get monitorStarts(): number {
    return this.monitor?.starts ?? 0;
  }

  get protocolNumber(): number {
    return this.opts.protocolNumber;
  }

  /** Pids of the long-lived `ip -batch` processes (tests). */
  get batchPids(): (number | undefined)[] {
    return [this.ip.pid, this.ip6.pid];
  }

  async close(): Promise<void> {
    this.monitor?.stop();
    this.onDrift = undefined;
    for (const w of this.fenceWaiters.splice(0)) w.resolve(false);
    await Promise.all([this.ip.close(), this.ip6.close()]);
  }

  private onKernelEvents(evs: MonitorEvent[]): void {
    for (const e of evs) {
      if (e.type === 'route' && e.table === FENCE_TABLE) {
        if (e.deleted && e.dst === FENCE_DST.split('/')[0]) this.fenceSeen(e.metric);
        continue;
      }
      if (this.buffered) this.buffered.push(e);
      else if (this.model) this.applyEvent(this.model, e);
    }
    this.scheduleDriftCheck();
  }

  /** One event into the model (state-based: applying a suffix of the events to an older snapshot ends current). */
  private applyEvent(m: NodeModel, e: MonitorEvent): void {
    if (e.type === 'route') {
      if (e.protocol !== this.opts.protocolNumber || e.table !== MAIN_TABLE || e.dst === 'default') return;
      const dst = canonicalDst(e.dst, e.family);
      const rest = (m.routes.get(dst) ?? []).filter((r) => r.metric !== e.metric);
      if (!e.deleted) rest.push({ dst, dev: e.dev, family: e.family, metric: e.metric });
      if (rest.length) m.routes.set(dst, rest);
      else m.routes.delete(dst);
      this.touchedDsts.add(dst);
      return;
    }
    if (!e.ifName.startsWith(this.opts.ifPrefix)) return;
    const prev = m.ifs.get(e.ifName);
    if (e.type === 'link') {
      if (e.deleted) m.ifs.delete(e.ifName);
      else
        m.ifs.set(e.ifName, {
          ifName: e.ifName,
          mac: e.mac ?? prev?.mac ?? '',
          up: e.up,
          kind: e.kind ?? prev?.kind,
          addresses: prev?.addresses ?? [],
          peerNamespace: e.netnsid === undefined ? undefined : (this.nsById.get(e.netnsid) ?? prev?.peerNamespace),
        });
      this.touchedIfs.add(e.ifName);
      return;
    }
    if (!prev) return; // an address event follows its link's
    const a = `${canonicalIp(e.local)}/${e.prefixLen}`;
    const addresses = prev.addresses.filter((x) => x !== a);
    if (!e.deleted) addresses.push(a);
    m.ifs.set(e.ifName, { ...prev, addresses });
    this.touchedIfs.add(e.ifName);
  }

  private fenceSeen(seq: number): void {
    this.fencedEpoch = this.monitorEpoch;
    const waiters = this.fenceWaiters;
    this.fenceWaiters = waiters.filter((w) => w.seq > seq);
    for (const w of waiters) if (w.seq <= seq) w.resolve(true);
  }

  /** Resolves true once the monitor has printed every kernel event up to now (false: not within timeoutMs). */
  private async fence(timeoutMs: number): Promise<boolean> {
    if (!this.monitor?.running) return false;
    const seq = ++this.fenceSeq;
    let timer: NodeJS.Timeout | undefined;
    const seen = new Promise<boolean>((resolve) => {
      this.fenceWaiters.push({ seq, resolve });
      timer = setTimeout(() => {
        this.fenceWaiters = this.fenceWaiters.filter((w) => w.seq !== seq);
        resolve(false);
      }, timeoutMs);
    });
    const route = [FENCE_DST, 'table', String(FENCE_TABLE), 'proto', String(this.opts.protocolNumber), 'metric', String(seq)];
    try {
      await this.ip.runOrThrow([
        ['route', 'replace', 'unreachable', ...route],
        ['route', 'del', 'unreachable', ...route],
      ]);
    } catch (e) {
      for (const w of this.fenceWaiters) if (w.seq === seq) w.resolve(false);
      this.fenceWaiters = this.fenceWaiters.filter((w) => w.seq !== seq);
      clearTimeout(timer);
      throw e;
    }
    const ok = await seen;
    clearTimeout(timer);
    return ok;
  }

  /** A model that has followed every kernel event since its full read (and a live monitor) needs no re-read. */
  private get monitored(): boolean {
    return this.monitor?.running === true && this.modelEpoch === this.monitorEpoch && this.fencedEpoch === this.monitorEpoch;
  }

  /** After a (re)start: fences until the new child prints one (it subscribes some time after its spawn). */
  private async syncMonitor(): Promise<void> {
    for (let k = 0; k < 20 && this.monitor?.running && this.fencedEpoch !== this.monitorEpoch; k++) await this.fence(100);
    if (this.monitor?.running && this.fencedEpoch !== this.monitorEpoch) {
      // A child that prints no fence within 2 s cannot be followed: without it the driver re-reads what it
      // touches, as before the monitor (the periodic resync remains).
      this.monitor.stop();
      this.monitor = undefined;
      this.onDrift = undefined;
    }
  }

  private scheduleDriftCheck(): void {
    if (!this.onDrift || this.driftScheduled || this.reconciling || !this.model) return;
    if (!this.touchedIfs.size && !this.touchedDsts.size) return;
    this.driftScheduled = true;
    setImmediate(() => {
      this.driftScheduled = false;
      void this.checkDrift().catch(() => this.onDrift?.());
    });
  }

  /** Whether the touched interfaces and routes need a write to match the desired state (pure, no I/O). */
  private touchedNeedWork(): boolean {
    const m = this.model;
    if (!m || !this.gw) return false;
    const vms = new Set<PreparedVm>();
    for (const n of this.touchedIfs) {
      const v = this.desired.get(n);
      if (v) vms.add(v);
    }
    for (const d of this.touchedDsts) {
      const v = this.desired.owner(d);
      if (v) vms.add(v);
    }
    const plan = planNode({
      model: m,
      desired: this.desired,
      protocolNumber: this.opts.protocolNumber,
      gateway: this.gw,
      vms,
      orphanDsts: this.touchedDsts,
      orphanIfs: this.touchedIfs,
    });
    return plan.batch.length > 0 || plan.nsAdds.length > 0 || plan.namespacesToDelete.length > 0;
  }

  private async checkDrift(): Promise<void> {
    if (this.reconciling) return;
    if (this.touchedNeedWork()) {
      // The events of our own last writes may still be on their way: look again once every event up to now is in.
      const ok = await this.fence(2000);
      if (this.reconciling) return; // it takes the touched keys
      if (ok && !this.touchedNeedWork()) {
        this.touchedIfs.clear();
        this.touchedDsts.clear();
        return;
      }
      this.driftEvents++;
      this.onDrift?.();
      return;
    }
    this.touchedIfs.clear();
    this.touchedDsts.clear();
  }

  private parseIfs(addrs: IpAddrJson[], nsById: Map<number, string>): ActualInterface[] {
    // Every VM interface carries the same gateway addresses: parse each distinct text once.
    const canon = new Map<string, string>();
    const addr = (local: string, len: number) => {
      let c = canon.get(local);
      if (c === undefined) canon.set(local, (c = canonicalIp(local)));
      return `${c}/${len}`;
    };
    return addrs
      .filter((l) => typeof l.ifname === 'string' && l.ifname.startsWith(this.opts.ifPrefix))
      .map<ActualInterface>((l) => ({
        ifName: l.ifname,
        mac: (l.address ?? '').toLowerCase(),
        up: (l.flags ?? []).includes('UP'),
        kind: l.linkinfo?.info_kind,
        addresses: (l.addr_info ?? []).map((a) => addr(a.local, a.prefixlen)),
        peerNamespace: l.link_netnsid !== undefined ? nsById.get(l.link_netnsid) : undefined,
      }));
  }

  private parseRoutes(rs: IpRouteJson[], family: 4 | 6): ActualRoute[] {
    return rs.map((r) => ({ dst: canonicalDst(r.dst, family), dev: r.dev, family, metric: r.metric ?? defaultMetric(family) }));
  }

  private async readModel(): Promise<NodeModel> {
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
    this.nsById = nsById;
    const routes = new Map<string, ActualRoute[]>();
    for (const r of [...this.parseRoutes(r4.output as IpRouteJson[], 4), ...this.parseRoutes(r6.output as IpRouteJson[], 6)]) {
      const same = routes.get(r.dst);
      if (same) same.push(r);
      else routes.set(r.dst, [r]);
    }
    return {
      ifs: new Map(this.parseIfs(addrs.output as IpAddrJson[], nsById).map((i) => [i.ifName, i])),
      routes,
      namespaces,
      forwarding: { ipv4: fwd('inet'), ipv6: fwd('inet6') },
    };
  }

  /** Re-reads only the given interfaces and route destinations (a few batch lines each, no process spawn). */
  private async refresh(m: NodeModel, ifNames: Set<string>, dsts: Set<string>, withNamespaces: boolean): Promise<void> {
    const proto = String(this.opts.protocolNumber);
    const names = [...ifNames];
    const d4 = [...dsts].filter((d) => d.includes('.'));
    const d6 = [...dsts].filter((d) => !d.includes('.'));
    const cmds: IpCommand[] = [];
    for (const n of names) cmds.push(['address', 'show', 'dev', n]);
    for (const d of d4) cmds.push(['route', 'show', d, 'table', 'main', 'proto', proto]);
    if (withNamespaces) cmds.push(['netns', 'list']);
    this.refreshReads++;
    const [res, res6] = await Promise.all([this.ip.run(cmds), this.ip6.run(d6.map((d) => ['route', 'show', d, 'table', 'main', 'proto', proto]))]);
    const nsById = new Map<number, string>();
    if (withNamespaces) {
      this.nsById = nsById;
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
      const found = this.parseRoutes(r.output as IpRouteJson[], family).filter((x) => x.dst === d);
      if (found.length) m.routes.set(d, found);
      else m.routes.delete(d);
    };
    d4.forEach((d, k) => setRoutes(d, res[names.length + k], 4));
    d6.forEach((d, k) => setRoutes(d, res6[k], 6));
  }

  /** A full read of what the driver owns (one batch request per family, no process spawn). */
  async readActual(): Promise<NodeActualState> {
    const m = await this.readModel();
    return { interfaces: [...m.ifs.values()], routes: [...m.routes.values()].flat(), forwarding: m.forwarding, namespaces: [...m.namespaces] };
  }

  /**
   * Converge actual → desired. Work grows with the change: a full read only at the first reconcile, after an
   * error, when asked (`full`) or when the desired state is the one applied last time (a resync: drift repair);
   * otherwise only the VMs that differ from the previous desired state (and what earlier reconciles touched) are
   * re-read and written, all through the long-lived `ip -batch` processes.
   */
  async reconcile(desired: NodeDesiredState, opts: ReconcileOptions = {}): Promise<ReconcileResult> {
    this.reconciling = true;
    try {
      return await this.converge(desired, opts);
    } finally {
      this.reconciling = false;
      // Events that arrived meanwhile (ours, or someone else's) are checked now.
      this.scheduleDriftCheck();
    }
  }

  private async converge(desired: NodeDesiredState, opts: ReconcileOptions): Promise<ReconcileResult> {
    validateBase(desired);
    if (desired.namespace !== this.opts.namespace || desired.protocolNumber !== this.opts.protocolNumber || desired.ifPrefix !== this.opts.ifPrefix) {
      throw new Error('desired state does not match this driver (namespace/protocolNumber/ifPrefix)');
    }
    // Validates and parses only the VMs whose record is new or changed; throws (index untouched) on any invalid one.
    const delta = this.desired.update(desired.vms);
    // A lab VM whose record changed (e.g. its extra addresses) has its inside checked again.
    for (const v of delta.changed) if (v.vmNamespace) this.vmSideOk.delete(v.vmNamespace);
    const ns = this.opts.namespace;
    const mac = desired.gateway.mac.toLowerCase();
    const gw4 = `${canonicalIp(desired.gateway.ip)}/32`;
    const gateway = `${gw4}|${mac}`;

    // A monitor (re)started since the model was read: events in between were not seen.
    const unfollowed = this.monitor?.running === true && this.modelEpoch !== this.monitorEpoch;
    const full = opts.full || this.needFull || unfollowed || !this.model || (delta.unchanged && !opts.incremental) || gateway !== this.lastGateway;
    this.needFull = true; // until this reconcile succeeds
    this.lastGateway = gateway;
    this.gw = { ip4: gw4, mac };
    let m: NodeModel;
    let vms: Iterable<PreparedVm>;
    let orphanDsts: Iterable<string>;
    let orphanIfs: Iterable<string>;
    if (full) {
      // With the monitor: subscribed before the read, and every event during the read applied on top of it.
      if (this.monitor) await this.syncMonitor();
      const epoch = this.monitor?.running && this.fencedEpoch === this.monitorEpoch ? this.monitorEpoch : -1;
      this.buffered = [];
      try {
        m = await this.readModel();
      } catch (e) {
        this.buffered = undefined;
        throw e;
      }
      const evs = this.buffered;
      this.buffered = undefined;
      for (const e of evs) this.applyEvent(m, e);
      this.modelEpoch = epoch;
      this.touchedIfs.clear();
      this.touchedDsts.clear();
      this.staleIfs.clear();
      this.staleDsts.clear();
      vms = this.desired.vms();
      orphanDsts = m.routes.keys();
      orphanIfs = m.ifs.keys();
    } else {
      // Only the changed VMs (old and new records) and what earlier reconciles wrote or found missing: the
      // rest was converged by those reconciles (an unconverged one failed, and a failure makes the next read all).
      m = this.model!;
      // With the monitor, one fence brings the model up to date with the kernel: nothing is read back.
      const monitored = this.monitored && (await this.fence(2000));
      const ifNames = new Set(this.staleIfs);
      const dsts = new Set(this.staleDsts);
      if (monitored) {
        for (const n of this.touchedIfs) ifNames.add(n);
        for (const d of this.touchedDsts) dsts.add(d);
        this.touchedIfs.clear();
        this.touchedDsts.clear();
      }
      for (const v of [...delta.changed, ...delta.gone]) {
        ifNames.add(v.ifName);
        for (const d of dstsOf(v)) dsts.add(d);
      }
      const work = new Set<PreparedVm>();
      for (const n of ifNames) {
        const v = this.desired.get(n);
        if (v) work.add(v);
      }
      for (const d of dsts) {
        const v = this.desired.owner(d);
        if (v) work.add(v);
      }
      for (const v of work) {
        ifNames.add(v.ifName);
        for (const d of dstsOf(v)) dsts.add(d);
      }
      const lab = [...work].some((v) => v.driver === 'netns') || [...ifNames].some((n) => m.ifs.get(n)?.peerNamespace);
      // Lab netns VMs: their veth peers' namespaces are read back (a new namespace's id is not known to events).
      if (!monitored || lab) await this.refresh(m, ifNames, dsts, lab);
      this.staleIfs.clear();
      this.staleDsts.clear();
      vms = work;
      orphanDsts = dsts;
      orphanIfs = ifNames;
    }
    this.model = m;
    const plan = planNode({ model: m, desired: this.desired, protocolNumber: desired.protocolNumber, gateway: { ip4: gw4, mac }, vms, orphanDsts, orphanIfs });
    for (const n of plan.staleIfs) this.staleIfs.add(n);
    for (const d of plan.staleDsts) this.staleDsts.add(d);
    for (const n of plan.newVeths) this.vmSideOk.delete(n);
    const { batch, missing, nsAdds, vmSides, namespacesToDelete } = plan;
    const ifs = m.ifs;
    const operations: string[] = [];

    if (!m.forwarding.ipv4 || !m.forwarding.ipv6) {
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
    const failedIfs = new Set(failed.flatMap((f) => f.line.split(' ').filter((t) => ifs.has(t) || this.desired.get(t))));
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
    if (failed.length) throw new IpBatchError(describeFailures(failed));
    this.needFull = false;
    return { changes: operations.length, operations, missing };
  }

  /** netns driver: configure eth0 inside the VM namespace (one batch for that namespace): every address of the VM, no other. */
  private async reconcileVmSide(vm: PreparedVm, gatewayIp: string): Promise<string[]> {
    const vns = vm.vmNamespace!;
    const families = [...new Set<4 | 6>([vm.family, ...vm.extras.map((e) => e.family)])];
    const [links, ...routesByFamily] = await Promise.all([
      ipJson<IpAddrJson[]>(vns, 'addr', 'show'),
      ...families.map((f) => ipJson<(IpRouteJson & { gateway?: string })[]>(vns, f === 4 ? '-4' : '-6', 'route', 'show')),
    ]);
    const lo = links.find((l) => l.ifname === 'lo');
    const eth = links.find((l) => l.ifname === VM_IF);
    if (!eth) throw new Error(`VM namespace ${vns} has no ${VM_IF}`);
    const present = (eth.addr_info ?? []).map((x) => ({ a: `${canonicalIp(x.local)}/${x.prefixlen}` }));
    const wanted = new Set(dstsOf(vm));
    const ops: string[] = [];
    if (lo && !(lo.flags ?? []).includes('UP')) ops.push('link set dev lo up');
    if (!(eth.flags ?? []).includes('UP')) ops.push(`link set dev ${VM_IF} up`);
    for (const { dst, family } of [{ dst: vm.dst, family: vm.family }, ...vm.extras]) {
      if (!present.some((p) => p.a === dst)) ops.push(`address add ${dst} dev ${VM_IF}${family === 6 ? ' nodad' : ''}`);
    }
    // An address removed from the VM (a host route we gave it earlier; never link-local ones).
    for (const p of present)
      if ((p.a.endsWith('/32') || p.a.endsWith('/128')) && !p.a.startsWith('fe80:') && !wanted.has(p.a)) ops.push(`address del ${p.a} dev ${VM_IF}`);
    families.forEach((family, k) => {
      const routes = routesByFamily[k];
      const gw = family === 4 ? canonicalIp(gatewayIp) : IPV6_GATEWAY;
      if (family === 4 && !routes.some((r) => r.dst === gw && r.dev === VM_IF)) ops.push(`route replace ${gw} dev ${VM_IF} scope link`);
      if (!routes.some((r) => r.dst === 'default' && r.gateway === gw && r.dev === VM_IF)) ops.push(`route replace default via ${gw} dev ${VM_IF}`);
    });
    if (ops.length) await run('ip', ipArgs(vns, '-batch', '-'), { input: ops.join('\n') + '\n' });
    return ops.map((o) => `[${vns}] ${o}`);
  }
}
