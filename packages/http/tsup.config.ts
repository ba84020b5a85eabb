import { defineConfig } from 'tsup';

// ESM + CJS + types. `shims` gives the CJS build an `import.meta.url`, so
// SimpleHTTPRequestHandler.moduleUrl names the file worker threads and child
// processes import it from in either build.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  shims: true,
  target: 'node20',
  platform: 'node',
});
