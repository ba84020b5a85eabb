import { defineConfig } from 'vitest/config';

// One run over every workspace project. CI (VITEST_JSON set) also writes
// vitest's JSON report, from which .ci/run prints its summary line.
const json = process.env.VITEST_JSON;

export default defineConfig({
  test: {
    // Each app's and example's folder by its config: apps/ also holds CLI.md.
    projects: ['packages/*', 'apps/*/vitest.config.ts', 'examples/*/vitest.config.ts', 'bench'],
    reporters: json ? ['default', ['json', { outputFile: json }]] : ['default'],
  },
});
