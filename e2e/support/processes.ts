/**
 * Services as separate OS processes (`node -r ./deploy/register.js services/<svc>/src/main.ts`), for tests
 * that need real concurrency between processes or a `kill -9`. Every child is tracked so a test's
 * afterAll can kill whatever is still running, even when the test failed half-way.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const children = new Set<ServiceProcess>();

export class ServiceProcess {
  readonly output: string[] = [];
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;

  constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    const keep = (b: Buffer) => {
      this.output.push(b.toString());
      if (this.output.length > 400) this.output.splice(0, this.output.length - 400);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    this.exited = new Promise((resolve) =>
      proc.on('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        children.delete(this);
        resolve(code);
      }),
    );
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Resolves once `marker` appears in the output; rejects if the process exits first. */
  async waitFor(marker: string | RegExp, timeoutMs = 60000): Promise<void> {
    const seen = () => {
      const text = this.output.join('');
      return typeof marker === 'string' ? text.includes(marker) : marker.test(text);
    };
    const deadline = Date.now() + timeoutMs;
    while (!seen()) {
      if (!this.running) throw new Error(`${this.name} exited before "${marker}":\n${this.output.join('')}`);
      if (Date.now() > deadline) throw new Error(`${this.name} not ready after ${timeoutMs} ms:\n${this.output.join('')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGKILL (kill -9): no shutdown hooks, no acks, no drains. */
  async kill9(): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, then SIGKILL if it does not exit in time. */
  async stop(timeoutMs = 10000): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export function spawnService(service: 'ipam' | 'inventory' | 'gateway' | 'rr-config' | 'projector', env: Record<string, string>): ServiceProcess {
  const proc = spawn(process.execPath, ['-r', './deploy/register.js', `services/${service}/src/main.ts`], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const child = new ServiceProcess(service, proc);
  children.add(child);
  return child;
}

/** Any program of the repository (`node -r ./deploy/register.js <args>`), tracked like the services. */
export function spawnProgram(name: string, args: string[], env: Record<string, string> = {}): ServiceProcess {
  const proc = spawn(process.execPath, ['-r', './deploy/register.js', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const child = new ServiceProcess(name, proc);
  children.add(child);
  return child;
}

/** Starts an IPAM process on a namespace and waits until its durable consumer is listening. */
export async function startIpamProcess(ns: string, env: Record<string, string> = {}): Promise<ServiceProcess> {
  const child = spawnService('ipam', { FABRIC_NS: ns, IPAM_RELEASE_COOLDOWN_MS: '0', ...env });
  try {
    await child.waitFor('Nest microservice successfully started');
  } catch (err) {
    await child.kill9();
    throw err;
  }
  return child;
}

/** Kills every child still running (afterAll). */
export async function killAllChildren(): Promise<void> {
  await Promise.all([...children].map((c) => c.kill9()));
}
