/** Talks to the supervisor of a data dir over its unix socket; starts it when none answers. */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { MARKER, type ProgramSpec, type ProgramStatus, socketPath, stateFile, type SupervisorStatus } from './supervisor';

const ROOT = path.resolve(__dirname, '..');

export class SupervisorClient {
  constructor(readonly dataDir: string) {
    this.dataDir = path.resolve(dataDir);
  }

  call<T>(method: string, urlPath: string, body?: unknown, timeoutMs = 60_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const req = request(
        { socketPath: socketPath(this.dataDir), method, path: urlPath, headers: { 'content-type': 'application/json' }, timeout: timeoutMs },
        (res) => {
          let text = '';
          res.on('data', (c) => (text += c));
          res.on('end', () => {
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = text;
            }
            const error = typeof parsed === 'object' && parsed !== null && 'error' in parsed ? parsed.error : undefined;
            if ((res.statusCode ?? 500) >= 300) reject(new Error(`supervisor ${method} ${urlPath}: ${res.statusCode} ${String(error ?? text)}`));
            else resolve(parsed as T);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`supervisor ${method} ${urlPath}: no answer within ${timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  /** The live status, or undefined when no supervisor answers. */
  async status(): Promise<SupervisorStatus | undefined> {
    if (!existsSync(socketPath(this.dataDir))) return undefined;
    return this.call<SupervisorStatus>('GET', '/status', undefined, 5000).catch(() => undefined);
  }

  /** The last state the supervisor wrote (when it is gone: what it last knew). */
  lastState(): SupervisorStatus | undefined {
    try {
      return JSON.parse(readFileSync(stateFile(this.dataDir), 'utf8')) as SupervisorStatus;
    } catch {
      return undefined;
    }
  }

  ensure(spec: ProgramSpec, reset = false): Promise<ProgramStatus> {
    const { name, ...rest } = spec;
    return this.call('PUT', `/programs/${encodeURIComponent(name)}${reset ? '?reset=1' : ''}`, { name, ...rest });
  }

  remove(name: string): Promise<void> {
    return this.call('DELETE', `/programs/${encodeURIComponent(name)}`);
  }

  stop(keep: string[] = []): Promise<{ stopped: string[]; remaining: string[]; exiting: boolean }> {
    return this.call('POST', '/stop', { keep }, 120_000);
  }

  /** Starts the supervisor (detached, its own session) unless one answers; resolves when it does. */
  async start(): Promise<SupervisorStatus> {
    const live = await this.status();
    if (live) return live;
    const logs = path.join(this.dataDir, 'logs');
    mkdirSync(logs, { recursive: true });
    const out = openSync(path.join(logs, 'supervisor.log'), 'a');
    const child = spawn(
      process.execPath,
      ['-r', path.join(ROOT, 'deploy', 'register.js'), path.join(ROOT, 'deploy', 'supervisor.ts'), '--data', this.dataDir],
      {
        cwd: ROOT,
        detached: true,
        stdio: ['ignore', out, out],
        env: { ...process.env, [MARKER]: this.dataDir },
      },
    );
    closeSync(out);
    child.unref();
    let exited: string | undefined;
    child.once('exit', (code, signal) => (exited = `${code ?? signal}`));
    const deadline = Date.now() + 30_000;
    for (;;) {
      const s = await this.status();
      if (s) return s;
      if (exited !== undefined) throw new Error(`the supervisor exited (${exited}) before answering: see ${path.join(logs, 'supervisor.log')}`);
      if (Date.now() > deadline) throw new Error(`the supervisor did not answer within 30 s: see ${path.join(logs, 'supervisor.log')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Resolves when `pred` holds for the program's status (tests and the launcher synchronise on this, not on sleeps). */
  async waitFor(name: string, pred: (p: ProgramStatus) => boolean, timeoutMs = 60_000): Promise<ProgramStatus> {
    const deadline = Date.now() + timeoutMs;
    let last: ProgramStatus | undefined;
    for (;;) {
      last = (await this.status())?.programs.find((p) => p.name === name);
      if (last && pred(last)) return last;
      if (Date.now() > deadline) throw new Error(`${name}: condition not reached within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
