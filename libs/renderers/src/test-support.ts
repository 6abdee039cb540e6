/** Test-only helpers: run the real BIRD / FRR parsers on a rendered config (argument arrays, no shell). */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CheckResult {
  ok: boolean;
  output: string;
}

function withFile<T>(name: string, text: string, fn: (file: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'fabric-renderers-'));
  try {
    // FRR daemons drop to the `frr` user before reading the file.
    chmodSync(dir, 0o755);
    const file = join(dir, name);
    writeFileSync(file, text, { mode: 0o644 });
    return fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 20000 });
  // A missing binary must fail the test, not skip it: install with `apt-get install -y bird2 frr`.
  if (r.error) throw new Error(`${cmd} could not run (${r.error.message}); install: apt-get install -y bird2 frr`);
  return r;
}

/** `bird -p -c <file>`: parse the config and exit; 0 when valid. */
export function birdCheck(config: string): CheckResult {
  return withFile('bird.conf', config, (file) => {
    const r = run('bird', ['-p', '-c', file]);
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
  });
}

/**
 * `vtysh -C -f` checks syntax only (exit 2 on an unknown command); `bgpd -C -f` also validates values
 * (e.g. prefix ranges) but always exits 0, so its log is scanned for FRR error codes. Static routes are
 * staticd's: bgpd gets the file without them, staticd only them (each daemon checks its own commands).
 */
export function frrCheck(config: string): CheckResult {
  const isStatic = (l: string) => /^ipv?6? route /.test(l) || /^ip route /.test(l);
  const lines = config.split('\n');
  const errorsOf = (daemon: string, text: string) =>
    withFile(`${daemon}.conf`, text, (file) => {
      // bgpd with bgpd_bmp (as the core runs it): the BMP station's commands are the module's.
      const b = run(`/usr/lib/frr/${daemon}`, ['-C', ...(daemon === 'bgpd' ? ['-M', 'bmp'] : []), '-f', file]);
      return `${b.stdout}${b.stderr}`.split('\n').filter((l) => /\[EC \d+\]|Configuration failed/.test(l));
    });
  // The top-level `bfd` block (up to its closing `exit`) is bfdd's, as static routes are staticd's.
  const bfdStart = lines.indexOf('bfd');
  const bfdEnd = bfdStart < 0 ? -1 : lines.indexOf('exit', bfdStart);
  const bfdLines = bfdStart < 0 ? [] : lines.slice(bfdStart, bfdEnd + 1);
  const rest = bfdStart < 0 ? lines : [...lines.slice(0, bfdStart), ...lines.slice(bfdEnd + 1)];
  return withFile('frr.conf', config, (file) => {
    const v = run('vtysh', ['-C', '-f', file]);
    const bgpdErrors = errorsOf('bgpd', rest.filter((l) => !isStatic(l)).join('\n'));
    const statics = lines.filter(isStatic);
    const staticdErrors = statics.length ? errorsOf('staticd', statics.join('\n') + '\n') : [];
    const bfddErrors = bfdLines.length ? errorsOf('bfdd', bfdLines.join('\n') + '\n') : [];
    return {
      ok: v.status === 0 && bgpdErrors.length === 0 && staticdErrors.length === 0 && bfddErrors.length === 0,
      output:
        `vtysh exit ${v.status}: ${v.stdout}${v.stderr}\nbgpd: ${bgpdErrors.join('\n')}` +
        `${staticdErrors.length ? `\nstaticd: ${staticdErrors.join('\n')}` : ''}${bfddErrors.length ? `\nbfdd: ${bfddErrors.join('\n')}` : ''}`,
    };
  });
}
