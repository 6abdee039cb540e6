/**
 * `nx run <project>:build`: compiles a project's production TypeScript (specs left out) and that of every project
 * its production code imports, transitively (from Nx's file-level import graph), with swc — decorator metadata kept
 * for NestJS, tsconfig path aliases rewritten to relative paths — into dist/<project root>/, laid out like the
 * repository. The tree is self-contained; packages resolve from the repository's node_modules:
 *   node dist/services/ipam/services/ipam/src/main.js
 * Tests may import across projects (test libraries, the lab harness): they are not followed, so nothing of them
 * lands in a build (dist/agents holds no deploy/ file).
 * Usage: node -r ./deploy/register.js deploy/build.ts <project root> [--out <dir inside the repository>]
 */
import { promises as fs, readFileSync } from 'fs';
import * as path from 'path';
import { transformFile } from '@swc/core';
import { TEST_FILE, workspaceImports } from './check-boundaries';

const REPO = path.resolve(__dirname, '..');

async function main(): Promise<void> {
  const arg = process.argv[2]?.replace(/\/+$/, '');
  const outFlag = process.argv.indexOf('--out');
  const ws = await workspaceImports();
  const roots = ws.roots ?? {};
  const project = Object.keys(roots).find((p) => roots[p] === arg);
  if (!arg || !project) throw new Error(`usage: build.ts <project root>; roots: ${Object.values(roots).sort().join(', ')}`);

  const production = (p: string) => ws.files.filter((f) => f.project === p && f.file.endsWith('.ts') && !f.file.endsWith('.d.ts') && !TEST_FILE.test(f.file));
  const closure = new Set([project]);
  for (const p of closure) for (const f of production(p)) for (const d of f.deps) if (d in roots) closure.add(d);
  const files = [...closure].flatMap((p) => production(p).map((f) => f.file));

  const swcrc = JSON.parse(readFileSync(path.join(REPO, '.swcrc'), 'utf8'));
  const { compilerOptions } = JSON.parse(readFileSync(path.join(REPO, 'tsconfig.base.json'), 'utf8'));
  const outRoot = outFlag > 0 ? path.resolve(REPO, process.argv[outFlag + 1] ?? '') : path.join(REPO, 'dist', arg);
  // Inside the repository, so the compiled files find node_modules; never the repository itself.
  if (path.relative(REPO, outRoot).startsWith('..') || outRoot === REPO) throw new Error(`--out must be a folder inside ${REPO}`);
  await fs.rm(outRoot, { recursive: true, force: true });
  for (const rel of files) {
    const file = path.join(REPO, rel);
    const { code, map } = await transformFile(file, {
      ...swcrc,
      swcrc: false,
      filename: file,
      sourceMaps: true,
      jsc: { ...swcrc.jsc, baseUrl: REPO, paths: compilerOptions.paths },
    });
    const out = path.join(outRoot, rel).replace(/\.ts$/, '.js');
    await fs.mkdir(path.dirname(out), { recursive: true });
    await fs.writeFile(out, `${code}\n//# sourceMappingURL=${path.basename(out)}.map\n`);
    if (map) await fs.writeFile(`${out}.map`, map);
  }
  process.stdout.write(`${arg}: ${files.length} files of ${[...closure].sort().join(', ')} -> ${path.relative(REPO, outRoot)}\n`);
}

main().catch((e) => {
  process.stderr.write(`build failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
