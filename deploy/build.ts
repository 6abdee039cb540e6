/**
 * `nx run <project>:build`: compiles one project's production TypeScript (specs left out) with swc — decorator
 * metadata kept for NestJS, tsconfig path aliases rewritten to relative paths — into dist/<project root>.
 * dist/ mirrors the repository, so compiled projects find each other (`^build` builds the libraries first) and
 * packages resolve from the repository's node_modules: `node dist/services/ipam/src/main.js`.
 * Usage: node -r ./deploy/register.js deploy/build.ts <project root>
 */
import { promises as fs, readFileSync } from 'fs';
import * as path from 'path';
import { transformFile } from '@swc/core';

const REPO = path.resolve(__dirname, '..');
const OUT = path.join(REPO, 'dist');
const TEST_FILE = /\.(spec|int-spec|e2e-spec)\.ts$/;

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!['node_modules', 'dist', '__golden__'].includes(e.name)) out.push(...(await sources(p)));
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') && !TEST_FILE.test(e.name)) out.push(p);
  }
  return out;
}

async function main(): Promise<void> {
  const arg = process.argv[2];
  const root = arg ? path.resolve(REPO, arg) : '';
  if (!arg || path.relative(REPO, root).startsWith('..') || root === REPO) throw new Error('usage: build.ts <project root inside the repository>');
  const swcrc = JSON.parse(readFileSync(path.join(REPO, '.swcrc'), 'utf8'));
  const { compilerOptions } = JSON.parse(readFileSync(path.join(REPO, 'tsconfig.base.json'), 'utf8'));
  const files = await sources(root);
  const outRoot = path.join(OUT, path.relative(REPO, root));
  await fs.rm(outRoot, { recursive: true, force: true });
  for (const file of files) {
    const { code, map } = await transformFile(file, {
      ...swcrc,
      swcrc: false,
      filename: file,
      sourceMaps: true,
      jsc: { ...swcrc.jsc, baseUrl: REPO, paths: compilerOptions.paths },
    });
    const out = path.join(OUT, path.relative(REPO, file)).replace(/\.ts$/, '.js');
    await fs.mkdir(path.dirname(out), { recursive: true });
    await fs.writeFile(out, `${code}\n//# sourceMappingURL=${path.basename(out)}.map\n`);
    if (map) await fs.writeFile(`${out}.map`, map);
  }
  process.stdout.write(`${path.relative(REPO, root)}: ${files.length} files -> ${path.relative(REPO, outRoot)}\n`);
}

main().catch((e) => {
  process.stderr.write(`build failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
