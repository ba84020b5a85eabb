import { defineConfig } from 'tsup';

// dist/main.js: the example for Node lines without type stripping (20, 22 before 22.18).
export default defineConfig({
  entry: { main: 'src/main.ts' },
  format: ['esm'],
  dts: false,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
});
