/**
 * Where a worker thread or child process finds a handler class (or a request
 * preparer). A class object cannot cross a thread or process boundary, so
 * the thread or process imports the module that exports it. The one way to
 * say where that is: the class declares `static moduleUrl = import.meta.url`
 * (in CommonJS, `pathToFileURL(__filename).href`) and its module exports it
 * by its name. The types of the worker and child mix-ins require it (see
 * {@link ImportableHandlerClass}), so a handler they cannot import is an
 * error at compile time.
 *
 * @module
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { InvalidArgumentError, SocketServerError } from './errors.js';

/** A handler class's module and export name, as sent to a worker or child. */
export interface HandlerLocation {
  /** The module's URL (`file:///...`). */
  moduleUrl: string;
  /** The name the module exports the class under (the class's name). */
  exportName: string;
}

/**
 * A handler class a worker thread or child process can import: it says which
 * module exports it (`static moduleUrl = import.meta.url`). Servers of
 * `ThreadingMixIn` and `ForkingMixIn` take only these, so forgetting the
 * line is a compile-time error, not a failure at the first connection.
 */
export type ImportableHandlerClass = Function & { readonly moduleUrl: string };

const HOST = Symbol.for('@socketserver/core.handlerHost');

const BUNDLED =
  'If the app is bundled (esbuild, tsup), the handler must not be bundled into the app: give its ' +
  "module an entry point of its own and keep it external to the app's bundle (esbuild: " +
  "entryPoints: ['server.ts', 'handlers.ts'], external: ['./handlers.js'])";

/**
 * Finds where `HandlerClass` lives, from its `static moduleUrl`. Throws
 * {@link InvalidArgumentError} with the fix when it does not say.
 */
export function locateHandler(HandlerClass: Function): HandlerLocation {
  return locateExport(HandlerClass, 'class', 'static moduleUrl = import.meta.url');
}

/**
 * Finds where a function a host must import lives (a handler class, a
 * request preparer), from its `moduleUrl`. Throws {@link InvalidArgumentError}
 * with the fix when it does not say.
 */
export function locateExport(
  exported: Function,
  kind: 'class' | 'function' = 'function',
  fix = `${exported.name || 'fn'}.moduleUrl = import.meta.url`,
): HandlerLocation {
  const moduleUrl = (exported as { moduleUrl?: unknown }).moduleUrl;
  const name = exported.name || `(anonymous ${kind})`;
  if (typeof moduleUrl !== 'string' || moduleUrl === '') {
    throw new InvalidArgumentError(
      `${name} must say which module exports it, so a worker or child can import it: ` +
        `add "${fix}"${kind === 'class' ? ' to the class' : ''} (CommonJS: pathToFileURL(__filename).href), ` +
        'in a module that exports it by its name and starts no server when imported',
    );
  }
  return { moduleUrl, exportName: name };
}

/**
 * Throws {@link InvalidArgumentError} with the fix when `location` is the
 * app's entry module (`process.argv[1]`): a worker or child importing it
 * would start the app again. That is what happens when the handler is
 * bundled into the app. Called where hosts are started.
 */
export function assertNotEntryModule(location: HandlerLocation): void {
  const entry = process.argv[1];
  if (entry === undefined || entry === '') return;
  let entryUrl: string;
  try {
    entryUrl = pathToFileURL(realpathSync(entry)).href;
  } catch {
    return;
  }
  if (location.moduleUrl.split(/[?#]/)[0] !== entryUrl) return;
  throw new InvalidArgumentError(
    `${location.exportName} is in the app's entry module (${entryUrl}): a worker or child imports ` +
      'the module of the handler, which would start the app again. Move the handler into a module ' +
      `of its own that starts nothing when imported. ${BUNDLED}`,
  );
}

/**
 * Imports a handler class (or any exported function) in a worker or child.
 * Marks the thread or process as a handler host first, so a module that
 * starts a server when imported fails with
 * `ERR_SOCKETSERVER_SERVER_IN_HANDLER_HOST` instead of starting a second
 * server. Rejects with {@link InvalidArgumentError} when the module does not
 * export it. `importModule` imports a URL (default: `import()`).
 */
export async function loadHandler(
  location: HandlerLocation,
  importModule: (url: string) => Promise<unknown> = (url) => import(url),
): Promise<Function> {
  markHandlerHost();
  const exports = (await importModule(location.moduleUrl)) as Record<string, unknown>;
  const found = exports[location.exportName] ?? findDefault(exports, location.exportName);
  if (typeof found !== 'function') {
    throw new InvalidArgumentError(
      `${location.moduleUrl} does not export ${location.exportName}: export it by its name`,
    );
  }
  return found;
}

function findDefault(exports: Record<string, unknown>, name: string): unknown {
  const fallback = exports.default;
  if (typeof fallback === 'function' && fallback.name === name) return fallback;
  if (typeof fallback === 'object' && fallback !== null)
    return (fallback as Record<string, unknown>)[name];
  return undefined;
}

/** Marks this thread or process as running handlers only (a worker or child). */
export function markHandlerHost(): void {
  (globalThis as Record<symbol, unknown>)[HOST] = true;
}

/**
 * Throws when called in a worker or child that hosts handlers: a handler
 * module must not start a server when imported. Called by `serverBind`.
 */
export function assertNotHandlerHost(): void {
  if ((globalThis as Record<symbol, unknown>)[HOST] === true) {
    throw new SocketServerError(
      'ERR_SOCKETSERVER_SERVER_IN_HANDLER_HOST',
      'a server was started inside a worker or child that runs handlers: the handler module starts a ' +
        'server when imported. Move the handler into a module of its own that starts nothing when ' +
        `imported. ${BUNDLED}`,
    );
  }
}
