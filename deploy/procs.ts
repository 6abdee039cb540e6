/**
 * Finding the product's processes by what they are, not by pid files: every process the supervisor
 * starts has FABRIC_SUPERVISOR=<data dir> in its environment (inherited by its helpers), which survives a
 * lost pid file, a killed supervisor or a second `npm start`.
 */
import { promises as fs } from 'node:fs';
import { cmdline, isAlive, listPids } from '../agents/src/drivers/proc';

export interface ProcInfo {
  pid: number;
  cmdline: string[];
  /** FABRIC_PROGRAM: the supervised program it is (or descends from); unset for the supervisor itself. */
  program?: string;
}

async function environ(pid: number): Promise<string[] | undefined> {
  try {
    return (await fs.readFile(`/proc/${pid}/environ`, 'utf8')).split('\0');
  } catch {
    return undefined;
  }
}

/** Live (non-zombie) processes whose environment carries FABRIC_SUPERVISOR=<dataDir>. */
export async function markedProcesses(dataDir: string, marker = 'FABRIC_SUPERVISOR'): Promise<ProcInfo[]> {
  const want = `${marker}=${dataDir}`;
  const found: ProcInfo[] = [];
  for (const pid of await listPids()) {
    if (pid === process.pid) continue;
    const env = await environ(pid);
    if (!env?.includes(want) || !(await isAlive(pid))) continue;
    const program = env.find((e) => e.startsWith('FABRIC_PROGRAM='))?.slice('FABRIC_PROGRAM='.length);
    found.push({ pid, cmdline: (await cmdline(pid)) ?? [], program });
  }
  return found;
}

/** SIGTERM to each, SIGKILL to whatever still lives after `graceMs`; resolves when all are gone (or were zombies). */
export async function terminate(pids: number[], graceMs = 5000): Promise<void> {
  const send = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      /* gone */
    }
  };
  for (const pid of pids) send(pid, 'SIGTERM');
  const alive = async () => (await Promise.all(pids.map(async (p) => ((await isAlive(p)) ? p : 0)))).filter(Boolean);
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && (await alive()).length) await new Promise((r) => setTimeout(r, 50));
  for (const pid of await alive()) send(pid, 'SIGKILL');
  const hard = Date.now() + 3000;
  while (Date.now() < hard && (await alive()).length) await new Promise((r) => setTimeout(r, 50));
}
