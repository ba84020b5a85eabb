import { defineConfig } from 'tsup';
import { hostRuntimeEsbuildPlugin } from './build/host-runtime.js';

// The main entry, and `@socketserver/core/host` (the host layer), which
// carries the host runtime bundled as a string (see build/host-runtime.ts).
// Both entries share one copy of core's classes (ESM code splitting).
export default defineConfig({
  entry: { index: 'src/index.ts', host: 'src/host/index.ts' },
  format: ['esm'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  esbuildPlugins: [hostRuntimeEsbuildPlugin],
});
