/**
 * The enrollment bundle's install.sh on a FRESH Debian bookworm: a root file system made by `debootstrap` (minbase
 * plus an init), booted with `systemd-nspawn` in a network namespace of its own. install.sh installs BIRD 2 and
 * Debian's Node.js from the Debian mirror, the bundled agent (deploy/build-agent.ts), the credentials, the
 * environment and the unit, and starts bird.service and ip-fabric-agent@node.service under the container's
 * systemd. The agent then connects to this test's NATS (the product's authorization: its own nkey, its own
 * subjects) and applies its node's desired state: the VM route in the container's kernel, BIRD with the fabric's
 * config learning it.
 *
 * The container reaches the mirror only through an HTTP proxy of this test on the host side of its veth (apt's
 * `Acquire::http::Proxy`, which a host behind a proxy has too); NATS listens on that address.
 * Root only, heavy (`flock /tmp/fabric-heavy.lock`). Everything lives in one temporary folder, removed at the end;
 * FABRIC_DEBOOTSTRAP_CACHE=<dir> keeps the debootstrap package tarball there between runs (it saves the download,
 * about 100 s of the run).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, closeSync, chmodSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { type ConfigApplied, type NodeDesiredState, type StoredEvent, vmInterfaceName } from '@fabric/contracts';
import { EventStore, Nats } from '@fabric/eventstore';
import { contentHash, renderNodeBird } from '@fabric/renderers';
import { type AuthNats, eventually, startAuthenticatedNats } from '@fabric/testing/infra';
import { ANTISPOOF_TABLE, antispoofInPlace } from '../agents/src/drivers/antispoof';
import { run } from '../agents/src/drivers/exec';
import { AGENT_JS, enrollBundle } from './enroll-bundle';

const ROOT = path.resolve(__dirname, '..');
const MIRROR = process.env.FABRIC_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
const SUITE = 'bookworm';
/** What a Debian server has and minbase lacks: an init for nspawn to boot. Nothing of what install.sh installs. */
const INCLUDE = ['systemd', 'systemd-sysv', 'dbus'];

const id = randomBytes(3).toString('hex');
const NETNS = `fabric-fh-${id}`;
const HOST_IF = `fh${id}h`;
const CT_IF = `fh${id}c`;
const octet = 1 + (parseInt(id.slice(0, 2), 16) % 250);
const HOST_IP = `100.127.${octet}.1`;
const CT_IP = `100.127.${octet}.2`;
const nodeId = randomUUID();
const clusterId = randomUUID();
const vm = { vmId: randomUUID(), ip: '203.0.113.77' };
const VM_IF = vmInterfaceName(vm.vmId);
const VM_PEER = `fh${id}v`;
const enc = new TextEncoder();

const timings: Record<string, number> = {};
const facts: Record<string, string> = {};
async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    timings[what] = Date.now() - t0;
  }
}

/** Runs a program; the result, never a throw (the caller asserts). */
function exec(cmd: string, args: string[], timeoutMs = 600_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), out });
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: 127, out: String(e) });
    });
  });
}

