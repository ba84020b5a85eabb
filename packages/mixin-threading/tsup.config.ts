import { defineConfig } from 'tsup';

// Two entries: the library, and the script each worker thread runs
// (dist/worker.js, found next to the library at run time).
export default defineConfig({
  entry: ['src/index.ts', 'src/worker.ts'],
  format: ['esm', 'cjs'],
  dts: { entry: 'src/index.ts' },
  clean: true,
  sourcemap: true,
  shims: true,
  target: 'node20',
  platform: 'node',
});
