/**
 * `fabricctl node enroll`'s bundle (deploy/enroll-bundle.ts, run on the control host): the agent's identity is
 * enrolled in the product's NATS registry, and the files are valid for the programs that read them —
 * `systemd-analyze verify` on the unit with the bundle's env file, `bird -p` on the BIRD base config,
 * `sh -n` on the install script. Bad input never reaches a file.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nkeys } from '@nats-io/nats-core';
import { type ControlPlane, clusterBody, http, startControlPlane } from '../e2e/support/control-plane';
import { enrollBundle } from '../deploy/enroll-bundle';
import { which } from '../deploy/infra';

const ROOT = path.resolve(__dirname, '..');

const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env) =>
  new Promise<{ code: number; out: string }>((resolve) =>
    execFile(cmd, args, { env, cwd: ROOT, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    ),
  );

describe('fabricctl node enroll: the bundle of a new hypervisor', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fabric-enroll-'));
  const data = path.join(dir, 'data');
  const out = path.join(dir, 'bundle');
  const nodeId = randomUUID();
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('enrolls the agent identity and writes files that systemd, BIRD and sh accept', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, FABRIC_DATA_DIR: data, FABRIC_NS: 'fabric' };
    delete env.NATS_URL;
    const r = await run(
      process.execPath,
      [
        '-r',
        path.join(ROOT, 'deploy', 'register.js'),
        path.join(ROOT, 'deploy', 'enroll-bundle.ts'),
        '--node-id',
        nodeId,
        '--node-name',
        'hv7',
        '--underlay-ip',
        '10.1.0.7',
        '--out',
        out,
        '--nats-url',
        'tls://10.0.0.5:4223,tls://10.0.0.6:4223,tls://10.0.0.7:4223',
      ],
      env,
    );
    expect(r).toMatchObject({ code: 0 });
    const result = JSON.parse(r.out.trim().split('\n').at(-1)!);
    expect(result.identity).toBe(`agent-node-${nodeId}`);
    expect(result.files.sort()).toEqual(['agent-node.env', 'agent-node.nk', 'bird.conf', 'install.sh', 'ip-fabric-agent.js', 'ip-fabric-agent@.service']);
    // The bundled agent runs on its own: no checkout, no node_modules next to it.
    const help = await run(process.execPath, [path.join(out, 'ip-fabric-agent.js'), '--help'], { ...process.env, NODE_PATH: '' });
    expect(help).toMatchObject({ code: 0, out: expect.stringContaining('usage: agent --role node|rr|frr-router') });

    // The seed is 0600 and its public key is the one the server config now knows.
    const seedFile = path.join(out, 'agent-node.nk');
    expect(statSync(seedFile).mode & 0o777).toBe(0o600);
    const pub = nkeys.fromSeed(new TextEncoder().encode(readFileSync(seedFile, 'utf8').trim())).getPublicKey();
    expect(pub).toBe(result.publicKey);
    const registry = JSON.parse(readFileSync(path.join(data, 'nats-auth', 'identities.json'), 'utf8')) as {
      publicKey: string;
      identity: { target?: string };
    }[];
    expect(registry.find((e) => e.identity.target === nodeId)?.publicKey).toBe(pub);
    expect(readFileSync(path.join(data, 'nats-auth', 'server.conf'), 'utf8')).toContain(pub);

    const envText = readFileSync(path.join(out, 'agent-node.env'), 'utf8');
    expect(envText).toContain(`FABRIC_TARGET=${nodeId}\n`);
    expect(envText).toContain('NATS_URL=tls://10.0.0.5:4223,tls://10.0.0.6:4223,tls://10.0.0.7:4223\n');
    expect(envText).toContain('NATS_CREDS=/etc/ip-fabric/agent-node.nk\n');

    // systemd: the unit as installed, reading the bundle's env file (the checkout plays /opt/ip-fabric).
    const analyze = which('systemd-analyze');
    expect(analyze).toBeDefined();
    const unitDir = path.join(dir, 'units');
    mkdirSync(unitDir);
    const unit = readFileSync(path.join(out, 'ip-fabric-agent@.service'), 'utf8')
      .replaceAll('/opt/ip-fabric', ROOT)
      .replaceAll('/usr/bin/node', process.execPath)
      .replace('EnvironmentFile=/etc/ip-fabric/agent-%i.env', `EnvironmentFile=${path.join(out, 'agent-%i.env')}`);
    writeFileSync(path.join(unitDir, 'ip-fabric-agent@node.service'), unit);
    const verify = await run(analyze!, ['verify', '--man=no', path.join(unitDir, 'ip-fabric-agent@node.service')]);
    expect(verify.out.split('\n').filter((l) => l.includes('ip-fabric'))).toEqual([]);
    expect(verify.code).toBe(0);

    // BIRD parses the base config.
    const bird = which('bird');
    expect(bird).toBeDefined();
    const parsed = await run(bird!, ['-p', '-c', path.join(out, 'bird.conf')]);
    expect(parsed).toEqual({ code: 0, out: '' });
    expect(readFileSync(path.join(out, 'bird.conf'), 'utf8')).toContain('router id 10.1.0.7;');

    // The install script is valid sh and executable.
    expect(statSync(path.join(out, 'install.sh')).mode & 0o111).toBeTruthy();
    expect(await run('sh', ['-n', path.join(out, 'install.sh')])).toEqual({ code: 0, out: '' });

    // A second enrollment into a non-empty directory is refused (nothing overwritten).
    const again = await run(
      process.execPath,
      [
        '-r',
        path.join(ROOT, 'deploy', 'register.js'),
        path.join(ROOT, 'deploy', 'enroll-bundle.ts'),
        '--node-id',
        nodeId,
        '--node-name',
        'hv7',
        '--underlay-ip',
        '10.1.0.7',
        '--out',
        out,
      ],
      env,
    );
    expect(again.code).toBe(1);
    expect(again.out).toMatch(/not empty/);
  });

  it('fabricctl node enroll <name> --cluster <name> resolves the node through the API and writes the bundle', async () => {
    const cp: ControlPlane = await startControlPlane({ ipamCooldownMs: 0 });
    try {
      const token = (cp as { adminToken?: string }).adminToken;
      const auth = token ? { authorization: `Bearer ${token}` } : undefined;
      const name = `enroll-${randomUUID().slice(0, 8)}`;
      const c = await http('POST', `${cp.api}/clusters`, clusterBody(name), auth);
      expect(c.status).toBe(201);
      const n = await http('POST', `${cp.api}/clusters/${c.body.id}/nodes`, { name: 'hv9', underlayIp: '198.18.1.109' }, auth);
      expect(n.status).toBe(201);
      let listed: { id: string }[] = [];
      for (const deadline = Date.now() + 15_000; !listed.length && Date.now() < deadline;) {
        listed = (await http('GET', `${cp.api}/clusters/${c.body.id}/nodes`, undefined, auth)).body;
        if (!listed.length) await new Promise((r) => setTimeout(r, 100));
      }
      const bundle = path.join(dir, 'ctl-bundle');
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        FABRIC_DATA_DIR: path.join(dir, 'ctl-data'),
        FABRIC_API: cp.api,
        ...(token ? { FABRIC_TOKEN: token } : {}),
      };
      delete env.NATS_URL;
      const r = await run(
        path.join(ROOT, 'cli', 'fabricctl'),
        ['node', 'enroll', 'hv9', '--cluster', name, '--out', bundle, '--nats-url', 'nats://10.0.0.5:4223', '--json'],
        env,
      );
      expect(r.code).toBe(0);
      const out = JSON.parse(r.out);
      expect(out).toMatchObject({ node: { id: n.body.id, name: 'hv9' }, identity: `agent-node-${n.body.id}`, dir: bundle });
      expect(readFileSync(path.join(bundle, 'bird.conf'), 'utf8')).toContain('router id 198.18.1.109;');
      expect(readFileSync(path.join(bundle, 'agent-node.env'), 'utf8')).toContain(`FABRIC_TARGET=${n.body.id}\n`);
      // An unknown node: the API's 404, nothing written.
      const missing = await run(path.join(ROOT, 'cli', 'fabricctl'), ['node', 'enroll', 'nope', '--cluster', name, '--out', path.join(dir, 'none')], env);
      expect(missing.code).toBe(1);
    } finally {
      await cp.close();
    }
  });

  it('refuses values that would reach a file or a command unchecked', () => {
    const seed = new TextDecoder().decode(nkeys.createUser().getSeed());
    const ok = { nodeId, nodeName: 'hv7', underlayIp: '10.1.0.7', natsUrl: 'nats://a:4223', ns: 'fabric', seed };
    expect(enrollBundle(ok)).toHaveLength(5);
    expect(() => enrollBundle({ ...ok, nodeName: 'hv7"; rm -rf /' })).toThrow(/node name/);
    expect(() => enrollBundle({ ...ok, underlayIp: '10.1.0.7;\nprotocol x' })).toThrow(/underlay/);
    expect(() => enrollBundle({ ...ok, natsUrl: 'nats://a:4223\nEvil=1' })).toThrow(/NATS URL/);
    expect(() => enrollBundle({ ...ok, nodeId: 'a.b' })).toThrow(/node id/);
    expect(() => enrollBundle({ ...ok, seed: 'not a seed' })).toThrow(/seed/);
  });
});
