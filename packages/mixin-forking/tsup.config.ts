import { defineConfig } from 'tsup';

export default defineConfig([
  {
    // The library: ESM and CJS, with types. `shims` gives the CJS build an
    // `import.meta.url`, which locates the child script beside it.
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    clean: false,
    shims: true,
    sourcemap: true,
    target: 'node20',
    platform: 'node',
  },
  {
    // The child process's entry script: ESM only, forked by file path.
    entry: { child: 'src/child.ts' },
    format: ['esm'],
    dts: false,
    clean: false,
    sourcemap: true,
    target: 'node20',
    platform: 'node',
  },
]);
