/** deploy/build.ts: the agent's build holds the agent and the libraries it imports, nothing of deploy/ or the lab. */
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

const ROOT = path.resolve(__dirname, '..');

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

describe('build (deploy/build.ts)', () => {
  const out = path.join(ROOT, 'dist', `test-${randomBytes(4).toString('hex')}`);
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('given the agents project, when built, then it runs and holds no deploy/, lab or test file', () => {
    execFileSync(process.execPath, ['-r', './deploy/register.js', 'deploy/build.ts', 'agents', '--out', out], { cwd: ROOT, stdio: 'pipe' });
    const files = walk(out).map((f) => path.relative(out, f));
    expect(files).toContain('agents/src/main.js');
    expect(files).toContain('libs/lab-state/src/index.js');
    expect(files.filter((f) => f.startsWith('deploy/') || /spec\.js$/.test(f) || f.startsWith('libs/testing/'))).toEqual([]);
    const help = execFileSync(process.execPath, [path.join(out, 'agents/src/main.js'), '--help'], { cwd: ROOT, encoding: 'utf8' });
    expect(help).toMatch(/^usage: agent --role/);
  });

  it('given an output folder outside the repository, then it refuses', () => {
    expect(() =>
      execFileSync(process.execPath, ['-r', './deploy/register.js', 'deploy/build.ts', 'agents', '--out', '/tmp/x'], { cwd: ROOT, stdio: 'pipe' }),
    ).toThrow(/--out must be a folder inside/);
  });
});
