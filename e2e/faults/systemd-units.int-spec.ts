/**
 * deploy/systemd: the units pass `systemd-analyze verify` (warnings count as failures) with the install
 * prefix pointed at this checkout, start programs that exist, and keep the supervision and hardening contract.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { which } from '../../deploy/infra';

const ROOT = path.resolve(__dirname, '..', '..');
const UNITS = path.join(ROOT, 'deploy', 'systemd');
const SERVICES = ['inventory', 'ipam', 'route-announcer', 'rr-config', 'router-config', 'gateway', 'projector'];
const units = () => readdirSync(UNITS).filter((f) => f.endsWith('.service'));
const unit = (f: string) => readFileSync(path.join(UNITS, f), 'utf8');
const keys = (text: string, key: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));

describe('systemd units', () => {
  it('ships one unit per service and an agent template', () => {
    expect(units().sort()).toEqual([...SERVICES.map((s) => `ip-fabric-${s}.service`), 'ip-fabric-agent@.service'].sort());
    for (const role of ['node', 'rr']) expect(existsSync(path.join(UNITS, 'env', `agent-${role}.env.example`))).toBe(true);
    expect(existsSync(path.join(UNITS, 'env', 'control-plane.env.example'))).toBe(true);
  });

  it('passes systemd-analyze verify without a warning', async () => {
    const analyze = which('systemd-analyze');
    // deploy/ensure-deps.sh installs it (Debian package systemd): missing is a failure, not a skip.
    expect(analyze).toBeDefined();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fabric-units-'));
    try {
      const files: string[] = [];
      for (const f of units()) {
        // Installed under /opt/ip-fabric on a host; here the checkout plays that part. Env files are optional here.
        const text = unit(f)
          .replaceAll('/opt/ip-fabric', ROOT)
          .replaceAll('/usr/bin/node', process.execPath)
          .replace(/^EnvironmentFile=\//gm, 'EnvironmentFile=-/');
        const name = f === 'ip-fabric-agent@.service' ? 'ip-fabric-agent@node.service' : f;
        writeFileSync(path.join(dir, name), text);
        files.push(path.join(dir, name));
      }
      const out = await new Promise<{ code: number; text: string }>((resolve) =>
        execFile(analyze!, ['verify', '--man=no', ...files], { cwd: dir }, (err, stdout, stderr) =>
          resolve({ code: err ? Number(err.code ?? 1) : 0, text: `${stdout}${stderr}` }),
        ),
      );
      // Lines about the host's own units (none pulled in here) would be noise; ours must produce none.
      expect(out.text.split('\n').filter((l) => l.includes('ip-fabric'))).toEqual([]);
      expect(out.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs programs that exist in the repository', () => {
    for (const f of units()) {
      const exec = keys(unit(f), 'ExecStart')[0].split(' ');
      for (const arg of exec.filter((a) => a.startsWith('/opt/ip-fabric/'))) expect(existsSync(arg.replace('/opt/ip-fabric', ROOT))).toBe(true);
    }
  });

  it('restarts always with a crash-loop limit, hardened; the agent without root, with CAP_NET_ADMIN', () => {
    for (const f of units()) {
      const t = unit(f);
      expect({ f, restart: keys(t, 'Restart') }).toEqual({ f, restart: ['always'] });
      expect(Number(keys(t, 'RestartSec')[0])).toBeGreaterThan(0);
      expect(Number(keys(t, 'StartLimitBurst')[0])).toBeGreaterThan(0);
      expect(Number(keys(t, 'StartLimitIntervalSec')[0])).toBeGreaterThan(0);
      expect(keys(t, 'NoNewPrivileges')).toEqual(['yes']);
      expect(keys(t, 'ProtectSystem')).toEqual(['strict']);
      // No sd_notify in the programs: a WatchdogSec would kill healthy processes.
      expect(keys(t, 'WatchdogSec')).toEqual([]);
    }
    for (const s of SERVICES) {
      const t = unit(`ip-fabric-${s}.service`);
      expect(keys(t, 'DynamicUser')).toEqual(['yes']);
      expect(keys(t, 'CapabilityBoundingSet')).toEqual(['']);
    }
    const agent = unit('ip-fabric-agent@.service');
    expect(keys(agent, 'User')[0]).not.toBe('root');
    expect(keys(agent, 'CapabilityBoundingSet')[0].split(' ').sort()).toEqual(['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE']);
    expect(keys(agent, 'AmbientCapabilities')[0].split(' ').sort()).toEqual(['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE']);
    for (const s of ['gateway', 'projector']) expect(keys(unit(`ip-fabric-${s}.service`), 'Environment')).toContain('"PGOPTIONS=-c synchronous_commit=on"');
    // the gateway follows the projector's checkpoint, as npm start runs it
    expect(keys(unit('ip-fabric-gateway.service'), 'Environment')).toContain('FABRIC_PROJECTOR=external');
  });
});
