import { defineConfig } from 'tsup';

// Two entries, two files: dist/cli.js (the bin) and dist/handlers.js. The
// handlers module must stay a file of its own, imported by the CLI as
// `./handlers.js`, because worker threads and child processes import it by
// its URL (`static moduleUrl = import.meta.url`). Bundling it into cli.js, or
// into a shared chunk, would give the class a URL that either starts the CLI
// or does not export it by name.
export default defineConfig({
  entry: {
    cli: 'src/cli.ts',
    handlers: 'src/handlers.ts',
  },
  format: ['esm'],
  dts: false,
  clean: true,
  sourcemap: true,
  splitting: false,
  target: 'node20',
  platform: 'node',
  esbuildPlugins: [
    {
      name: 'handlers-module-stays-external',
      setup(build) {
        build.onResolve({ filter: /^\.\/handlers\.js$/ }, (args) =>
          args.importer.endsWith('handlers.ts') ? undefined : { path: args.path, external: true },
        );
      },
    },
  ],
});
