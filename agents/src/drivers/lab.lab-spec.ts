import { promises as fs } from 'fs';
import { run } from './exec';
import { isAlive } from './proc';
import { labDown, labUp, readLabState, type LabState } from '../../../deploy/lab/topology';

// Real namespaces, BIRD and FRR: needs root.
// Network namespaces need root: without it these tests fail (they are never skipped).
if (process.getuid?.() !== 0) throw new Error('the lab tests need root (network namespaces, BIRD, FRR)');
const prefix = `t${Math.random().toString(36).slice(2, 6).padEnd(4, '0')}-`;

async function labNamespaces(): Promise<string[]> {
  const { stdout } = await run('ip', ['-j', 'netns', 'list']);
  return (JSON.parse(stdout.trim() || '[]') as { name: string }[]).map((n) => n.name).filter((n) => n.startsWith(prefix));
}

function labPids(s: LabState): number[] {
  return [...Object.values(s.core.frr.pids), ...[...s.routeReflectors, ...s.nodes].map((m) => m.bird.pid!)];
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

describe('lab up/down', () => {
  afterAll(async () => {
    await labDown(prefix);
  });

  it('builds the fabric and removes every namespace, process and directory again', async () => {
    const state = await labUp({ prefix, nodes: 2, rrs: 2 });
    try {
      expect(await readLabState(prefix)).toEqual(state);
      expect((await labNamespaces()).sort()).toEqual(
        [`${prefix}core`, `${prefix}node1`, `${prefix}node2`, `${prefix}rr1`, `${prefix}rr2`, `${prefix}ul`].sort(),
      );
      expect(state.nodes[1]).toMatchObject({ ipv4: '198.18.0.102', ipv6: '2001:db8:ffff::102' });
      const pids = labPids(state);
      // BIRD on 2 nodes and 2 RRs; zebra, bgpd, staticd and bfdd on the core.
      expect(pids).toHaveLength(4 + 4);
      for (const pid of pids) expect(await isAlive(pid)).toBe(true);

      // RRs never forward; nodes do and reach the core over the underlay.
      const fwd = async (ns: string) =>
        (await run('ip', ['netns', 'exec', ns, 'sysctl', '-n', 'net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding'])).stdout.split(/\s+/).filter(Boolean);
      expect(await fwd(`${prefix}rr1`)).toEqual(['0', '0']);
      expect(await fwd(`${prefix}node1`)).toEqual(['1', '1']);
      await run('ip', ['netns', 'exec', `${prefix}node2`, 'ping', '-c1', '-W2', state.core.ipv4]);
      await run('ip', ['netns', 'exec', `${prefix}node2`, 'ping', '-6', '-c1', '-W2', state.core.ipv6]);

      await expect(labUp({ prefix, nodes: 1, rrs: 1 })).rejects.toThrow(/already up/);

      // Crash recovery: without the state file, down still finds the daemons by command line / namespace.
      await fs.rm(state.stateFile);
      await labDown(prefix);
      expect(await labNamespaces()).toEqual([]);
      for (const pid of pids) expect(await isAlive(pid)).toBe(false);
      expect(await exists(state.runDir)).toBe(false);
      expect(await exists(state.core.frr.configDir)).toBe(false);
      expect(await exists(state.core.frr.runDir)).toBe(false);
    } finally {
      await labDown(prefix);
    }
  });
});
