// Type-aware linting (typescript-eslint's recommended-type-checked rules) of everything tsc builds.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'src/convert/tflite/schema/', 'web/build.mjs', 'scripts/*.mjs', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Async functions without await are how this code implements promise-returning interfaces.
      '@typescript-eslint/require-await': 'off',
      // Pipelines are callable classes: an interface merged with the class carries the call signatures.
      '@typescript-eslint/no-unsafe-declaration-merging': 'off',
      // Parsers of untrusted text match control characters on purpose (see src/describe.ts).
      'no-control-regex': 'off',
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }],
      }],
    },
  },
  {
    // Tests, benchmarks and the fuzzer inspect JSON output and foreign libraries' untyped results.
    files: ['test/**', 'bench/**', 'fuzz/**'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
    },
  },
);
