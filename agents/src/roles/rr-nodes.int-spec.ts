/**
 * The RR agent's node parts over a real NATS KV bucket (docs/adr/rr-split-desired-state.md): the first pass
 * of its cluster's keys, one coalesced change per update, other clusters never seen, malformed values
 * refused; and the BIRD driver writing the included file with the config, checked by the real `bird -p`.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Kvm } from '@nats-io/kv';
import { type Nats, rrNodesBucket } from '@fabric/eventstore';
import { renderRrBirdMain, renderRrNode, type RrNode } from '@fabric/renderers';
import { closeTestNats, eventually, openTestNats } from '@fabric/testing/infra';
import { RrNodeParts, nodePartOf } from './rr-nodes';
import { BirdDriver } from '../drivers/bird';

const cluster = randomUUID();
const other = randomUUID();
const bgp = { gracefulRestart: false, bfd: false, md5Password: 'S3cret-rr' };
const node = (i: number): RrNode => ({
  id: `0000000${i}-0000-4000-8000-000000000000`,
  name: `node-${i}`,
  underlayIp: `198.18.0.${10 + i}`,
  originTag: 4200000000 + i,
});
const value = (n: RrNode) => {
  const p = renderRrNode({ fabricAsn: 65000, bgp }, n);
  return JSON.stringify({ protocol: p.protocol, originTag: p.originTag, bird: p.bird });
};
const enc = new TextEncoder();

describe('RR node parts (real NATS KV)', () => {
  let nats: Nats;
  let parts: RrNodeParts | undefined;
  let changes = 0;
  const put = async (clusterId: string, n: RrNode, v = value(n)) => (await new Kvm(nats.nc).open(rrNodesBucket(nats.subjects))).put(`${clusterId}.${n.id}`, v);

  beforeAll(async () => {
    nats = await openTestNats();
    await put(cluster, node(1));
    await put(cluster, node(2));
    await put(other, node(3));
  });

  afterAll(async () => {
    await parts?.stop();
    await closeTestNats(nats);
  });

  it("when started then it holds its cluster's parts (first pass, no change reported), never another cluster's", async () => {
    parts = new RrNodeParts({ nats, clusterId: cluster, onChange: () => changes++ });
    await parts.start();
    expect([...parts.parts.values()].map((p) => p.protocol).sort()).toEqual(['node_node_1', 'node_node_2']);
    expect(parts.text()).toContain('protocol bgp node_node_1 from fabric_node_v4 {');
    expect(parts.text()).not.toContain('node_node_3');
    expect(changes).toBe(0);
  });

  it('when one key changes then one change is reported; a burst of updates is one change; a deletion is one', async () => {
    await put(cluster, { ...node(2), prefixLimit: { v4: 512, v6: 256 } });
    await eventually(() => changes === 1, 5000, 5, 'one change');
    expect(parts!.text()).toContain('receive limit 512 action');
    const before = changes;
    for (const i of [4, 5, 6]) await put(cluster, node(i));
    await eventually(() => parts!.parts.size === 5, 5000, 5, 'three more parts');
    await eventually(() => changes > before, 5000, 5, 'change reported');
    expect(changes - before).toBeLessThanOrEqual(3);
    const n = changes;
    await (await new Kvm(nats.nc).open(rrNodesBucket(nats.subjects))).purge(`${cluster}.${node(6).id}`);
    await eventually(() => changes === n + 1 && parts!.parts.size === 4, 5000, 5, 'deletion');
    await put(other, node(7));
    await new Promise((r) => setImmediate(r));
    expect(parts!.text()).not.toContain('node_node_7');
  });

  it('when a value is malformed (a second statement, an include, a bad protocol) then it is ignored', async () => {
    const good = JSON.parse(value(node(8))) as { bird: string };
    for (const bad of [
      { ...good, protocol: 'node_node_8', originTag: 4200000008, bird: good.bird + 'protocol static evil { }\n' },
      { ...good, protocol: 'node_node_8', originTag: 4200000008, bird: good.bird.replace('  description', '  include "/etc/passwd";\n  description') },
      {
        ...good,
        protocol: 'node_node_8',
        originTag: 4200000008,
        bird: good.bird.replace('  description', '  }; } protocol static evil { ipv4;\n  description'),
      },
      { ...good, protocol: 'core_core', originTag: 4200000008 },
      { ...good, protocol: 'node_node_8', originTag: 65000 },
    ])
      expect(() => nodePartOf(enc.encode(JSON.stringify(bad)))).toThrow(/malformed/);
    expect(nodePartOf(enc.encode(value(node(8)))).protocol).toBe('node_node_8');
  });

  it('when the driver applies a config with its node parts then both files are written and bird -p accepts them', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fabric-rrnodes-'));
    try {
      const bird = new BirdDriver({ configPath: path.join(dir, 'bird.conf'), controlSocket: path.join(dir, 'bird.ctl') });
      const nodesPath = path.join(dir, 'rr-nodes.conf');
      const main =
        renderRrBirdMain({
          rrName: 'rr-1',
          routerId: '198.18.0.2',
          fabricAsn: 65000,
          coreAsn: 65001,
          community: '65000:100',
          rrClusterId: '198.18.0.2',
          localIp: '198.18.0.2',
          core: { name: 'core', ip: '198.18.0.1' },
          exportPrefixes: ['203.0.113.0/24'],
          bgp,
        }) + `\ninclude "${nodesPath}";\n`;
      expect(await bird.applyConfig(main, [{ path: nodesPath, text: parts!.text() }])).toEqual({ changed: true, reconfigured: false });
      expect(await fs.readFile(nodesPath, 'utf8')).toBe(parts!.text());
      expect(await bird.applyConfig(main, [{ path: nodesPath, text: parts!.text() }])).toEqual({ changed: false, reconfigured: false });
      // A part BIRD rejects leaves both files as they were.
      await expect(bird.applyConfig(main, [{ path: nodesPath, text: 'protocol bgp x from nowhere { }\n' }])).rejects.toThrow(/BIRD rejected/);
      expect(await fs.readFile(nodesPath, 'utf8')).toBe(parts!.text());
      expect((await fs.readdir(dir)).sort()).toEqual(['bird.conf', 'rr-nodes.conf']);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
