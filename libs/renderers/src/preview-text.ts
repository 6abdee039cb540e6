/**
 * The text a dry run compares for a node: its BIRD config followed by its data-plane routes (one line per VM
 * address), because a VM placed, moved or removed changes the node's routes, not its BIRD config; then its private
 * networks (VNIs with their VM interfaces) and its FRR EVPN config, when it carries any.
 */
import type { DesiredPrivateNetwork, DesiredVm } from '@fabric/contracts';

export function nodeConfigText(state: { bird: string; vms: readonly DesiredVm[]; privateNetworks?: readonly DesiredPrivateNetwork[]; evpn?: string }): string {
  const routes = state.vms.flatMap((v) =>
    [v.ip, ...(v.extraIps ?? [])].map(
      (ip, i) =>
        `route ${ip}/${ip.includes(':') ? 128 : 32} dev ${v.ifName}${v.leaving ? ' metric leaving' : ''} # vm ${v.vmId} (${v.driver})${i ? ' extra address' : ''}\n`,
    ),
  );
  const nets = (state.privateNetworks ?? []).flatMap((n) => [
    `vni ${n.vni} network ${n.networkId} ${n.cidr}: vx${n.vni} + br${n.vni}\n`,
    ...n.interfaces.map((i) => `  vm ${i.vmId} mac ${i.mac} ip ${i.ip}/${i.prefixLength}\n`),
  ]);
  // Sections only when present: a node without private networks reads as before.
  const privateText = nets.length ? `# data plane: private networks\n${nets.join('')}` : '';
  const evpnText = state.evpn ? `# FRR (EVPN)\n${state.evpn.endsWith('\n') ? state.evpn : `${state.evpn}\n`}` : '';
  return `${state.bird.endsWith('\n') || !state.bird ? state.bird : `${state.bird}\n`}# data plane: VM routes\n${routes.join('')}${privateText}${evpnText}`;
}

/**
 * What an RR holds outside its command (node parts, placements), as a dry run shows it after the command's BIRD
 * config: one section per key, sorted; a key without value is absent.
 */
export function rrPartsText(parts: ReadonlyMap<string, string | undefined>): string {
  return [...parts.keys()]
    .sort()
    .map((k) => {
      const text = parts.get(k);
      return text === undefined ? '' : `# ${k}\n${text.endsWith('\n') ? text : `${text}\n`}`;
    })
    .join('');
}
