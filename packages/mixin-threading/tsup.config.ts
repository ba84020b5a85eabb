import { defineConfig } from 'tsup';

// The library (ESM + CJS + types), and the script each worker thread runs
// (dist/worker.js, ESM only: both builds of the library start it from there).
// `pnpm run build` empties dist/ first.
export default defineConfig([
  {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    clean: false,
    sourcemap: true,
    shims: true,
    target: 'node20',
    platform: 'node',
  },
  {
    entry: ['src/worker.ts'],
    format: ['esm'],
    dts: false,
    clean: false,
    sourcemap: true,
    target: 'node20',
    platform: 'node',
  },
]);
