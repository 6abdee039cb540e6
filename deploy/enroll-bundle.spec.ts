/** The enrollment bundle's unit and install script, as text (the fresh-host lab test runs them). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AGENT_JS_PATH, BUNDLE_FILES, bundleUnit, enrollBundle } from './enroll-bundle';

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
});
