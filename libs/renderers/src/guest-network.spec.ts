import { parse } from 'yaml';
import { vmInterfaceName } from '@fabric/contracts';
import { guestNetworkConfig, renderLibvirtInterface, renderLxdDevice, renderNetworkConfig, vmGuestMac } from './guest-network';

const VM = '3f2a9c1e-7b4d-4e2a-9c1e-7b4d4e2a9c1e';
const GW = { ip: '10.0.0.1', mac: '02:00:0A:00:00:01' };

describe('guest network documents', () => {
  describe('given an IPv4 VM', () => {
    const input = { vmId: VM, ip: '203.0.113.10', family: 4 as const, gateway: GW };

    it('then the guest MAC is stable, locally administered unicast and not the gateway MAC', () => {
      const mac = vmGuestMac(VM);
      expect(mac).toMatch(/^02(:[0-9a-f]{2}){5}$/);
      expect(vmGuestMac(VM)).toBe(mac);
      expect(vmGuestMac('00000000-0000-4000-8000-000000000001')).not.toBe(mac);
      expect(vmGuestMac(VM, mac)).not.toBe(mac);
    });

    it('then the libvirt interface is an ethernet tap named as the agent expects, with the guest MAC and no bridge', () => {
      const xml = renderLibvirtInterface(input);
      expect(xml).toContain(`<interface type='ethernet'>`);
      expect(xml).toContain(`<mac address='${vmGuestMac(VM)}'/>`);
      expect(xml).toContain(`<target dev='${vmInterfaceName(VM)}'/>`);
      expect(xml).not.toMatch(/bridge|source/);
      expect(renderLibvirtInterface(input, { precreatedTap: true })).toContain(`<target dev='${vmInterfaceName(VM)}' managed='no'/>`);
    });

    it('then the LXD device is a p2p nic with the host name and the guest MAC', () => {
      expect(renderLxdDevice(input)).toEqual({ eth0: { type: 'nic', nictype: 'p2p', name: 'eth0', host_name: vmInterfaceName(VM), hwaddr: vmGuestMac(VM) } });
    });

    it('then the network-config v2 matches the guest MAC, sets the /32 and an on-link default route to the gateway', () => {
      const doc = parse(renderNetworkConfig(input));
      expect(doc).toEqual(guestNetworkConfig(input));
      expect(doc).toEqual({
        version: 2,
        ethernets: {
          eth0: {
            match: { macaddress: vmGuestMac(VM) },
            'set-name': 'eth0',
            dhcp4: false,
            dhcp6: false,
            addresses: ['203.0.113.10/32'],
            routes: [{ to: '0.0.0.0/0', via: '10.0.0.1', 'on-link': true }],
          },
        },
      });
    });
  });

  describe('given a VM with extra addresses', () => {
    it('then every address is on the interface, with a default route for each family it has', () => {
      const doc = guestNetworkConfig({ vmId: VM, ip: '203.0.113.10', family: 4, gateway: GW, extraIps: ['203.0.113.11', '2001:DB8::B'] });
      expect(doc.ethernets.eth0.addresses).toEqual(['203.0.113.10/32', '203.0.113.11/32', '2001:db8::b/128']);
      expect(doc.ethernets.eth0.routes).toEqual([
        { to: '0.0.0.0/0', via: '10.0.0.1', 'on-link': true },
        { to: '::/0', via: 'fe80::1', 'on-link': true },
      ]);
      expect(doc.ethernets.eth0['accept-ra']).toBe(false);
      expect(() => guestNetworkConfig({ vmId: VM, ip: '203.0.113.10', family: 4, gateway: GW, extraIps: ['203.0.113.11/32'] })).toThrow(/extra address/);
    });
  });

  describe('given an IPv6 VM', () => {
    it('then the address is a /128 and the default route goes to the link-local gateway, without router advertisements', () => {
      const doc = guestNetworkConfig({ vmId: VM, ip: '2001:DB8:0:0::10', family: 6, gateway: GW });
      expect(doc.ethernets.eth0.addresses).toEqual(['2001:db8::10/128']);
      expect(doc.ethernets.eth0.routes).toEqual([{ to: '::/0', via: 'fe80::1', 'on-link': true }]);
      expect(doc.ethernets.eth0['accept-ra']).toBe(false);
    });
  });

  describe('given invalid input', () => {
    it.each([
      ['a VM id that is not a UUID', { vmId: "x'/><bridge", ip: '203.0.113.10', family: 4 as const, gateway: GW }],
      ['an address of the wrong family', { vmId: VM, ip: '2001:db8::1', family: 4 as const, gateway: GW }],
      ['a bad gateway MAC', { vmId: VM, ip: '203.0.113.10', family: 4 as const, gateway: { ip: '10.0.0.1', mac: "zz'" } }],
      ['a bad gateway IP', { vmId: VM, ip: '203.0.113.10', family: 4 as const, gateway: { ip: '10.0.0.1\n', mac: GW.mac } }],
    ])('then %s is refused', (_, input) => {
      expect(() => renderLibvirtInterface(input)).toThrow();
      expect(() => renderNetworkConfig(input)).toThrow();
      expect(() => renderLxdDevice(input)).toThrow();
    });
  });
});
