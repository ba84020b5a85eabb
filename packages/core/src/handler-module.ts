/**
 * Where a worker thread or child process finds a handler class. A class
 * object cannot cross a thread or process boundary, so the thread or process
 * imports the module that exports it. The one way to say where that is: the
 * handler class declares `static moduleUrl = import.meta.url` (in CommonJS,
 * `pathToFileURL(__filename).href`) and its module exports it by its name.
 *
 * @module
 */
import { InvalidArgumentError, SocketServerError } from './errors.js';

/** A handler class's module and export name, as sent to a worker or child. */
export interface HandlerLocation {
  /** The module's URL (`file:///...`). */
  moduleUrl: string;
  /** The name the module exports the class under (the class's name). */
  exportName: string;
}

const HOST = Symbol.for('@socketserver/core.handlerHost');

/**
 * Finds where `HandlerClass` lives, from its `static moduleUrl`. Throws
 * {@link InvalidArgumentError} with the fix when it does not say.
 */
export function locateHandler(HandlerClass: Function): HandlerLocation {
  const moduleUrl = (HandlerClass as { moduleUrl?: unknown }).moduleUrl;
  const name = HandlerClass.name || '(anonymous class)';
  if (typeof moduleUrl !== 'string' || moduleUrl === '') {
    throw new InvalidArgumentError(
      `${name} must say which module exports it, so a worker or child can import it: ` +
        `add "static moduleUrl = import.meta.url" to the class (CommonJS: pathToFileURL(__filename).href), ` +
        'in a module that exports it and starts no server when imported',
    );
  }
  return { moduleUrl, exportName: name };
}

/**
 * Imports a handler class in a worker or child. Marks the thread or process
 * as a handler host first, so a module that starts a server when imported
 * fails with `ERR_SOCKETSERVER_SERVER_IN_HANDLER_HOST` instead of starting a
 * second server. Rejects with {@link InvalidArgumentError} when the module
 * does not export the class.
 */
export async function loadHandler(location: HandlerLocation): Promise<Function> {
  markHandlerHost();
  const exports = (await import(location.moduleUrl)) as Record<string, unknown>;
  const found = exports[location.exportName] ?? findDefault(exports, location.exportName);
  if (typeof found !== 'function') {
    throw new InvalidArgumentError(
      `${location.moduleUrl} does not export ${location.exportName}: export the handler class by its name`,
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
        'server when imported. Move the server start behind `if (import.meta.url === ...)` or into another module',
    );
  }
}
