import type { BfdSession } from '../drivers/bfd-parse';
import { LEAVING_ROUTE_METRIC } from '@fabric/renderers';
/**
 * Node role (docs/architecture.md, data plane): one interface + `proto <n>` host route per VM (NetlinkDriver), and the node's
 * BIRD config, which learns those routes and announces them to the RRs.
 */
import { canonicalIp, isIp, isMac, isName, MAX_EXTRA_ADDRESSES, type NodeDesiredState, VM_DRIVERS } from '@fabric/contracts';
import { AntispoofDriver } from '../drivers/antispoof';
import { BirdDriver, type BirdDriverOptions } from '../drivers/bird';
import { EvpnDriver, type EvpnNetwork, privateInterfaceName } from '../drivers/evpn';
import { type FrrDriver } from '../drivers/frr';
import { applyEvpnFrr, validateEvpnText } from './evpn-common';
import { NetlinkDriver, type DesiredVm as NetlinkVm } from '../drivers/netlink';
import { type SessionObservation } from '../observe';
import { applyBird, birdSessions } from './bird-common';
import { type RoleApplyResult, type RoleReconciler } from './types';
import { asObject, checkBase, fail, int, str } from './validate';

/** Interface name prefix the node agent owns (NetlinkDriver deletes other `vm*` interfaces as orphans). */
export const VM_IF_PREFIX = 'vm';

export interface NodeRoleOptions {
  namespace?: string;
  bird: Omit<BirdDriverOptions, 'namespace'>;
  /** Lab only: VM namespaces of the netns driver are `<prefix><first 8 hex of vmId>`. */
  vmNamespacePrefix?: string;
  /** The node's FRR (zebra + a non-listening bgpd) for the EVPN routes of private networks; none = no private networks here. */
  evpnFrr?: FrrDriver;
  /** The VM source-address check (drivers/antispoof.ts); default true. */
  antispoof?: boolean;
}

export function vmNamespaceName(prefix: string, vmId: string): string {
  const short = vmId.replace(/-/g, '').slice(0, 8).toLowerCase();
  if (!/^[0-9a-f]{8}$/.test(short)) fail(`vmId ${JSON.stringify(vmId)} does not start with 8 hex digits`);
  const ns = `${prefix}${short}`;
  if (!isName(ns)) fail(`VM namespace name ${JSON.stringify(ns)} is invalid`);
  return ns;
}

export class NodeRole implements RoleReconciler<NodeDesiredState> {
  readonly kind = 'node' as const;
  readonly bird: BirdDriver;
  /** Kept across applies: its `ip -batch` processes and its picture of the node make an apply cost the change. */
  private netlink?: NetlinkDriver;
  /** Addresses (→ family) of the last valid payload: a command repeats all VMs, only new addresses are parsed. */
  private validIps = new Map<string, 4 | 6>();
  private readonly evpn: EvpnDriver;
  private readonly antispoof?: AntispoofDriver;
  /** Private networks last reconciled completely (JSON): unchanged ones are not read again. */
  private appliedPrivate?: string;
  /** FRR text last applied (undefined: not yet by this process). */
  private appliedEvpn?: string;

  constructor(private readonly opts: NodeRoleOptions) {
    this.bird = new BirdDriver({ namespace: opts.namespace, ...opts.bird });
    this.evpn = new EvpnDriver({ namespace: opts.namespace });
    if (opts.antispoof !== false) this.antispoof = new AntispoofDriver({ namespace: opts.namespace, ifPrefix: VM_IF_PREFIX });
  }

