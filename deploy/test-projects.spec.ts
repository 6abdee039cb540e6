/**
 * `npm test` (deploy/test.sh) selects jest projects by name: a project it does not name, or a test file no
 * project matches, would silently never run.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { globsToMatcher } from 'jest-util';

const ROOT = path.resolve(__dirname, '..');

const config = require('../jest.config.js') as { projects: { displayName: string; testMatch: string[] }[] };

describe('jest projects and deploy/test.sh', () => {
  it('given the jest projects, then test.sh selects every one of them', () => {
    const script = readFileSync(path.join(ROOT, 'deploy/test.sh'), 'utf8');
    const selected = [...script.matchAll(/^npx jest .*--selectProjects ([\w ]+?)\s*(?:\|\||$)/gm)].flatMap((m) => m[1].trim().split(/\s+/));
    expect(selected.sort()).toEqual(config.projects.map((p) => p.displayName).sort());
  });

  it('given every test file in the repository, then exactly one jest project runs it', () => {
    const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '*spec.ts'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter((f) => /\.([a-z]+-)?spec\.ts$/.test(f)); // x.spec.ts, x.int-spec.ts, …; not a helper like decider-spec.ts
    expect(files.length).toBeGreaterThan(50);
    const matchers = config.projects.map((p) => globsToMatcher(p.testMatch.map((g) => g.replace('<rootDir>', ROOT))));
    const wrong = files.filter((f) => matchers.filter((m) => m(path.join(ROOT, f))).length !== 1);
    expect(wrong).toEqual([]);
  });
});
