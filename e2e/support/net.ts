import { execFile } from 'node:child_process';

/** Runs a command (argument array, no shell), inside a network namespace when given. */
export function runIn(namespace: string | undefined, cmd: string, args: string[], timeoutMs = 10000, allowFailure = false): Promise<string> {
  const [file, argv] = namespace ? ['ip', ['netns', 'exec', namespace, cmd, ...args]] : [cmd, args];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: timeoutMs }, (err, stdout, stderr) =>
      err && !(allowFailure && typeof err.code === 'number') ? reject(new Error(`${file} ${argv.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
    );
  });
}
