/** The enrollment bundle's unit and install script, as text (the fresh-host lab test runs them). */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AGENT_JS_PATH, BUNDLE_FILES, bundleUnit, enrollBundle, INSTALL_PACKAGES } from './enroll-bundle';

const UNIT = readFileSync(path.join(__dirname, 'systemd', 'ip-fabric-agent@.service'), 'utf8');
const input = {
  nodeId: '3f2a9c1e-7b4d-4c1e-9a1b-2c3d4e5f6a7b',
  nodeName: 'hv7',
  underlayIp: '10.1.0.7',
  natsUrl: 'nats://10.0.0.5:4223',
  ns: 'fabric',
  seed: 'SU' + 'A'.repeat(56),
};

describe('the enrollment bundle', () => {
  it('given the checkout unit, when made the bundle unit, then it runs the bundled agent and nothing of /opt/ip-fabric, the rest unchanged', () => {
    const unit = bundleUnit(UNIT);
    expect(unit).not.toContain('/opt/ip-fabric');
    expect(unit).toContain(
      `ExecStart=/usr/bin/node ${AGENT_JS_PATH} --role %i --target \${FABRIC_TARGET} --bird-config \${BIRD_CONFIG} --bird-socket \${BIRD_SOCKET}\n`,
    );
    const same = (t: string) => t.split('\n').filter((l) => !/^(ExecStart|WorkingDirectory|Documentation)=/.test(l));
    expect(same(unit)).toEqual(same(UNIT));
  });

  it('given a unit whose ExecStart changed, when made the bundle unit, then it is refused instead of shipping the checkout path', () => {
    expect(() => bundleUnit(UNIT.replace('agents/src/main.ts', 'agents/src/other.ts'))).toThrow(/update bundleUnit/);
  });

  it('given a bundle, then install.sh checks every file is there before it installs anything, and needs no checkout', () => {
    const install = enrollBundle(input).find((f) => f.name === 'install.sh')!.text;
    expect(install).toContain(`for f in ${BUNDLE_FILES.join(' ')}; do`);
    expect(install.indexOf('for f in')).toBeLessThan(install.indexOf('apt-get'));
    expect(install).not.toContain('/opt/ip-fabric');
    expect(install).toContain(`ip-fabric-agent.js ${AGENT_JS_PATH}`);
  });

  /**
   * install.sh up to its package checks, with apt-get and apt-cache replaced by scripts that answer as a host
   * would (the host's own /etc/os-release: it must be Debian-like). A refusal must come before anything is installed.
   */
  function runInstallChecks(candidates: Record<string, string>) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'install-sh-'));
    try {
      for (const f of enrollBundle(input)) writeFileSync(path.join(dir, f.name), f.text, { mode: f.mode });
      for (const f of BUNDLE_FILES) if (!existsSync(path.join(dir, f))) writeFileSync(path.join(dir, f), '');
      const bin = path.join(dir, 'bin');
      mkdirSync(bin);
      writeFileSync(path.join(bin, 'apt-get'), `#!/bin/sh\necho "$*" >> ${dir}/apt-get.calls\n`, { mode: 0o755 });
      const policy = Object.entries(candidates)
        .map(([p, v]) => `  ${p}) printf '%s:\\n  Installed: (none)\\n  Candidate: ${v}\\n' "$p" ;;`)
        .join('\n');
      writeFileSync(path.join(bin, 'apt-cache'), `#!/bin/sh\n[ "$1" = policy ] || exit 2\ncase "$2" in\n${policy}\nesac\n`, { mode: 0o755 });
      const r = spawnSync('sh', [path.join(dir, 'install.sh')], { env: { PATH: `${bin}:/usr/bin:/bin` }, encoding: 'utf8' });
      const calls = existsSync(path.join(dir, 'apt-get.calls')) ? readFileSync(path.join(dir, 'apt-get.calls'), 'utf8') : '';
      return { code: r.status, stderr: r.stderr, installed: calls.split('\n').some((l) => l.startsWith('install')) };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const bookworm = Object.fromEntries(INSTALL_PACKAGES.map((p) => [p, p === 'nodejs' ? '18.19.0+dfsg-6~deb12u2' : '1.0-1']));

  it('given a host whose apt sources lack bird2 (Ubuntu without universe), when install.sh runs, then it says so and installs nothing', () => {
    const { bird2: _, ...rest } = bookworm;
    const r = runInstallChecks(rest);
    expect(r).toMatchObject({ code: 1, installed: false });
    expect(r.stderr).toContain('no apt source offers the package bird2');
  });

  it("given a host whose nodejs is 12 (Ubuntu 22.04's), when install.sh runs, then it is refused before anything is installed", () => {
    const r = runInstallChecks({ ...bookworm, nodejs: '12.22.9~dfsg-1ubuntu3.6' });
    expect(r).toMatchObject({ code: 1, installed: false });
    expect(r.stderr).toContain('needs Node.js 18 or newer, apt would install nodejs 12');
  });
});
