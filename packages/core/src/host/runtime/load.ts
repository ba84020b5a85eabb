/**
 * How a host imports the modules it runs: the handler's, the preparers'.
 * TypeScript modules load through Node's own type stripping where the line
 * has it, or through the TypeScript loader the parent process runs under
 * (tsx), which a worker thread of Node 20 does not pick up by itself.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { UnsupportedError } from '../../errors.js';
import { loadHandler } from '../../handler-module.js';
import type { ModuleExport } from '../wire.js';

/** `import()` as the host's entry script does it (compiled code cannot). */
export type ImportModule = (url: string) => Promise<unknown>;

const TYPESCRIPT = /\.[cm]?ts(?:[?#].*)?$/;

/**
 * Imports `location` and returns its export (core's `loadHandler`: marks
 * this thread or process as a handler host first). A TypeScript module this
 * thread cannot load is retried once after registering the parent's tsx.
 */
export async function loadExport(
  location: ModuleExport,
  importModule: ImportModule,
  parentExecArgv: readonly string[],
): Promise<Function> {
  try {
    return await loadHandler(location, importModule);
  } catch (error) {
    if (!unloadableTypeScript(location, error)) throw error;
    await registerTsx(location, importModule, parentExecArgv);
    // The failed import stays cached under its URL: import it again under another one.
    const retried = { ...location, moduleUrl: `${location.moduleUrl}?socketserver-tsx` };
    return await loadHandler(retried, importModule);
  }
}

function unloadableTypeScript(location: ModuleExport, error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return TYPESCRIPT.test(location.moduleUrl) && code === 'ERR_UNKNOWN_FILE_EXTENSION';
}

/**
 * Registers tsx's ESM hooks in this thread: from the tsx the parent loaded
 * (`--import .../tsx/...` in its options), else from the one the module's
 * own directory resolves. Throws the fix when there is none.
 */
async function registerTsx(
  location: ModuleExport,
  importModule: ImportModule,
  parentExecArgv: readonly string[],
): Promise<void> {
  const api = tsxApiUrl(location.moduleUrl, parentExecArgv);
  if (api === null) {
    throw new UnsupportedError(
      `${location.moduleUrl} is TypeScript, and this Node.js (${process.version}) cannot load it in a ` +
        'worker thread or child process: use Node.js 22.18 or later (with type stripping on), run the app ' +
        'under tsx (npx tsx server.ts) with tsx installed, or compile the handler module',
    );
  }
  try {
    const tsx = (await importModule(api)) as { register: () => unknown };
    tsx.register();
  } catch (error) {
    throw Object.assign(
      new UnsupportedError(`registering tsx (${api}) to load ${location.moduleUrl} failed`),
      { cause: error },
    );
  }
}

/**
 * Where tsx's ESM API is, when the parent runs under tsx (`tsx server.ts`
 * passes `--import file:///.../node_modules/tsx/dist/loader.mjs`; `node
 * --import tsx` names it): null otherwise.
 */
function tsxApiUrl(moduleUrl: string, parentExecArgv: readonly string[]): string | null {
  const loaders = parentExecArgv.filter((arg) => /(?:^|[/=])tsx(?:$|[/@])/.test(arg));
  for (const arg of loaders) {
    const match = /^(?:--[a-z-]+=)?(?:file:\/\/)?(.*\/node_modules\/tsx\/)/.exec(arg);
    if (match !== null) return pathToFileURL(`${match[1]}dist/esm/api/index.mjs`).href;
  }
  if (loaders.length === 0) return null;
  for (const base of [pathToFileURL(`${process.cwd()}/`).href, moduleUrl]) {
    try {
      const api = createRequire(base).resolve('tsx/esm/api');
      return pathToFileURL(api.replace(/\.cjs$/, '.mjs')).href;
    } catch {
      // not installed there
    }
  }
  return null;
}
