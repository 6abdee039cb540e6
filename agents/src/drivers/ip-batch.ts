/**
 * One long-lived `ip [-n <ns>] -json -force -batch -` per namespace: every link/address/route command and every
 * dump of the node agent goes through it, so an operation costs a netlink round trip, not a process spawn.
 *
 * Protocol (iproute2 flushes stdout after every command and reports each failure on stderr as
 * `Command failed -:<line>`): every request ends with a sentinel line that always fails without side effects
 * (`fabric-sync`, an unknown object). Once its failure is on stderr, every line before it has run; the stderr
 * text since the previous failure belongs to the failing line, which gives each line its own error. A successful
 * `show`/`list` line prints exactly one JSON line; a failing one prints nothing, so after the sentinel the number
 * of stdout lines to wait for is known. `-force` keeps the process alive across errors: one bad VM never holds
 * back the others, the caller decides what an error means.
 *
 * Lines are built from tokens of a strict character set (no blanks, quotes, `#`, `\`, newlines): nothing that
 * reaches a batch can start another command, continue a line or comment the rest out.
 */
import { spawn, type ChildProcess } from 'child_process';
import { promises as fs } from 'fs';
import { assertNamespace } from './exec';

export type IpCommand = readonly string[];

export interface IpLineResult {
  line: string;
  ok: boolean;
  /** stderr of the failing line (without the `Command failed` marker). */
  error?: string;
  /** Parsed JSON output of a successful `show`/`list` line. */
  output?: unknown;
}

export class IpBatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IpBatchError';
  }
}

/** iproute2 tokens we ever write: names, addresses, prefixes, MACs, numbers, keywords. */
const TOKEN = /^[A-Za-z0-9:][A-Za-z0-9_.:/@%+-]{0,63}$/;
const SENTINEL = 'fabric-sync';
const FAILED = /^Command failed -:(\d+)$/;

export function ipLine(cmd: IpCommand): string {
  if (cmd.length === 0) throw new IpBatchError('empty ip command');
  for (const t of cmd) {
    if (typeof t !== 'string' || !TOKEN.test(t)) throw new IpBatchError(`refused ip batch token ${JSON.stringify(t)}`);
  }
  if (cmd[0] === SENTINEL) throw new IpBatchError('refused ip batch command');
  return cmd.join(' ');
}

const isRead = (cmd: IpCommand) => cmd.includes('show') || cmd.includes('list');
const isNetnsList = (cmd: IpCommand) => cmd.length === 2 && cmd[0] === 'netns' && cmd[1] === 'list';
const NETNS_DIR = '/run/netns';
const exists = (p: string) =>
  fs.access(p).then(
    () => true,
    () => false,
  );

interface Pending {
  first: number; // line number of the request's first line
  sentinel: number;
  cmds: IpCommand[];
  lines: string[];
  errors: Map<number, string>;
  /** Indexes of `netns list` lines sent as `link show dev lo` (no /run/netns): their output is an empty list. */
  empty: Set<number>;
  sentinelSeen: boolean;
  expectedOut: number;
  out: string[];
  resolve: (r: IpLineResult[]) => void;
  reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
}

export interface IpBatchOptions {
  namespace?: string;
  /** `-6`: route dumps of a process are of one family (a v6 selector does not switch it). Writes need none. */
  family?: 6;
  /** `-details`: link kinds in dumps. (A `link show … type` line would leave later `address show` lines of the same
   * process without addresses: iproute2 keeps filter state across batch lines.) */
  details?: boolean;
  /** Base time limit of a request; each line adds 20 ms. The process is killed (and restarted) after it. */
  timeoutMs?: number;
}

export class IpBatch {
  private child?: ChildProcess;
  private nsIno?: number;
  private lineNo = 0;
  private stdoutBuf = '';
  private stderrBuf = '';
  private stderrText = '';
  private pending?: Pending;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Processes started so far (1 after the first request; more after deaths or a recreated namespace). */
  starts = 0;