  validate(payload: unknown, targetId: string): NodeDesiredState {
    const o = asObject(payload);
    checkBase(o, 'node', targetId);
    int(o, 'protocolNumber', 1, 255);
    str(o, 'bird');
    const gw = asObject(o.gateway, 'gateway');
    if (!isIp(gw.ip, 4) || !isMac(gw.mac)) fail('gateway needs an IPv4 ip and a mac');
    if (!Array.isArray(o.vms)) fail('vms must be an array');
    const known = this.validIps;
    const ips = new Map<string, 4 | 6>();
    o.vms.forEach((v, i) => {
      const vm = asObject(v, `vms[${i}]`);
      str(vm, 'vmId', 64);
      str(vm, 'ifName', 15);
      if (vm.family !== 4 && vm.family !== 6) fail(`vms[${i}].family must be 4 or 6`);
      if (!(typeof vm.ip === 'string' && known.get(vm.ip) === vm.family) && !isIp(vm.ip, vm.family)) fail(`vms[${i}].ip is not an IPv${vm.family} address`);
      ips.set(vm.ip as string, vm.family);
      if (vm.extraIps !== undefined) {
        if (!Array.isArray(vm.extraIps) || vm.extraIps.length > MAX_EXTRA_ADDRESSES)
          fail(`vms[${i}].extraIps must be an array of at most ${MAX_EXTRA_ADDRESSES} addresses`);
        const seen = new Set([canonicalIp(vm.ip as string)]);
        vm.extraIps.forEach((x, j) => {
          if (typeof x !== 'string' || (!known.has(x) && !isIp(x))) fail(`vms[${i}].extraIps[${j}] is not an IP address`);
          const family: 4 | 6 = known.get(x) ?? (x.includes(':') ? 6 : 4);
          const c = canonicalIp(x);
          if (seen.has(c)) fail(`vms[${i}].extraIps[${j}] repeats an address of the VM`);
          seen.add(c);
          ips.set(x, family);
        });
      }
      if (!VM_DRIVERS.includes(vm.driver as never)) fail(`vms[${i}].driver must be one of ${VM_DRIVERS.join(', ')}`);
      if (vm.leaving !== undefined && typeof vm.leaving !== 'boolean') fail(`vms[${i}].leaving must be a boolean`);
    });
    this.validIps = ips;
    if (o.privateNetworks !== undefined) {
      if (!Array.isArray(o.privateNetworks)) fail('privateNetworks must be an array');
      o.privateNetworks.forEach((v, i) => {
        const n = asObject(v, `privateNetworks[${i}]`);
        str(n, 'networkId', 64);
        int(n, 'vni', 1, 0xffffff);
        if (!Array.isArray(n.interfaces)) fail(`privateNetworks[${i}].interfaces must be an array`);
        n.interfaces.forEach((x, j) => {
          const p = asObject(x, `privateNetworks[${i}].interfaces[${j}]`);
          str(p, 'vmId', 64);
          if (!isIp(p.ip) || !isMac(p.mac)) fail(`privateNetworks[${i}].interfaces[${j}] needs an ip and a mac`);
          int(p, 'prefixLength', 1, 128);
        });
      });
    }
    if (o.evpn !== undefined) validateEvpnText(o.evpn);
    return o as unknown as NodeDesiredState;
  }

  /** The driver's desired VMs of a validated payload (public for the bench, which times a command's in-process work). */
  netlinkVms(d: NodeDesiredState): NetlinkVm[] {
    return d.vms.map((vm) => {
      let vmNamespace: string | undefined;
      if (vm.driver === 'netns') {
        if (!this.opts.vmNamespacePrefix) fail(`VM ${vm.vmId} uses the netns driver but this agent has no vmNamespacePrefix (lab only)`);
        vmNamespace = vmNamespaceName(this.opts.vmNamespacePrefix, vm.vmId);
      }
      // `leaving` (make-before-break, old node): a high kernel metric, which the node's BIRD export filter
      // turns into a lower local preference, so the RRs and the core prefer the new node.
      return {
        ifName: vm.ifName,
        ip: vm.ip,
        family: vm.family,
        driver: vm.driver,
        ...(vm.extraIps?.length ? { extraIps: vm.extraIps } : {}),
        ...(vmNamespace ? { vmNamespace } : {}),
        ...(vm.leaving ? { metric: LEAVING_ROUTE_METRIC } : {}),
      };
    });
  }

