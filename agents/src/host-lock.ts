/**
 * Exclusive host locks with flock(2), held for the life of the process: the lock file is opened here and
 * util-linux `flock` locks that same open file description (inherited as its fd 3) and exits; the kernel
 * releases the lock when our descriptor closes, i.e. also when the agent is killed with SIGKILL.
 * Lock files are never unlinked (unlinking a held lock file would let a second process lock a new inode).
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export class LockBusyError extends Error {
  constructor(
    readonly file: string,
    readonly holder: string,
  ) {
    super(`${file} is locked by another agent (${holder || 'holder unknown'})`);
    this.name = 'LockBusyError';
  }
}

export interface HostLock {
  readonly file: string;
  release(): Promise<void>;
}

function flockFd(fd: number, waitMs: number): Promise<number> {
  // `flock -n 3` / `flock -w <s> 3`: exit 1 when busy (-E sets that code explicitly).
  const args = waitMs > 0 ? ['-E', '75', '-w', String(Math.max(1, Math.ceil(waitMs / 1000))), '3'] : ['-E', '75', '-n', '3'];
  return new Promise((resolve, reject) => {
    const child = spawn('flock', args, { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let err = '';
    child.stderr?.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 || code === 75 ? resolve(code) : reject(new Error(`flock failed (${code}): ${err.trim()}`))));
  });
}

/** Takes the lock or throws LockBusyError naming the holder; `owner` is written into the file for that message. */
export async function acquireHostLock(file: string, owner: Record<string, unknown>, waitMs = 0): Promise<HostLock> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o750 });
  const fh = await fs.open(file, 'a+', 0o640);
  try {
    if ((await flockFd(fh.fd, waitMs)) !== 0) {
      const holder = await fs.readFile(file, 'utf8').catch(() => '');
      throw new LockBusyError(file, holder.trim());
    }
    await fh.truncate(0);
    await fh.write(JSON.stringify({ ...owner, pid: process.pid, since: new Date().toISOString() }) + '\n', 0);
  } catch (e) {
    await fh.close();
    throw e;
  }
  let released = false;
  return {
    file,
    async release() {
      if (released) return;
      released = true;
      await fh.truncate(0).catch(() => undefined);
      await fh.close();
    },
  };
}
