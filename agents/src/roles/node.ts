import { LEAVING_ROUTE_METRIC } from '@fabric/renderers';
/**
 * Node role (docs/architecture.md, data plane): one interface + `proto <n>` host route per VM (NetlinkDriver), and the node's
 * BIRD config, which learns those routes and announces them to the RRs.
 */
import { isIp, isMac, isName, type NodeDesiredState, VM_DRIVERS } from '@fabric/contracts';
import { BirdDriver, type BirdDriverOptions } from '../drivers/bird';
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

  constructor(private readonly opts: NodeRoleOptions) {
    this.bird = new BirdDriver({ namespace: opts.namespace, ...opts.bird });
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
      if (!VM_DRIVERS.includes(vm.driver as never)) fail(`vms[${i}].driver must be one of ${VM_DRIVERS.join(', ')}`);
      if (vm.leaving !== undefined && typeof vm.leaving !== 'boolean') fail(`vms[${i}].leaving must be a boolean`);
    });
    this.validIps = ips;
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
        ...(vmNamespace ? { vmNamespace } : {}),
        ...(vm.leaving ? { metric: LEAVING_ROUTE_METRIC } : {}),
      };
    });
  }

  async apply(d: NodeDesiredState): Promise<RoleApplyResult> {
    const vms = this.netlinkVms(d);
    if (this.netlink?.protocolNumber !== d.protocolNumber) {
      await this.netlink?.close();
      this.netlink = new NetlinkDriver({ namespace: this.opts.namespace, protocolNumber: d.protocolNumber, ifPrefix: VM_IF_PREFIX });
    }
    const netlink = this.netlink;
    const operations: string[] = [];
    const warnings: string[] = [];
    const errors: string[] = [];
    // Data plane and BIRD independently: a rejected BIRD config must not keep VMs off their interfaces.
    try {
      const r = await netlink.reconcile({ namespace: this.opts.namespace, protocolNumber: d.protocolNumber, ifPrefix: VM_IF_PREFIX, gateway: d.gateway, vms });
      operations.push(...r.operations);
      if (r.missing.length) warnings.push(`interfaces not created by the hypervisor yet: ${r.missing.join(', ')}`);
    } catch (e) {
      errors.push(`netlink: ${(e as Error).message}`);
    }
    try {
      operations.push(...(await applyBird(this.bird, d.bird)).operations);
    } catch (e) {
      errors.push(`bird: ${(e as Error).message}`);
    }
    if (errors.length) throw new Error(errors.join('; '));
    return { changes: operations.length, operations, warnings };
  }

  async close(): Promise<void> {
    await this.netlink?.close();
    this.netlink = undefined;
  }

  sessions(): Promise<SessionObservation[]> {
    return birdSessions(this.bird);
  }
}
