import { buildOptions, labMember, parseFlags } from './cli-args';

const lab = {
  core: { name: 'core', namespace: 'fab-core' },
  routeReflectors: [
    { name: 'rr1', namespace: 'fab-rr1', bird: { configPath: '/run/l/rr1/bird.conf', controlSocket: '/run/l/rr1/bird.ctl', pidFile: '/run/l/rr1/bird.pid' } },
  ],
  nodes: [
    {
      name: 'node1',
      namespace: 'fab-node1',
      bird: { configPath: '/run/l/node1/bird.conf', controlSocket: '/run/l/node1/bird.ctl', pidFile: '/run/l/node1/bird.pid' },
      vmNamespacePrefix: 'fab-vm',
    },
  ],
};

describe('agent CLI arguments', () => {
  it('maps explicit flags to options', () => {
    const f = parseFlags([
      '--role',
      'node',
      '--target',
      'n-1',
      '--netns',
      'fab-node1',
      '--bird-config',
      '/a/bird.conf',
      '--bird-socket=/a/bird.ctl',
      '--resync-ms',
      '5000',
      '--ns',
      'x1',
    ]);
    expect(buildOptions(f)).toEqual({
      role: 'node',
      targetId: 'n-1',
      namespace: 'fab-node1',
      bird: { configPath: '/a/bird.conf', controlSocket: '/a/bird.ctl' },
      resyncMs: 5000,
      ns: 'x1',
    });
  });

  it('given --no-kernel-events on a node, when built, then kernel events are off; on another role it is refused', () => {
    const node = ['--role', 'node', '--target', 'n-1', '--bird-config', '/a/bird.conf', '--bird-socket', '/a/bird.ctl'];
    expect(buildOptions(parseFlags([...node, '--no-kernel-events']))).toMatchObject({ kernelEvents: false });
    expect(buildOptions(parseFlags(node)).kernelEvents).toBeUndefined();
    expect(() =>
      buildOptions(parseFlags(['--role', 'rr', '--target', 'c_rr1', '--bird-config', '/a/b.conf', '--bird-socket', '/a/b.ctl', '--no-kernel-events'])),
    ).toThrow(/node role/);
  });

  it('fills role, namespace, BIRD paths and VM namespace prefix from the lab state', () => {
    expect(buildOptions(parseFlags(['--target', 'n1']), labMember(lab, 'node1'))).toEqual({
      role: 'node',
      targetId: 'n1',
      namespace: 'fab-node1',
      vmNamespacePrefix: 'fab-vm',
      bird: { configPath: '/run/l/node1/bird.conf', controlSocket: '/run/l/node1/bird.ctl', pidFile: '/run/l/node1/bird.pid' },
    });
    expect(buildOptions(parseFlags(['--target', 'c1']), labMember(lab, 'core'))).toEqual({ role: 'frr-router', targetId: 'c1', namespace: 'fab-core' });
    expect(buildOptions(parseFlags(['--target', 'c1_rr1']), labMember(lab, 'rr1'))).toMatchObject({ role: 'rr', namespace: 'fab-rr1' });
  });

  it('maps the operator files, state/lock dirs, lock wait and lease TTL', () => {
    const f = parseFlags([
      '--target',
      'n1',
      '--bird-local',
      '/etc/bird/local.conf',
      '--state-dir',
      '/var/lib/x',
      '--lock-dir',
      '/run/lock/x',
      '--lock-wait-ms',
      '0',
      '--lease-ttl-ms',
      '9000',
    ]);
    expect(buildOptions(f, labMember(lab, 'node1'))).toMatchObject({
      bird: { localConfigPath: '/etc/bird/local.conf' },
      stateDir: '/var/lib/x',
      lockDir: '/run/lock/x',
      lockWaitMs: 0,
      leaseTtlMs: 9000,
    });
    expect(buildOptions(parseFlags(['--target', 'c1', '--frr-local', '/etc/frr/base.conf']), labMember(lab, 'core'))).toMatchObject({
      frrLocalConfigPath: '/etc/frr/base.conf',
    });
    expect(() => buildOptions(parseFlags(['--target', 'c1', '--bird-local', '/x']), labMember(lab, 'core'))).toThrow(/node and rr/);
    expect(() => buildOptions(parseFlags(['--target', 'n1', '--frr-local', '/x']), labMember(lab, 'node1'))).toThrow(/frr-router/);
    expect(() => buildOptions(parseFlags(['--target', 'n1', '--state-dir', 'rel']), labMember(lab, 'node1'))).toThrow(/absolute/);
    expect(() => buildOptions(parseFlags(['--target', 'n1', '--lock-wait-ms', '-1']), labMember(lab, 'node1'))).toThrow(/lock-wait-ms/);
  });

  it('rejects what cannot work', () => {
    expect(() => parseFlags(['--bogus', '1'])).toThrow(/unknown flag/);
    expect(() => parseFlags(['node'])).toThrow(/unexpected argument/);
    expect(() => buildOptions(parseFlags(['--role', 'node']))).toThrow(/--target/);
    expect(() => buildOptions(parseFlags(['--role', 'rr', '--target', 'x']))).toThrow(/--bird-config/);
    expect(() => buildOptions(parseFlags(['--role', 'frr-router', '--target', 'x']))).toThrow(/--netns/);
    expect(() => buildOptions(parseFlags(['--role', 'rr', '--target', 'x']), labMember(lab, 'node1'))).toThrow(/is a node/);
    expect(() => buildOptions(parseFlags(['--role', 'node', '--target', 'x', '--poll-ms', '0', '--bird-config', '/a', '--bird-socket', '/b']))).toThrow(
      /--poll-ms/,
    );
    expect(() => labMember(lab, 'node9')).toThrow(/no lab member/);
  });
});
