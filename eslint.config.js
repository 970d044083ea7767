// Lint: typed rules everywhere (no floating promises), and determinism guards
// for workflow code, which Temporal replays: no Node built-ins under workflows/.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'web/dist/**', '.data/**', '.tools/**', 'test-results/**', 'bench/_scratch/**', 'test/support/contracts/artifacts.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['web/*.ts'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's test()/describe() return promises the runner itself awaits.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }] },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      'no-console': 'off',
    },
  },
  // Layers: a domain's public surface is its index.ts. Outside a domain, nothing reaches behind it;
  // inside one, nothing reaches behind another domain's, and nothing imports the HTTP or Temporal
  // adapter layers (api/, activities/). Tests and benchmarks may reach internals they test.
  {
    files: ['api/**/*.ts', 'activities/**/*.ts', 'worker/**/*.ts', 'scripts/**/*.ts', 'lib/**/*.ts', 'config/**/*.ts', 'mcp/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '(^|/)domains/[^/]+/[^/]+$', message: "Import a domain through its index (domains/<name>), not the files behind it." }] },
      ],
    },
  },
  {
    files: ['domains/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^\\.\\./[^./][^/]*/[^/]+$', message: "Import another domain through its index ('../<name>'), not the files behind it." },
            { regex: '^(\\.\\./)+(api|activities|worker)(/|$)', message: 'A domain never imports the HTTP layer, the Temporal activities or the worker.' },
          ],
        },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Workflow code is replayed deterministically: no Node built-ins.' })),
          patterns: [
            { group: ['../activities', '../activities/*'], allowTypeImports: true, message: 'Import activity types only (import type).' },
            { group: ['../domains/*', '../lib/*', '../api/*'], message: 'Workflow code may import only workflow-safe modules.' },
          ],
        },
      ],
      'no-restricted-globals': ['error', { name: 'setTimeout', message: 'Use sleep() or condition() from @temporalio/workflow.' }, { name: 'setInterval', message: 'Use sleep() in a loop.' }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: Object.fromEntries(
        ['process', 'console', 'URL', 'Buffer', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'fetch', 'AbortController', 'AbortSignal'].map((g) => [g, 'readonly']),
      ),
    },
  },
);
