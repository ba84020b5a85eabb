/**
 * Bundles the host runtime (`src/host/runtime/main.ts` and what it uses of
 * core) into one CommonJS script, and provides it to the host layer as the
 * default export of the virtual module `virtual:socketserver-host-runtime`:
 * an esbuild plugin for the package build (tsup), a Vite plugin for the
 * tests (vitest). The host layer starts every worker thread and child
 * process from that string, so no file has to be found at run time.
 */
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

/** The module id the host layer imports the runtime's source from. */
export const HOST_RUNTIME_MODULE = 'virtual:socketserver-host-runtime';

const entry = fileURLToPath(new URL('../src/host/runtime/main.ts', import.meta.url));

/** The runtime as one CommonJS script (it requires only Node's built-in modules). */
export async function bundleHostRuntime(): Promise<string> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    write: false,
    legalComments: 'none',
    logLevel: 'warning',
  });
  return result.outputFiles[0]!.text;
}

function moduleSource(runtime: string): string {
  return `export default ${JSON.stringify(runtime)};\n`;
}

/** For tsup (esbuild): resolves the virtual module to the bundled runtime. */
export const hostRuntimeEsbuildPlugin: Plugin = {
  name: 'socketserver-host-runtime',
  setup(builder) {
    builder.onResolve({ filter: /^virtual:socketserver-host-runtime$/ }, (args) => ({
      path: args.path,
      namespace: 'socketserver-host-runtime',
    }));
    builder.onLoad({ filter: /.*/, namespace: 'socketserver-host-runtime' }, async () => ({
      contents: moduleSource(await bundleHostRuntime()),
      loader: 'js',
    }));
  },
};

/** For vitest (Vite): the same, so tests run the host layer from the sources. */
export function hostRuntimeVitePlugin(): {
  name: string;
  resolveId(id: string): string | undefined;
  load(id: string): Promise<string | undefined>;
} {
  const resolved = `\0${HOST_RUNTIME_MODULE}`;
  return {
    name: 'socketserver-host-runtime',
    resolveId: (id) => (id === HOST_RUNTIME_MODULE ? resolved : undefined),
    load: async (id) => (id === resolved ? moduleSource(await bundleHostRuntime()) : undefined),
  };
}