  constructor(private readonly opts: IpBatchOptions = {}) {
    if (opts.namespace !== undefined) assertNamespace(opts.namespace);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** A request has been written and is not answered yet. */
  get busy(): boolean {
    return this.pending !== undefined;
  }

  /** Runs the commands in order (all of them: an error does not stop the rest); one result per command. */
  run(cmds: readonly IpCommand[]): Promise<IpLineResult[]> {
    let lines: string[];
    try {
      lines = cmds.map(ipLine); // refused before anything is written
    } catch (e) {
      return Promise.reject(e);
    }
    const next = this.queue.then(() => this.exec(cmds, lines));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** Like run, but throws one error naming every failed line. */
  async runOrThrow(cmds: readonly IpCommand[]): Promise<IpLineResult[]> {
    const r = await this.run(cmds);
    const failed = r.filter((x) => !x.ok);
    if (failed.length) throw new IpBatchError(describeFailures(failed));
    return r;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
    this.stop();
  }

  private stop(): void {
    const c = this.child;
    this.child = undefined;
    if (c && c.exitCode === null && c.signalCode === null) {
      c.stdin?.end();
      c.kill('SIGKILL');
    }
  }

  private async nsInode(): Promise<number | undefined> {
    if (this.opts.namespace === undefined) return undefined;
    try {
      return (await fs.stat(`/run/netns/${this.opts.namespace}`)).ino;
    } catch {
      throw new IpBatchError(`network namespace ${this.opts.namespace} does not exist`);
    }
  }

  private async ensure(): Promise<ChildProcess> {
    if (this.closed) throw new IpBatchError('ip batch closed');
    const ino = await this.nsInode();
    // A namespace deleted and created again under the same name: the old process still sits in the old one.
    if (this.child && ino !== this.nsIno) this.stop();
    if (this.child) return this.child;
    const args = [
      ...(this.opts.namespace !== undefined ? ['-n', this.opts.namespace] : []),
      ...(this.opts.family === 6 ? ['-6'] : []),
      ...(this.opts.details ? ['-details'] : []),
      '-json',
      '-force',
      '-batch',
      '-',
    ];
    const child = spawn('ip', args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    this.child = child;
    this.nsIno = ino;
    this.starts++;
    this.lineNo = 0;
    this.stdoutBuf = '';
    this.stderrBuf = '';
    this.stderrText = '';
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => this.onStdout(child, d));
    child.stderr!.on('data', (d: string) => this.onStderr(child, d));
    child.stdin!.on('error', () => undefined); // EPIPE after a death: reported by 'exit'
    child.on('error', (e) => this.onDeath(child, `ip -batch could not run: ${e.message}`));
    child.on('exit', (code, signal) => this.onDeath(child, `ip -batch exited (${signal ?? code})`));
    // Never keeps the agent alive; it ends when our stdin closes (also when we die).
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr] as unknown as { unref?: () => void }[]) s?.unref?.();
    return child;
  }

  private async exec(cmds: readonly IpCommand[], lines: string[]): Promise<IpLineResult[]> {
    if (lines.length === 0) return [];
    // `netns list` prints nothing at all, not even `[]`, while /run/netns does not exist (a host on which no named
    // namespace was ever created, e.g. a freshly installed hypervisor): the request would wait for a line that never
    // comes. Then that line is sent as one that always prints exactly one line (`link show dev lo`: every namespace
    // has lo) and its result is an empty list. (A namespace created meanwhile is only missed by this read.)
    const empty = new Set<number>();
    if (cmds.some(isNetnsList) && !(await exists(NETNS_DIR))) cmds.forEach((c, k) => isNetnsList(c) && empty.add(k));
    const sent = lines.map((l, k) => (empty.has(k) ? 'link show dev lo' : l));
    const child = await this.ensure();
    return new Promise<IpLineResult[]>((resolve, reject) => {
      const p: Pending = {
        first: this.lineNo + 1,
        sentinel: this.lineNo + lines.length + 1,
        cmds: [...cmds],
        lines,
        errors: new Map(),
        sentinelSeen: false,
        expectedOut: 0,
        out: [],
        empty,
        resolve,
        reject,
      };
      this.lineNo = p.sentinel;
      this.pending = p;
      p.timer = setTimeout(() => this.onDeath(child, `ip -batch timed out`, true), (this.opts.timeoutMs ?? 30_000) + 20 * lines.length);
      // The timer (ref'd) keeps the event loop alive while a request waits on the unref'd process.
      child.stdin!.write(sent.join('\n') + `\n${SENTINEL}\n`);
    });
  }

