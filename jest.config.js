// One jest run for the whole workspace. Path aliases mirror tsconfig.base.json.
const { compilerOptions } = require('./tsconfig.base.json');
const moduleNameMapper = {};
for (const [alias, [target]] of Object.entries(compilerOptions.paths)) {
  if (alias.endsWith('/*')) moduleNameMapper[`^${alias.slice(0, -2)}/(.*)$`] = `<rootDir>/${target.slice(0, -2)}/$1`;
  else moduleNameMapper[`^${alias}$`] = `<rootDir>/${target}`;
}
const swc = JSON.parse(require('fs').readFileSync(__dirname + '/.swcrc', 'utf8'));
const base = {
  rootDir: __dirname,
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest', { ...swc, swcrc: false }] },
  moduleNameMapper,
  setupFiles: ['reflect-metadata'],
};
module.exports = {
  testTimeout: 300000,
  projects: [
    // pure domain logic: deciders, IPAM math, renderers, parsers
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/{libs,services,agents,cli,deploy}/**/*.spec.ts'] },
    // against real NATS JetStream and Postgres
    { ...base, displayName: 'integration', testMatch: ['<rootDir>/{libs,services,agents,e2e,cli}/**/*.int-spec.ts'] },
    // as root, each on a lab of its own (BIRD/FRR in network namespaces): the agents against real daemons
    { ...base, displayName: 'lab', testMatch: ['<rootDir>/{libs,services,agents,cli,deploy}/**/*.lab-spec.ts'] },
    // the lab: real BIRD/FRR in network namespaces, the product over HTTP
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/e2e/**/*.e2e-spec.ts'] },
  ],
};