async function must(cmd: string, args: string[], timeoutMs?: number): Promise<string> {
  const r = await exec(cmd, args, timeoutMs);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}):\n${r.out.slice(-4000)}`);
  return r.out;
}

/** The container's PID 1 as the host sees it: the process whose innermost pid is 1, below nspawn. */
function containerInit(nspawnPid: number): number | undefined {
  const children = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
    } catch {
      // gone meanwhile
    }
  }
  const queue = [...(children.get(nspawnPid) ?? [])];
  for (const pid of queue) {
    try {
      const nspid = /^NSpid:\s+(.*)$/m
        .exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
        .trim()
        .split(/\s+/);
      // Once nspawn has executed the container's init (before, that pid is nspawn's own child).
      if (nspid && nspid.length > 1 && nspid.at(-1) === '1') return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'systemd' ? pid : undefined;
    } catch {
      continue;
    }
    queue.push(...(children.get(pid) ?? []));
  }
  return undefined;
}

/**
 * A forward proxy for apt in the container: plain-HTTP GETs to the mirror's host only (apt verifies every file
 * against the signed Release file, so the proxy needs no trust).
 */
function startAptProxy(host: string): Promise<http.Server> {
  const allowed = new URL(MIRROR).host;
  const server = http.createServer((req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (url.protocol !== 'http:' || url.host !== allowed || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(403).end();
      return;
    }
    const headers: http.OutgoingHttpHeaders = { ...req.headers, host: url.host };
    delete headers['proxy-connection'];
    const up = http.request(url, { method: req.method, headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve(server));
  });
}

describe('install.sh of an enrollment bundle on a fresh Debian bookworm (debootstrap, systemd-nspawn)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fabric-fresh-host-'));
  const rootfs = path.join(dir, 'rootfs');
  const cacheDir = process.env.FABRIC_DEBOOTSTRAP_CACHE ?? dir;
  const tarball = path.join(cacheDir, `${SUITE}-minbase-${INCLUDE.join('+')}.tgz`);
  let server: AuthNats | undefined;
  let admin: Nats | undefined;
  let announcer: Nats | undefined;
  let proxy: http.Server | undefined;
  let nspawn: ChildProcess | undefined;
  let nspawnExit: Promise<void> | undefined;
  let init: number | undefined;
  const log = path.join(dir, 'nspawn.log');
  const started = Date.now();

  /** A command inside the booted container (its mount, pid, network, … namespaces), as root. */
  const inside = (args: string[], timeoutMs?: number) =>
    exec(
      'nsenter',
      ['-t', String(init), '-m', '-u', '-i', '-n', '-p', '-C', '--', '/usr/bin/env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'LC_ALL=C', ...args],
      timeoutMs,
    );

  beforeAll(async () => {
    for (const tool of ['debootstrap', 'systemd-nspawn', 'nsenter']) {
      // deploy/ensure-deps.sh installs them (Debian packages debootstrap, systemd-container): missing is a failure.
      expect((await exec('sh', ['-c', `command -v ${tool}`])).code).toBe(0);
    }
    // 1. The host's network namespace, a veth to the host, the test's NATS (the product's authorization) and the
    //    apt proxy on the host side.
    await must('ip', ['netns', 'add', NETNS]);
    await must('ip', ['link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', CT_IF, 'netns', NETNS]);
    await must('ip', ['addr', 'add', `${HOST_IP}/30`, 'dev', HOST_IF]);
    await must('ip', ['link', 'set', HOST_IF, 'up']);
    await must('ip', ['-n', NETNS, 'addr', 'add', `${CT_IP}/30`, 'dev', CT_IF]);
    await must('ip', ['-n', NETNS, 'link', 'set', CT_IF, 'up']);
    await must('ip', ['-n', NETNS, 'link', 'set', 'lo', 'up']);
    server = await startAuthenticatedNats(
      [{ role: 'admin' }, { role: 'route-announcer' }, { role: 'agent', kind: 'node', target: nodeId }],
      `fh${id}`,
      HOST_IP,
    );
    admin = await Nats.connect({ servers: server.url, ns: server.ns, creds: server.creds('admin'), name: 'admin' });
    await admin.ensureStreams();
    announcer = await Nats.connect({ servers: server.url, ns: server.ns, creds: server.creds('route-announcer'), name: 'route-announcer' });
    proxy = await startAptProxy(HOST_IP);

    // 2. The fresh root file system.
    await timed('debootstrap download', async () => {
      if (existsSync(tarball)) return;
      mkdirSync(cacheDir, { recursive: true });
      const partial = `${tarball}.${process.pid}.partial`;
      const args = ['--variant=minbase', `--include=${INCLUDE.join(',')}`, `--make-tarball=${partial}`, SUITE, path.join(dir, 'mk'), MIRROR];
      await must('debootstrap', args, 900_000);
      renameSync(partial, tarball);
      rmSync(path.join(dir, 'mk'), { recursive: true, force: true });
    });
    await timed('debootstrap install', () =>
      must('debootstrap', ['--variant=minbase', `--include=${INCLUDE.join(',')}`, `--unpack-tarball=${tarball}`, SUITE, rootfs, MIRROR], 900_000),
    );
    writeFileSync(
      path.join(rootfs, 'etc', 'apt', 'apt.conf.d', '90proxy'),
      `Acquire::http::Proxy "http://${HOST_IP}:${(proxy.address() as AddressInfo).port}";\n`,
    );
    writeFileSync(path.join(rootfs, 'etc', 'hostname'), 'hv7\n');

    // 3. The bundle, copied to the host as an operator would: the agent's identity on the test's bus, the text
    //    files of enrollBundle, the bundled agent.
    const bundle = path.join(rootfs, 'root', 'hv7');
    mkdirSync(bundle, { mode: 0o700 });
    const files = enrollBundle({
      nodeId,
      nodeName: 'hv7',
      underlayIp: CT_IP,
      natsUrl: server.url,
      ns: server.ns,
      seed: readFileSync(server.creds(`agent-node-${nodeId}`), 'utf8'),
    });
    for (const f of files) {
      writeFileSync(path.join(bundle, f.name), f.text, { mode: f.mode });
      chmodSync(path.join(bundle, f.name), f.mode);
    }
    await timed('agent bundle build', () =>
      must(process.execPath, [
        '-r',
        path.join(ROOT, 'deploy', 'register.js'),
        path.join(ROOT, 'deploy', 'build-agent.ts'),
        '--out',
        path.join(bundle, AGENT_JS),
      ]),
    );

    // 4. Boot it: its own network namespace (the veth to the host), its own systemd as PID 1. No systemd on the
    //    test host's side: --register=no (no machined) and --keep-unit (no scope unit over the system bus).
    await timed('boot', async () => {
      const fd = openSync(log, 'a');
      const args = [
        '--quiet',
        '--boot',
        '--register=no',
        '--keep-unit',
        `--directory=${rootfs}`,
        `--machine=fh-${id}`,
        `--network-namespace-path=/run/netns/${NETNS}`,
        // A hypervisor's root has CAP_NET_ADMIN; nspawn keeps it only for --private-network, not for a given netns.
        '--capability=CAP_NET_ADMIN',
      ];
      // A hypervisor's /proc/sys/net is writable (IP forwarding); nspawn mounts it read-only unless told otherwise.
      nspawn = spawn('systemd-nspawn', args, { stdio: ['ignore', fd, fd], env: { ...process.env, SYSTEMD_NSPAWN_API_VFS_WRITABLE: 'network' } });
      closeSync(fd);
      nspawnExit = new Promise((r) => nspawn!.once('exit', () => r()));
      init = await eventually(
        () => {
          if (nspawn!.exitCode !== null) throw new Error(`systemd-nspawn exited (${nspawn!.exitCode}):\n${readFileSync(log, 'utf8').slice(-3000)}`);
          return containerInit(nspawn!.pid!);
        },
        60_000,
        100,
        'the container init',
      );
      // Blocks until the boot is done: running, or degraded with a failed unit (shown by the test below).
      // Until systemd has opened its private socket, systemctl answers "Failed to connect to bus": retried.
      const state = await eventually(
        async () => {
          const r = await inside(['systemctl', 'is-system-running', '--wait'], 120_000);
          return /Failed to connect to bus/.test(r.out) ? undefined : r;
        },
        60_000,
        100,
        "the container's systemd bus",
      );
      expect(state.out.trim()).toMatch(/^(running|degraded)$/);
    });
  }, 1_800_000);

  afterAll(async () => {
    try {
      if (nspawn && nspawn.exitCode === null) {
        // SIGTERM: nspawn asks the container's systemd to power off; SIGKILL if it does not within 60 s.
        nspawn.kill('SIGTERM');
        const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 60_000).unref());
        if ((await Promise.race([nspawnExit, timeout])) === 'timeout') {
          nspawn.kill('SIGKILL');
          await nspawnExit;
        }
      }
    } finally {
      await announcer?.close().catch(() => undefined);
      await admin?.close().catch(() => undefined);
      await server?.stop().catch(() => undefined);
      proxy?.closeAllConnections();
      await new Promise((r) => (proxy ? proxy.close(r) : r(undefined)));
      await exec('ip', ['netns', 'del', NETNS]);
      await exec('ip', ['link', 'del', HOST_IF]);
      // nspawn mounts in a mount namespace of its own; anything left under the root file system is unmounted first.
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[4])
        .filter((m) => m && (m === rootfs || m.startsWith(rootfs + '/')))
        .sort((a, b) => b.length - a.length);
      for (const m of mounts) await exec('umount', ['-l', m]);
      rmSync(dir, { recursive: true, force: true });
      timings.total = Date.now() - started;
      process.stdout.write(`fresh-host timings (ms): ${JSON.stringify(timings)}; ${JSON.stringify(facts)}\n`);
    }
  }, 180_000);

  it('installs BIRD, Node.js, the agent, its credentials (0600), environment and unit; systemd-analyze verify passes; both units run', async () => {
    const r = await timed('install.sh', () => inside(['sh', '/root/hv7/install.sh'], 900_000));
    expect({ code: r.code, out: r.out.slice(-4000) }).toEqual({ code: 0, out: expect.stringContaining('ip-fabric agent of hv7 installed') });

    const stat = async (p: string) => (await inside(['stat', '-c', '%a %U %G', p])).out.trim();
    expect(await stat('/etc/ip-fabric/agent-node.nk')).toBe('600 ip-fabric-agent ip-fabric-agent');
    expect(await stat('/etc/ip-fabric/agent-node.env')).toBe('640 root ip-fabric-agent');
    expect(await stat('/etc/systemd/system/ip-fabric-agent@.service')).toBe('644 root root');
    expect(await stat('/usr/lib/ip-fabric/ip-fabric-agent.js')).toBe('644 root root');
    // Group-writable and setgid for the agent's temporary config, also in dpkg's override (kept on bird2 upgrades).
    expect(await stat('/etc/bird')).toBe('2770 bird bird');
    expect((await inside(['dpkg-statoverride', '--list', '/etc/bird'])).out.trim()).toBe('bird bird 2770 /etc/bird');
    // Debian's Node.js (bookworm: 18), which the bundled agent is built for.
    const node = (await inside(['node', '--version'])).out.trim();
    expect(node).toMatch(/^v18\./);
    facts.node = node;
    expect((await inside(['bird', '--version'])).out).toMatch(/BIRD version 2\./);

    // The container's own systemd checks the unit as installed (with the bundle's environment file).
    // (the template as its instance file, as cli/node-enroll.int-spec.ts does; verify takes files)
    const verify = await inside([
      'sh',
      '-c',
      'd=$(mktemp -d) && cp /etc/systemd/system/ip-fabric-agent@.service "$d/ip-fabric-agent@node.service" && ' +
        'systemd-analyze verify --man=no "$d/ip-fabric-agent@node.service"; rc=$?; rm -rf "$d"; exit $rc',
    ]);
    expect(verify.out.split('\n').filter((l) => l.includes('ip-fabric'))).toEqual([]);
    expect(verify.code).toBe(0);

    const active = await inside(['systemctl', 'is-active', 'bird.service', 'ip-fabric-agent@node.service']);
    expect({ active: active.out.trim().split('\n'), journal: active.code === 0 ? '' : (await inside(['journalctl', '--no-pager', '-n', '80'])).out }).toEqual({
      active: ['active', 'active'],
      journal: '',
    });
    // Not root: its own user, CAP_NET_ADMIN and CAP_NET_BIND_SERVICE only.
    const pid = (await inside(['systemctl', 'show', '-p', 'MainPID', '--value', 'ip-fabric-agent@node.service'])).out.trim();
    const status = (await inside(['cat', `/proc/${pid}/status`])).out;
    const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
    expect((await inside(['id', '-un', uid ?? ''])).out.trim()).toBe('ip-fabric-agent');
    // CAP_NET_ADMIN (12) and CAP_NET_BIND_SERVICE (10).
    expect(/^CapEff:\s+(\w+)/m.exec(status)?.[1]).toBe(((1n << 12n) | (1n << 10n)).toString(16).padStart(16, '0'));
  }, 1_200_000);

  it('the agent connects with its own credentials and applies its node desired state: the VM route in the kernel, BIRD learning it', async () => {
    // LXD's p2p device: a veth with the host_name the fabric gave it, created by the hypervisor, not the agent.
    await must('ip', ['-n', NETNS, 'link', 'add', VM_IF, 'type', 'veth', 'peer', 'name', VM_PEER]);
    await must('ip', ['-n', NETNS, 'link', 'set', VM_PEER, 'up']);
    const content = {
      kind: 'node' as const,
      targetId: nodeId,
      clusterId,
      nodeName: 'hv7',
      underlayIp: CT_IP,
      gateway: { ip: '10.0.0.1', mac: 'fe:ff:ff:ff:ff:ff' },
      protocolNumber: 200,
      vms: [{ vmId: vm.vmId, ifName: VM_IF, ip: vm.ip, family: 4 as const, driver: 'veth' as const }],
      bird: renderNodeBird({
        nodeName: 'hv7',
        routerId: CT_IP,
        fabricAsn: 65001,
        community: '65000:100',
        kernelProtocolNumber: 200,
        routeReflectors: [{ name: 'rr1', ip: HOST_IP }],
        bgp: { gracefulRestart: false, bfd: false },
        localIp: CT_IP,
      }),
    };
    const desired: NodeDesiredState = { ...content, generation: 1, hash: contentHash(content), sourceSeq: 0 } as NodeDesiredState;
    await announcer!.js.publish(announcer!.subjects.cmd('node', nodeId), enc.encode(JSON.stringify(desired)), { msgID: randomUUID() });

    const store = new EventStore(admin!);
    const journal = async () => (await inside(['journalctl', '--no-pager', '-n', '60', '-u', 'ip-fabric-agent@node.service', '-u', 'bird.service'])).out;
    const applied = await timed('apply', () =>
      eventually(
        async () => {
          const events: StoredEvent[] = await store.read(admin!.subjects.evt('agent', 'node', nodeId));
          const failed = events.find((e) => e.type === 'ConfigApplyFailed');
          if (failed) throw new Error(`the agent could not apply: ${JSON.stringify(failed.data)}`);
          return events.find((e) => e.type === 'ConfigApplied' && (e.data as ConfigApplied).generation === 1);
        },
        60_000,
        200,
        'ConfigApplied generation 1 from the fresh host',
      ).catch(async (e: Error) => {
        throw new Error(`${e.message}\n${await journal()}`);
      }),
    );
    expect(applied.data).toMatchObject({ target: { kind: 'node', id: nodeId }, generation: 1 });

    const routes = JSON.parse((await must('ip', ['-j', '-n', NETNS, 'route', 'show', `${vm.ip}/32`])) || '[]') as { dev: string; protocol: string }[];
    expect(routes).toEqual([expect.objectContaining({ dev: VM_IF, protocol: expect.stringMatching(/^200$/) })]);
    const bird = await inside(['birdc', '-s', '/run/bird/bird.ctl', 'show', 'route', 'for', `${vm.ip}/32`]);
    expect(bird.out).toContain(`${vm.ip}/32`);
    expect((await inside(['cat', '/etc/bird/bird.conf'])).out).toContain(`router id ${CT_IP};`);
    // The VM anti-spoofing table (nftables from install.sh, written by the unprivileged agent with CAP_NET_ADMIN).
    const nft = await inside(['nft', '-j', 'list', 'table', 'inet', ANTISPOOF_TABLE]);
    expect(antispoofInPlace(JSON.parse(nft.out || '{}'), 'vm')).toBe(true);
  }, 300_000);
});
