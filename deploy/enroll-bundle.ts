/**
 * What a new hypervisor needs to join the fabric (`fabricctl node enroll <node>`): its agent's NATS identity
 * (seed file), the agent's systemd unit and environment file, a BIRD base config that lets bird.service start
 * before the agent's first apply, and an install script for Debian/Ubuntu. Pure: the files as text; every
 * value that reaches a file is validated first.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { assertToken } from '@fabric/contracts';
import { AGENT_NODE_MAJOR } from './build-agent';

export interface EnrollBundleInput {
  nodeId: string;
  nodeName: string;
  /** The node's underlay IPv4 address (BIRD's router id). */
  underlayIp: string;
  /** The seed list the agent connects with (comma-separated nats:// or tls:// URLs). */
  natsUrl: string;
  ns: string;
  /** The agent's nkey seed (from the enrollment of agent-node-<id>). */
  seed: string;
}

export interface BundleFile {
  name: string;
  text: string;
  mode: number;
  /** Where install.sh puts it on the host. */
  installTo: string;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const NATS_URL = /^(nats|tls):\/\/[A-Za-z0-9.-]{1,253}(:\d{1,5})?$/;
const SEED = /^SU[A-Z2-7]{56}$/;
const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

const UNIT = path.join(__dirname, 'systemd', 'ip-fabric-agent@.service');

/** The bundled agent (deploy/build-agent.ts): written next to the text files by `main`, installed by install.sh. */
export const AGENT_JS = 'ip-fabric-agent.js';
export const AGENT_JS_PATH = '/usr/lib/ip-fabric/ip-fabric-agent.js';
/** What install.sh installs: the same names on Debian 12+ and Ubuntu (bird2 and nodejs from Ubuntu's universe). */
export const INSTALL_PACKAGES = ['bird2', 'nodejs', 'iproute2', 'nftables', 'procps', 'util-linux'] as const;
/** Every file of a bundle; install.sh checks they are all there before it changes anything. */
export const BUNDLE_FILES = ['agent-node.nk', 'agent-node.env', 'ip-fabric-agent@.service', 'bird.conf', AGENT_JS] as const;

const CHECKOUT_EXEC =
  'ExecStart=/usr/bin/node -r /opt/ip-fabric/deploy/register.js /opt/ip-fabric/agents/src/main.ts --role %i --target ${FABRIC_TARGET} --bird-config ${BIRD_CONFIG} --bird-socket ${BIRD_SOCKET}';

/**
 * The agent unit of a hypervisor: deploy/systemd/ip-fabric-agent@.service (which runs the agent from a checkout at
 * /opt/ip-fabric) with the bundled agent file instead; everything else — user, capabilities, hardening — as is.
 */
export function bundleUnit(unit: string): string {
  const lines = unit.split('\n');
  const exec = lines.indexOf(CHECKOUT_EXEC);
  if (exec < 0 || !lines.includes('WorkingDirectory=/opt/ip-fabric'))
    throw new Error('ip-fabric-agent@.service: ExecStart/WorkingDirectory changed; update bundleUnit');
  lines[exec] = `ExecStart=/usr/bin/node ${AGENT_JS_PATH} --role %i --target \${FABRIC_TARGET} --bird-config \${BIRD_CONFIG} --bird-socket \${BIRD_SOCKET}`;
  return lines.filter((l) => l !== 'WorkingDirectory=/opt/ip-fabric' && !l.startsWith('Documentation=file:/opt/ip-fabric/')).join('\n');
}

export function enrollBundle(input: EnrollBundleInput): BundleFile[] {
  const nodeId = assertToken(input.nodeId, 'node id');
  const ns = assertToken(input.ns, 'namespace');
  if (!NODE_NAME.test(input.nodeName)) throw new Error(`invalid node name: ${JSON.stringify(input.nodeName)}`);
  if (!IPV4.test(input.underlayIp)) throw new Error(`invalid underlay IPv4 address: ${JSON.stringify(input.underlayIp)}`);
  const urls = input.natsUrl.split(',').map((u) => u.trim());
  for (const u of urls) if (!NATS_URL.test(u)) throw new Error(`invalid NATS URL: ${JSON.stringify(u)}`);
  const seed = input.seed.trim();
  if (!SEED.test(seed)) throw new Error('invalid nkey user seed');

  const env = [
    `# /etc/ip-fabric/agent-node.env — the node agent of ${input.nodeName} (ip-fabric-agent@node.service).`,
    `FABRIC_TARGET=${nodeId}`,
    `NATS_URL=${urls.join(',')}`,
    'NATS_CREDS=/etc/ip-fabric/agent-node.nk',
    `FABRIC_NS=${ns}`,
    'BIRD_CONFIG=/etc/bird/bird.conf',
    'BIRD_SOCKET=/run/bird/bird.ctl',
    'METRICS_PORT=9110',
    'LOG_LEVEL=info',
    '',
  ].join('\n');

  const bird = [
    `# BIRD base config of ${input.nodeName} (node ${nodeId}): enough for bird.service to start.`,
    "# The agent replaces this file with the fabric's config on its first apply; put your own protocols in",
    "# /etc/bird/bird.local.conf (included by the agent's file, never written by it).",
    `router id ${input.underlayIp};`,
    'log syslog all;',
    'protocol device {',
    '  scan time 10;',
    '}',
    '',
  ].join('\n');

  const install = [
    '#!/bin/sh',
    `# Installs BIRD 2 and the ip-fabric node agent of ${input.nodeName} on a fresh Debian (12+) or Ubuntu (24.04+) host.`,
    '# Run as root from the unpacked bundle. The agent is one JavaScript file (ip-fabric-agent.js, everything bundled);',
    "# it runs on the distribution's Node.js package, no checkout and no npm on the host.",
    'set -eu',
    'cd "$(dirname "$0")"',
    '. /etc/os-release',
    'case "${ID:-} ${ID_LIKE:-}" in',
    '  *debian*|*ubuntu*) ;;',
    '  *) echo "install.sh: Debian or Ubuntu only (found ${ID:-unknown})" >&2; exit 1 ;;',
    'esac',
    `for f in ${BUNDLE_FILES.join(' ')}; do`,
    '  [ -f "$f" ] || { echo "install.sh: $f missing from the bundle" >&2; exit 1; }',
    'done',
    'export DEBIAN_FRONTEND=noninteractive',
    'apt-get update -qq',
    '# The same package names on Debian 12+ and Ubuntu 22.04+; on Ubuntu bird2 and nodejs are in "universe". Refused',
    '# before anything is installed: a package no source offers, or a Node.js too old (Ubuntu 22.04 ships 12).',
    `for p in ${INSTALL_PACKAGES.join(' ')}; do`,
    `  if ! LC_ALL=C apt-cache policy "$p" | grep -q '^ *Candidate: [0-9]'; then`,
    `    hint=''; [ "\${ID:-}" = ubuntu ] && hint=' (on Ubuntu bird2 and nodejs are in the universe component: add-apt-repository universe)'`,
    '    echo "install.sh: no apt source offers the package $p$hint" >&2',
    '    exit 1',
    '  fi',
    'done',
    `node_major=$(LC_ALL=C apt-cache policy nodejs | sed -n 's/^ *Candidate: \\([0-9]*:\\)\\{0,1\\}\\([0-9]*\\).*/\\2/p')`,
    `if [ "\${node_major:-0}" -lt ${AGENT_NODE_MAJOR} ]; then`,
    `  echo "install.sh: the agent needs Node.js ${AGENT_NODE_MAJOR} or newer, apt would install nodejs $node_major (Ubuntu 22.04: 12; Debian 12 and Ubuntu 24.04: 18)" >&2`,
    '  exit 1',
    'fi',
    `apt-get install -y -qq --no-install-recommends ${INSTALL_PACKAGES.join(' ')}`,
    "# The unit runs /usr/bin/node (the package's), whatever else PATH finds first.",
    `if ! /usr/bin/node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= ${AGENT_NODE_MAJOR} ? 0 : 1)'; then`,
    `  echo "install.sh: the agent needs Node.js ${AGENT_NODE_MAJOR} or newer, /usr/bin/node is $(/usr/bin/node --version)" >&2`,
    '  exit 1',
    'fi',
    'id ip-fabric-agent >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin ip-fabric-agent',
    `install -D -m 0644 -o root -g root ${AGENT_JS} ${AGENT_JS_PATH}`,
    'install -d -m 0755 /etc/ip-fabric',
    'install -m 0600 -o ip-fabric-agent -g ip-fabric-agent agent-node.nk /etc/ip-fabric/agent-node.nk',
    'install -m 0640 -o root -g ip-fabric-agent agent-node.env /etc/ip-fabric/agent-node.env',
    '# The agent writes bird.conf (a temporary file in /etc/bird, then renamed; the directory is setgid bird so',
    "# the file stays group bird) and BIRD reads it. bird2's package keeps /etc/bird at 0750 with a",
    '# dpkg-statoverride, re-applied on every upgrade: the override is changed too.',
    'if dpkg-statoverride --list /etc/bird >/dev/null 2>&1; then dpkg-statoverride --remove /etc/bird; fi',
    'dpkg-statoverride --update --add bird bird 2770 /etc/bird',
    'install -m 0660 -o bird -g bird bird.conf /etc/bird/bird.conf',
    'install -m 0644 ip-fabric-agent@.service /etc/systemd/system/ip-fabric-agent@.service',
    'systemctl daemon-reload',
    'systemctl enable bird.service',
    'systemctl restart bird.service',
    'systemctl enable ip-fabric-agent@node.service',
    'systemctl restart ip-fabric-agent@node.service',
    `echo "ip-fabric agent of ${input.nodeName} installed: systemctl status ip-fabric-agent@node"`,
    '',
  ].join('\n');

  return [
    { name: 'agent-node.nk', text: seed + '\n', mode: 0o600, installTo: '/etc/ip-fabric/agent-node.nk' },
    { name: 'agent-node.env', text: env, mode: 0o600, installTo: '/etc/ip-fabric/agent-node.env' },
    { name: 'ip-fabric-agent@.service', text: bundleUnit(readFileSync(UNIT, 'utf8')), mode: 0o644, installTo: '/etc/systemd/system/ip-fabric-agent@.service' },
    { name: 'bird.conf', text: bird, mode: 0o644, installTo: '/etc/bird/bird.conf' },
    { name: 'install.sh', text: install, mode: 0o755, installTo: '' },
  ];
}

/**
 * `node -r deploy/register.js deploy/enroll-bundle.ts --node-id <id> --node-name <name> --underlay-ip <ip>
 * --out <dir> [--nats-url <seed list>]` on the control host (fabricctl node enroll runs it): enrolls the
 * node agent's identity (rotating an earlier one, as `npm run nats -- enroll` does) and writes the bundle.
 */
async function main(args: string[]) {
  const flag = (name: string) => {
    const i = args.indexOf(`--${name}`);
    const v = i >= 0 ? args[i + 1] : undefined;
    if (!v) throw new Error(`missing --${name}`);
    return v;
  };
  const { existsSync, mkdirSync, readdirSync, writeFileSync, chmodSync } = await import('node:fs');
  const { enroll, usedNatsUrl } = await import('./nats-auth');
  const out = path.resolve(flag('out'));
  if (existsSync(out) && readdirSync(out).length) throw new Error(`${out} is not empty`);
  mkdirSync(out, { recursive: true, mode: 0o700 });
  const nodeId = flag('node-id');
  const seedFile = path.join(out, 'agent-node.nk');
  const enrolled = enroll({ role: 'agent', kind: 'node', target: nodeId }, seedFile);
  const natsUrl = args.includes('--nats-url') ? flag('nats-url') : usedNatsUrl();
  const files = enrollBundle({
    nodeId,
    nodeName: flag('node-name'),
    underlayIp: flag('underlay-ip'),
    natsUrl,
    ns: process.env.FABRIC_NS ?? 'fabric',
    seed: readFileSync(seedFile, 'utf8'),
  });
  for (const f of files) {
    writeFileSync(path.join(out, f.name), f.text, { mode: f.mode });
    chmodSync(path.join(out, f.name), f.mode);
  }
  const { buildAgentBundle } = await import('./build-agent');
  await buildAgentBundle(path.join(out, AGENT_JS));
  chmodSync(path.join(out, AGENT_JS), 0o644);
  console.log(JSON.stringify({ identity: enrolled.name, publicKey: enrolled.publicKey, dir: out, files: [...files.map((f) => f.name), AGENT_JS] }));
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (err) => {
      console.error(String(err?.message ?? err));
      process.exit(1);
    },
  );
}
