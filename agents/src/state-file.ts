/** The agent's memory across restarts: the last generation it applied, written atomically (tmp, fsync, rename). */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export interface AgentStateRecord {
  version: 1;
  kind: string;
  targetId: string;
  generation: number;
  hash: string;
  appliedAt: string;
  /** `created` of the commands stream the generation came from (a recreated stream starts again at 1). */
  commandsStream?: string;
}

export async function readAgentState(file: string, kind: string, targetId: string): Promise<AgentStateRecord | undefined> {
  let raw: string;
  try {
    raw = await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  const o = JSON.parse(raw) as Partial<AgentStateRecord>;
  if (o.version !== 1 || o.kind !== kind || o.targetId !== targetId) throw new Error(`state file ${file} is not this agent's (${kind} ${targetId})`);
  if (typeof o.generation !== 'number' || !Number.isSafeInteger(o.generation) || o.generation < 0 || typeof o.hash !== 'string') {
    throw new Error(`state file ${file} is malformed`);
  }
  return o as AgentStateRecord;
}

export async function writeAgentState(file: string, record: AgentStateRecord): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true, mode: 0o750 });
  const tmp = `${file}.${process.pid}.tmp`;
  const fh = await fs.open(tmp, 'w', 0o640);
  try {
    await fh.writeFile(JSON.stringify(record) + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.rename(tmp, file);
  // The rename itself must survive a power loss too.
  const d = await fs.open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}
