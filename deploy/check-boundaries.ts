/**
 * The import rules between projects (deploy/module-boundaries.json; docs/workspace.md), checked on Nx's project
 * graph file by file: libs never import services, services never import each other, agents and libs never
 * import deploy. The same depConstraints feed @nx/enforce-module-boundaries when eslint runs; this check needs
 * no linter and runs in the unit tests (check-boundaries.spec.ts).
 * Usage: node -r ./deploy/register.js deploy/check-boundaries.ts   (exit 1 and one line per violation)
 */
import { readFileSync } from 'fs';
import * as path from 'path';

export interface DepConstraint {
  sourceTag: string;
  onlyDependOnLibsWithTags: string[];
}

export interface BoundaryRules {
  depConstraints: DepConstraint[];
  testDepConstraints: DepConstraint[];
  testExceptions: { file: string; project: string; why: string }[];
}

/** What the check needs of the graph: each project's tags and, per file, the projects it imports. */
export interface WorkspaceImports {
  tags: Record<string, string[]>;
  /** Project folder relative to the repository (absent in hand-made graphs). */
  roots?: Record<string, string>;
  files: { project: string; file: string; deps: string[] }[];
}

export interface Violation {
  file: string;
  from: string;
  to: string;
  rule: string;
}

export const TEST_FILE = /\.(spec|int-spec|lab-spec|e2e-spec)\.ts$/;

export function loadRules(file = path.join(__dirname, 'module-boundaries.json')): BoundaryRules {
  return JSON.parse(readFileSync(file, 'utf8')) as BoundaryRules;
}

/** Every import of one project by another that no rule allows; a project without a tag is a violation too. */
export function findViolations(ws: WorkspaceImports, rules: BoundaryRules): Violation[] {
  const out: Violation[] = [];
  const excepted = new Set(rules.testExceptions.map((e) => `${e.file}\0${e.project}`));
  for (const { project, file, deps } of ws.files) {
    const test = TEST_FILE.test(file);
    const constraints = (test ? rules.testDepConstraints : rules.depConstraints).filter((c) => (ws.tags[project] ?? []).includes(c.sourceTag));
    for (const to of new Set(deps)) {
      if (to === project || !(to in ws.tags)) continue; // same project, or an npm package
      if (test && excepted.has(`${file}\0${to}`)) continue;
      if (!constraints.length) {
        out.push({ file, from: project, to, rule: `project ${project} has no type:* tag with a rule` });
        continue;
      }
      const targetTags = ws.tags[to] ?? [];
      for (const c of constraints) {
        const ok = c.onlyDependOnLibsWithTags.some((t) => t === '*' || targetTags.includes(t));
        if (!ok)
          out.push({
            file,
            from: project,
            to,
            rule: `${c.sourceTag}${test ? ' (test)' : ''} may only import ${c.onlyDependOnLibsWithTags.join(', ') || 'nothing'}, not ${targetTags.join(', ') || 'untagged'}`,
          });
      }
    }
  }
  return out;
}

/** The workspace's imports from Nx's project graph (no daemon, no cloud: nx.json says so). */
export async function workspaceImports(): Promise<WorkspaceImports> {
  const { createProjectGraphAsync } = await import('@nx/devkit');
  const graph = await createProjectGraphAsync({ exitOnError: false });
  // Per-file imports are in the file map Nx caches while it builds the graph (the devkit's file map has none).
  const { readFileMapCache } = await import('nx/src/project-graph/nx-deps-cache');
  const cache = readFileMapCache();
  if (!cache) throw new Error('nx wrote no file map (.nx/workspace-data/file-map.json)');
  const tags: Record<string, string[]> = {};
  const roots: Record<string, string> = {};
  for (const [name, node] of Object.entries(graph.nodes)) {
    tags[name] = node.data.tags ?? [];
    roots[name] = node.data.root;
  }
  const files: WorkspaceImports['files'] = [];
  for (const [project, list] of Object.entries(cache.fileMap.projectFileMap)) {
    // A dependency is a target name, [target, type] or [source, target, type].
    const target = (d: string | string[]) => (typeof d === 'string' ? d : d.length === 3 ? d[1] : d[0]);
    for (const f of list) files.push({ project, file: f.file, deps: (f.deps ?? []).map(target) });
  }
  return { tags, roots, files };
}

if (require.main === module) {
  (async () => {
    const violations = findViolations(await workspaceImports(), loadRules());
    for (const v of violations) process.stdout.write(`${v.file}: ${v.from} -> ${v.to}: ${v.rule}\n`);
    if (violations.length) process.exit(1);
    process.stdout.write('module boundaries: ok\n');
  })().catch((e) => {
    process.stderr.write(`check-boundaries failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  });
}
