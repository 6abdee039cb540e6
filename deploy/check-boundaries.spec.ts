import { findViolations, loadRules, workspaceImports, type WorkspaceImports } from './check-boundaries';

const rules = loadRules();
const tags = {
  renderers: ['type:lib'],
  testing: ['type:test-lib'],
  ipam: ['type:service'],
  gateway: ['type:service'],
  agents: ['type:agent'],
  lab: ['type:lab-harness'],
  deploy: ['type:tooling'],
  e2e: ['type:e2e'],
};
const one = (project: string, file: string, ...deps: string[]): WorkspaceImports => ({ tags, files: [{ project, file, deps }] });

describe('module boundaries (deploy/module-boundaries.json)', () => {
  it('given the workspace as Nx sees it, then no import crosses a rule', async () => {
    const violations = await workspaceImports().then((ws) => findViolations(ws, rules));
    expect(violations).toEqual([]);
  });

  it.each([
    ['a lib imports a service', one('renderers', 'libs/renderers/src/x.ts', 'ipam')],
    ['a service imports another service', one('gateway', 'services/gateway/src/x.ts', 'ipam')],
    ['the agent imports the lab harness', one('agents', 'agents/src/main.ts', 'lab')],
    ['the agent imports deploy', one('agents', 'agents/src/main.ts', 'deploy')],
    ['production code imports a test library', one('ipam', 'services/ipam/src/x.ts', 'testing')],
    ['a lib test imports the lab harness', one('renderers', 'libs/renderers/src/x.spec.ts', 'lab')],
    ['an untagged project imports anything', { tags: { ...tags, new: [] }, files: [{ project: 'new', file: 'new/x.ts', deps: ['renderers'] }] }],
  ])('given %s, then it is a violation', (_label, ws) => {
    expect(findViolations(ws, rules)).toHaveLength(1);
  });

  it.each([
    ['a service imports libs and npm packages', one('ipam', 'services/ipam/src/x.ts', 'renderers', 'npm:pino')],
    ['an agent test builds a lab', one('agents', 'agents/src/x.int-spec.ts', 'lab', 'testing')],
    ['the lab harness starts BIRD with the agent drivers', one('lab', 'deploy/lab/topology.ts', 'agents')],
    ['an e2e suite imports anything', one('e2e', 'e2e/x.e2e-spec.ts', 'gateway', 'lab', 'deploy')],
  ])('given %s, then it is allowed', (_label, ws) => {
    expect(findViolations(ws, rules)).toEqual([]);
  });
});
