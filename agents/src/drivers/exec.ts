import { pollUntil } from '@fabric/service-kit';
import { execFile } from 'child_process';
import { isName } from '@fabric/contracts';

export interface RunOptions {
  /** Written to the child's stdin (e.g. an `ip -batch -` script). */
  input?: string;
  /** Milliseconds; the child is killed after that. */
  timeoutMs?: number;
  /** Return the result instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export class ExecError extends Error {
  constructor(
    readonly cmd: string,
    readonly args: readonly string[],
    readonly code: number | string | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`${cmd} ${args.join(' ')} failed (${code}): ${(stderr || stdout).trim().slice(0, 2000)}`);
    this.name = 'ExecError';
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** execFile with an argument array (never a shell), optional stdin, timeout, stderr in the error. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args as string[],
      {
        timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        maxBuffer: 256 * 1024 * 1024,
        env: opts.env ?? { ...process.env, LC_ALL: 'C' },
        encoding: 'utf8',
      },
      (err, stdout, stderr) => {
        if (!err) return resolve({ stdout, stderr, code: 0 });
        const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string };
        const code = e.killed ? `timeout/${e.signal}` : (e.code ?? null);
        if (opts.allowFailure && typeof e.code === 'number') return resolve({ stdout, stderr, code: e.code });
        reject(new ExecError(cmd, args, code, stdout ?? '', stderr ?? String(err.message)));
      },
    );
    // EPIPE when the child exits without reading stdin is reported through the callback anyway.
    child.stdin?.on('error', () => undefined);
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

export function assertNamespace(ns: string): void {
  if (!isName(ns)) throw new Error(`invalid namespace name: ${JSON.stringify(ns)}`);
}

/** `ip netns exec <ns> <cmd> <args…>`; without a namespace the command runs in the current one. */
export function inNetns(ns: string | undefined, cmd: string, args: readonly string[]): [string, string[]] {
  if (ns === undefined) return [cmd, [...args]];
  assertNamespace(ns);
  return ['ip', ['netns', 'exec', ns, cmd, ...args]];
}

export function runInNetns(ns: string | undefined, cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> {
  const [c, a] = inNetns(ns, cmd, args);
  return run(c, a, opts);
}

/** `ip [-n ns] …` argument prefix. */
export function ipArgs(ns: string | undefined, ...args: string[]): string[] {
  if (ns === undefined) return args;
  assertNamespace(ns);
  return ['-n', ns, ...args];
}

export async function ipJson<T = unknown>(ns: string | undefined, ...args: string[]): Promise<T> {
  const { stdout } = await run('ip', ipArgs(ns, '-j', ...args));
  const text = stdout.trim();
  return (text ? JSON.parse(text) : []) as T;
}

/** Poll until fn returns a truthy value or the deadline passes (for BGP convergence etc.). */
export function waitFor<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs: number, what: string, intervalMs = 100): Promise<T> {
  return pollUntil(fn, timeoutMs, what, intervalMs);
}
