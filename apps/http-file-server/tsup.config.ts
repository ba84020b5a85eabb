import { defineConfig } from 'tsup';

export default defineConfig([
  {
    // The library: the handlers and createFileServer. Worker threads and
    // child processes import FileRequestHandler from dist/index.js.
    entry: ['src/index.ts'],
    format: ['esm'],
    dts: true,
    clean: false,
    sourcemap: true,
    target: 'node20',
    platform: 'node',
  },
  {
    // The command. It imports ./index.js at run time instead of bundling it,
    // so FileRequestHandler.moduleUrl names dist/index.js (a module that
    // starts no server when imported), not the CLI.
    entry: ['src/cli.ts'],
    format: ['esm'],
    dts: false,
    clean: false,
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    banner: { js: '#!/usr/bin/env node' },
    external: [/^\.\/index\.js$/],
  },
]);