  /** The EVPN driver's networks of a validated payload (host interface names, lab VM namespaces). */
  evpnNetworks(d: NodeDesiredState): EvpnNetwork[] {
    const drivers = new Map(d.vms.map((v) => [v.vmId, v.driver]));
    return (d.privateNetworks ?? []).map((n) => ({
      vni: n.vni,
      ports: n.interfaces.map((i) => ({
        ifName: privateInterfaceName(n.vni, i.vmId),
        mac: i.mac,
        ip: i.ip,
        prefixLength: i.prefixLength,
        ...(drivers.get(i.vmId) === 'netns' && this.opts.vmNamespacePrefix ? { vmNamespace: vmNamespaceName(this.opts.vmNamespacePrefix, i.vmId) } : {}),
      })),
    }));
  }

  /** The node's kernel monitor (NetlinkDriver.watchKernel), started on every driver this role creates. */
  private onDrift?: () => void;

  watchKernel(onDrift: () => void): () => void {
    this.onDrift = onDrift;
    this.netlink?.watchKernel(() => this.onDrift?.());
    return () => {
      this.onDrift = undefined;
    };
  }

  kernelMonitor(): { pid?: number; starts: number } | null {
    return this.netlink ? { pid: this.netlink.monitorPid, starts: this.netlink.monitorStarts } : null;
  }

  async apply(d: NodeDesiredState, ctx: { kernel?: boolean } = {}): Promise<RoleApplyResult> {
    const vms = this.netlinkVms(d);
    if (this.netlink?.protocolNumber !== d.protocolNumber) {
      await this.netlink?.close();
      this.netlink = new NetlinkDriver({ namespace: this.opts.namespace, protocolNumber: d.protocolNumber, ifPrefix: VM_IF_PREFIX });
      if (this.onDrift) this.netlink.watchKernel(() => this.onDrift?.());
    }
    const netlink = this.netlink;
    const operations: string[] = [];
    const warnings: string[] = [];
    const errors: string[] = [];
    // Data plane and BIRD independently: a rejected BIRD config must not keep VMs off their interfaces.
    try {
      const r = await netlink.reconcile(
        { namespace: this.opts.namespace, protocolNumber: d.protocolNumber, ifPrefix: VM_IF_PREFIX, gateway: d.gateway, vms },
        { incremental: ctx.kernel === true },
      );
      operations.push(...r.operations);
      if (r.missing.length) warnings.push(`interfaces not created by the hypervisor yet: ${r.missing.join(', ')}`);
    } catch (e) {
      errors.push(`netlink: ${(e as Error).message}`);
    }
    // The VM source-address check: listed at most every 30 s (nothing signals a change of nftables).
    if (this.antispoof) {
      try {
        operations.push(...(await this.antispoof.reconcile()));
      } catch (e) {
        errors.push(`anti-spoofing: ${(e as Error).message}`);
      }
    }
    // Private networks (after netlink: a lab VM's namespace exists by now), only when they changed.
    const priv = JSON.stringify([d.underlayIp, d.privateNetworks ?? []]);
    if (priv !== this.appliedPrivate) {
      try {
        const r = await this.evpn.reconcile(d.underlayIp, this.evpnNetworks(d));
        operations.push(...r.operations);
        if (r.missing.length) warnings.push(`private interfaces not created by the hypervisor yet: ${r.missing.join(', ')}`);
        else this.appliedPrivate = priv;
      } catch (e) {
        this.appliedPrivate = undefined;
        errors.push(`private networks: ${(e as Error).message}`);
      }
    }
    try {
      operations.push(...(await applyBird(this.bird, d.bird)).operations);
    } catch (e) {
      errors.push(`bird: ${(e as Error).message}`);
    }
    try {
      const r = await applyEvpnFrr(this.opts.evpnFrr, d.evpn, this.appliedEvpn);
      this.appliedEvpn = r.applied;
      operations.push(...r.operations);
    } catch (e) {
      errors.push(`evpn: ${(e as Error).message}`);
    }
    if (errors.length) throw new Error(errors.join('; '));
    return { changes: operations.length, operations, warnings };
  }

  async close(): Promise<void> {
    await this.netlink?.close();
    this.netlink = undefined;
  }

  /** BFD sessions (`show bfd sessions` / `show bfd peers json`); none when BFD is off or bfdd is not running. */
  bfdSessions(): Promise<BfdSession[]> {
    return this.bird.bfdSessions();
  }

  sessions(): Promise<SessionObservation[]> {
    return birdSessions(this.bird);
  }
}
