import { defineConfig } from 'tsup';

// Private package: ESM only, no declarations. Every entry is a program run
// in its own process (the orchestrator, the load generator, the servers).
export default defineConfig({
  entry: ['src/run.ts', 'src/loadgen.ts', 'src/echo-server.ts', 'src/handlers.ts', 'src/micro.ts'],
  format: ['esm'],
  dts: false,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
});
