import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const frameworks = ['@nestjs/*', 'next', 'next/*', '@prisma/*', 'prisma', 'bullmq', 'react', 'react-dom'];

const boundaries = (routingExternals) => [
  'error',
  {
    enforceBuildableLibDependency: false,
    allow: [],
    depConstraints: [
      // Apps depend on libs only: no app imports another app.
      { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib'] },
      // Libs depend on libs only, and never on the frameworks the apps are built with.
      { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'], bannedExternalImports: frameworks },
      // The domain depends on nothing of ours.
      { sourceTag: 'lib:domain', onlyDependOnLibsWithTags: [] },
      // Routing is a pure policy over the domain types.
      { sourceTag: 'lib:routing', onlyDependOnLibsWithTags: ['lib:domain'], allowedExternalImports: routingExternals },
    ],
  },
];

export default [
  { ignores: ['**/node_modules/**', '**/dist/**', '**/.next/**', '**/generated/**', '**/next-env.d.ts', 'tmp/**', '.nx/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx', '**/*.js', '**/*.mjs'],
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': boundaries([]),
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: "CallExpression[callee.object.name=/^(describe|it|test)$/][callee.property.name='only']", message: 'no .only in tests' }],
    },
  },
  {
    // Tests of the routing policy may use the property-testing library.
    files: ['libs/routing/**/*.spec.ts'],
    rules: { '@nx/enforce-module-boundaries': boundaries(['fast-check']) },
  },
  {
    files: ['**/*.js', 'jest.preset.js', 'tools/**/*.js'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Tool configuration files are not project code: they may reach the workspace's shared presets.
    files: ['**/jest.config.js', '**/next.config.mjs'],
    rules: { '@nx/enforce-module-boundaries': 'off' },
  },
  {
    // The portal's end-to-end test starts the same real processes (API, agents, sample databases) as the
    // agent's cluster tests, through their test support; test code only, never the portal's own code.
    files: ['apps/web/e2e/**/*.ts'],
    rules: { '@nx/enforce-module-boundaries': 'off' },
  },
];
