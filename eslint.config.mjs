// Lint gate (npm run lint; deploy/test.sh runs it after the type gate). Type-aware typescript-eslint over every
// TypeScript file, each checked with the tsconfig that owns it (tsconfig.json, or dashboard/tsconfig.json).
// Only rules that find bugs or keep types honest; layout is Prettier's job (npm run format:check).
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores(['**/node_modules/', '**/dist/', '.data/', '.nx/', 'coverage/', 'artifacts/']),
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: {
        // vite.config.ts is in no tsconfig: it gets a default program.
        projectService: { allowDefaultProject: ['dashboard/vite.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      // A promise nobody awaits loses its rejection (an unhandled rejection kills the process) and its ordering.
      '@typescript-eslint/no-floating-promises': 'error',
      // An async function where a void callback is expected (event emitters, timers, Array.forEach) runs unawaited.
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      // Type-only imports vanish from the emitted JS; files with decorators are left alone (their metadata needs values).
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  {
    // Events are a discriminated union on `type`: narrow (switch, dispatchEvent) instead of asserting what `data`
    // is, so a changed contract breaks the build rather than the read model. Tests may forge ill-typed events.
    files: ['**/*.ts', '**/*.tsx'],
    ignores: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts', '**/*.lab-spec.ts', 'e2e/**', 'libs/testing/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        ...['TSAsExpression', 'TSTypeAssertion'].flatMap((node) =>
          ['', 'ChainExpression > '].map((via) => ({
            selector: `${node} > ${via}MemberExpression.expression[property.name='data']`,
            message: 'No type assertion on `.data`: narrow the event by its `type` (or use dispatchEvent / EventHandlers).',
          })),
        ),
      ],
    },
  },
  {
    // Tests and their helpers read untyped JSON off HTTP and the bus and send deliberately ill-typed payloads
    // (bad-input, fuzz, billing contract specs); `any` there never reaches the product, and tsc still checks the rest.
    files: ['**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts', '**/*.lab-spec.ts', 'e2e/**', 'libs/testing/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