  private onStdout(child: ChildProcess, d: string): void {
    if (child !== this.child) return;
    // Search only the new chunk: a full dump is one JSON line of megabytes arriving in many chunks.
    let start = 0;
    let i: number;
    while ((i = d.indexOf('\n', start)) >= 0) {
      const line = this.stdoutBuf + d.slice(start, i);
      this.stdoutBuf = '';
      start = i + 1;
      if (line.trim() === '') continue;
      this.pending?.out.push(line);
    }
    this.stdoutBuf += d.slice(start);
    this.settle();
  }

  private onStderr(child: ChildProcess, d: string): void {
    if (child !== this.child) return;
    this.stderrBuf += d;
    let i: number;
    while ((i = this.stderrBuf.indexOf('\n')) >= 0) {
      const line = this.stderrBuf.slice(0, i);
      this.stderrBuf = this.stderrBuf.slice(i + 1);
      const m = FAILED.exec(line);
      if (!m) {
        this.stderrText += line + '\n';
        continue;
      }
      const n = Number(m[1]);
      const text = this.stderrText.trim();
      this.stderrText = '';
      const p = this.pending;
      if (!p || n < p.first || n > p.sentinel) continue;
      if (n === p.sentinel) {
        p.sentinelSeen = true;
        p.expectedOut = p.cmds.filter((c, k) => isRead(c) && !p.errors.has(p.first + k)).length;
      } else {
        p.errors.set(n, text || 'failed');
      }
    }
    this.settle();
  }

  private settle(): void {
    const p = this.pending;
    if (!p || !p.sentinelSeen || p.out.length < p.expectedOut) return;
    this.pending = undefined;
    clearTimeout(p.timer);
    let o = 0;
    try {
      const results = p.lines.map<IpLineResult>((line, k) => {
        const err = p.errors.get(p.first + k);
        if (err !== undefined) return { line, ok: false, error: err };
        if (!isRead(p.cmds[k])) return { line, ok: true };
        const output: unknown = JSON.parse(p.out[o++]);
        return { line, ok: true, output: p.empty.has(k) ? [] : output };
      });
      p.resolve(results);
    } catch (e) {
      // Output we cannot attribute: start again with a fresh process.
      this.stop();
      p.reject(new IpBatchError(`ip -batch output out of step: ${(e as Error).message}`));
    }
  }

  private onDeath(child: ChildProcess, why: string, kill = false): void {
    if (child !== this.child) return;
    this.child = undefined;
    if (kill) child.kill('SIGKILL');
    const p = this.pending;
    this.pending = undefined;
    if (!p) return;
    clearTimeout(p.timer);
    const done = [...p.errors.keys()].filter((n) => n < p.sentinel);
    const last = done.length ? Math.max(...done) : p.first - 1;
    const at = Math.min(last + 1 - p.first, p.lines.length - 1);
    const stderr = (this.stderrText + this.stderrBuf).trim();
    p.reject(
      new IpBatchError(`${why} at or after line ${at + 1} of ${p.lines.length} (${p.lines[Math.max(at, 0)]})${stderr ? `: ${stderr.slice(0, 500)}` : ''}`),
    );
  }
}

export function describeFailures(failed: IpLineResult[]): string {
  const shown = failed.slice(0, 5).map((f) => `\`${f.line}\`: ${f.error}`);
  return `${failed.length} ip operation(s) failed: ${shown.join('; ')}${failed.length > 5 ? '; …' : ''}`;
}
