import { defineConfig } from 'tsup';

export default defineConfig([
  {
    // The library: createFileServer. The handler, SimpleHTTPRequestHandler,
    // comes from @socketserver/http, whose dist worker threads and child
    // processes import it from.
    entry: ['src/index.ts'],
    format: ['esm'],
    dts: true,
    clean: false,
    sourcemap: true,
    target: 'node20',
    platform: 'node',
  },
  {
    // The command.
    entry: ['src/cli.ts'],
    format: ['esm'],
    dts: false,
    clean: false,
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    banner: { js: '#!/usr/bin/env node' },
  },
]);
