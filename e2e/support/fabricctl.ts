/** The real operator CLI (cli/fabricctl wrapper) as a child process: argument arrays, exit code and both streams. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';

export const FABRICCTL = join(__dirname, '../../cli/fabricctl');

export interface CtlRun {
  code: number;
  out: string;
  err: string;
}

/** A runner bound to one API and token; `ok()` expects exit 0 and an empty stderr and returns stdout. */
export function fabricctl(api: string, token: string) {
  const env = { ...process.env, FABRIC_API: api, FABRIC_TOKEN: token };
  const ctl = (...args: string[]): Promise<CtlRun> =>
    new Promise((resolve) => {
      execFile(FABRICCTL, args, { env, timeout: 60000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, out: stdout.trimEnd(), err: stderr.trimEnd() }),
      );
    });
  const ok = async (...args: string[]): Promise<string> => {
    const r = await ctl(...args);
    if (r.code !== 0 || r.err !== '') throw new Error(`fabricctl ${args.join(' ')}: exit ${r.code}: ${r.err}`);
    return r.out;
  };
  const json = async <T = any>(...args: string[]): Promise<T> => JSON.parse(await ok(...args, '--json')) as T;
  return { ctl, ok, json };
}
