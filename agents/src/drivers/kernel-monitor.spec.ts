import { parseMonitorLine } from './kernel-monitor';

// Lines as iproute2 6.1 prints them for `ip -N -o -d monitor link address route`.
const TAP_UP =
  '2: vm1: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc pfifo_fast state DOWN group 0 \\    link/[1] 02:00:5e:00:00:01 brd ff:ff:ff:ff:ff:ff promiscuity 0  allmulti 0 minmtu 68 maxmtu 65521 \\    tun type tap pi off vnet_hdr off persist on numtxqueues 1 numrxqueues 1 gso_max_size 65536';
const VETH_DOWN =
  '2: vm2@if2: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group 0 \\    link/[1] 1e:74:70:72:ce:91 brd ff:ff:ff:ff:ff:ff link-netnsid 0 promiscuity 0  allmulti 0 minmtu 68 maxmtu 65535 \\    veth numtxqueues 2 numrxqueues 2';
const VETH_GONE =
  'Deleted 2: vm2@NONE: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group 0 \\    link/[1] 1e:74:70:72:ce:91 brd ff:ff:ff:ff:ff:ff promiscuity 0 \\    altname enp0s1 \\    veth numtxqueues 2';

describe('parseMonitorLine: one `ip -N -o -d monitor` line → one kernel event', () => {
  it('given a tap going up, when parsed, then a link event with its MAC, UP and kind', () => {
    expect(parseMonitorLine(TAP_UP)).toEqual({ type: 'link', deleted: false, ifName: 'vm1', up: true, mac: '02:00:5e:00:00:01', kind: 'tun' });
  });

  it('given a veth with its peer in another namespace, when parsed, then the peer namespace id and kind veth', () => {
    expect(parseMonitorLine(VETH_DOWN)).toEqual({ type: 'link', deleted: false, ifName: 'vm2', up: false, mac: '1e:74:70:72:ce:91', kind: 'veth', netnsid: 0 });
  });

  it('given a deleted link with an altname segment, when parsed, then deleted and the kind after the altname', () => {
    expect(parseMonitorLine(VETH_GONE)).toMatchObject({ type: 'link', deleted: true, ifName: 'vm2', kind: 'veth' });
  });

  it('given addresses added and deleted, when parsed, then address events per family', () => {
    expect(parseMonitorLine('2: vm1    inet 100.64.0.1/32 scope 0 vm1\\       valid_lft forever preferred_lft forever')).toEqual({
      type: 'address',
      deleted: false,
      ifName: 'vm1',
      family: 4,
      local: '100.64.0.1',
      prefixLen: 32,
    });
    expect(parseMonitorLine('Deleted 2: vm2    inet6 fe80::1/64 scope 253 nodad \\       valid_lft forever preferred_lft forever')).toEqual({
      type: 'address',
      deleted: true,
      ifName: 'vm2',
      family: 6,
      local: 'fe80::1',
      prefixLen: 64,
    });
  });

  it('given routes with numeric type, table and protocol, when parsed, then route events with the default metrics filled in', () => {
    expect(parseMonitorLine('1 100.65.0.1 dev vm1 table 254 proto 200 scope 253 linkdown ')).toEqual({
      type: 'route',
      deleted: false,
      dst: '100.65.0.1',
      family: 4,
      dev: 'vm1',
      table: 254,
      protocol: 200,
      metric: 0,
    });
    expect(parseMonitorLine('Deleted 1 2001:db8::5 dev vm2 table 254 proto 200 scope 0 metric 4000 linkdown pref medium')).toEqual({
      type: 'route',
      deleted: true,
      dst: '2001:db8::5',
      family: 6,
      dev: 'vm2',
      table: 254,
      protocol: 200,
      metric: 4000,
    });
    expect(parseMonitorLine('Deleted 7 192.0.2.255 table 32683 proto 200 scope 0 metric 7')).toEqual({
      type: 'route',
      deleted: true,
      dst: '192.0.2.255',
      family: 4,
      table: 32683,
      protocol: 200,
      metric: 7,
    });
    expect(parseMonitorLine('unicast 10.1.0.0/16 dev eth0 table 254 proto 186 scope 0 metric 20')).toMatchObject({
      dst: '10.1.0.0/16',
      protocol: 186,
      metric: 20,
    });
  });

  it('given a route whose protocol is a name (no -N) or lines that are no event, when parsed, then nothing', () => {
    expect(parseMonitorLine('unicast 100.65.0.1 dev vm1 table main proto bird scope link')).toBeUndefined();
    expect(parseMonitorLine('')).toBeUndefined();
    expect(parseMonitorLine('nsid 3 (iproute2 netns name: x)')).toBeUndefined();
    expect(parseMonitorLine('1 not-an-address dev vm1 table 254 proto 200')).toBeUndefined();
  });
});
