import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const frameworks = ['@nestjs/*', 'next', 'next/*', '@prisma/*', 'prisma', 'bullmq', 'react', 'react-dom'];

// Test code: the only code that may import the shared test support (libs/testing, tagged type:test).
const tests = ['apps/*/test/**', 'apps/*/bench/**', 'apps/web/e2e/**', '**/*.spec.ts', '**/*.int-spec.ts', '**/*.e2e-spec.ts', 'tools/**'];

const boundaries = ({ routingExternals = [], test = false } = {}) => {
  // In test code every project may also depend on the test support; elsewhere no project may.
  const libs = (...tags) => (test ? [...tags, 'type:test'] : tags);
  return [
    'error',
    {
      enforceBuildableLibDependency: false,
      allow: [],
      depConstraints: [
        // Apps depend on libs only: no app imports another app.
        { sourceTag: 'type:app', onlyDependOnLibsWithTags: libs('type:lib') },
        // Libs depend on libs only, and never on the frameworks the apps are built with.
        { sourceTag: 'type:lib', onlyDependOnLibsWithTags: libs('type:lib'), bannedExternalImports: frameworks },
        // The domain depends on nothing of ours.
        { sourceTag: 'lib:domain', onlyDependOnLibsWithTags: libs() },
        // Routing is a pure policy over the domain types.
        { sourceTag: 'lib:routing', onlyDependOnLibsWithTags: libs('lib:domain'), allowedExternalImports: routingExternals },
        // The test support starts the apps by their entry files, never by importing them; it may use the libs.
        { sourceTag: 'type:test', onlyDependOnLibsWithTags: ['type:lib'] },
      ],
    },
  ];
};

export default [
  { ignores: ['**/node_modules/**', '**/dist/**', '**/.next/**', '**/generated/**', '**/next-env.d.ts', 'tmp/**', '.nx/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx', '**/*.js', '**/*.mjs'],
    plugins: { '@nx': nx },
    rules: {
      '@nx/enforce-module-boundaries': boundaries(),
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: "CallExpression[callee.object.name=/^(describe|it|test)$/][callee.property.name='only']", message: 'no .only in tests' }],
    },
  },
  {
    files: tests,
    rules: { '@nx/enforce-module-boundaries': boundaries({ test: true }) },
  },
  {
    // Tests of the routing policy may use the property-testing library.
    files: ['libs/routing/**/*.spec.ts'],
    rules: { '@nx/enforce-module-boundaries': boundaries({ routingExternals: ['fast-check'], test: true }) },
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
];
