/**
 * Loads the `unix-dgram` native addon (Unix datagram sockets, which Node.js
 * does not provide) once, when this package is imported, and wraps its
 * errors into the shapes the rest of the project uses.
 *
 * @module
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { getSystemErrorName } from 'node:util';
import { SocketServerError } from '@socketserver/core';

/** The parts of a `unix-dgram` socket this package uses (the package ships no types). */
export interface UnixDgramSocket {
  /** The socket's file descriptor (-1 once closed). */
  fd: number;
  /** Binds to a filesystem path; emits `'listening'` or `'error'` synchronously. */
  bind(path: string): void;
  /** Connects to a filesystem path; emits `'connect'` or `'error'` synchronously. */
  connect(path: string): void;
  /** Sends a datagram to `path`; calls back synchronously with an error or nothing. */
  send(
    buf: Buffer,
    offset: number,
    length: number,
    path: string,
    callback: (error?: Error & { errno?: number }) => void,
  ): void;
  /** Closes the socket; throws on failure. */
  close(): void;
  on(
    event: 'message',
    listener: (packet: Buffer, rinfo: { size: number; path?: string }) => void,
  ): this;
  on(event: 'error', listener: (error: Error & { errno?: number }) => void): this;
  once(event: string, listener: (...args: any[]) => void): this;
  removeAllListeners(event?: string): this;
}

interface UnixDgramModule {
  createSocket(type: 'unix_dgram'): UnixDgramSocket;
}

/**
 * The native addon `unix-dgram` is not installed or was not built (for
 * example because the package manager skipped its build script). Code
 * `ERR_SOCKETSERVER_NATIVE_ADDON_MISSING`; `cause` is the loader's error.
 */
export class NativeAddonMissingError extends SocketServerError {
  /** @param cause - why loading `unix-dgram` failed. */
  constructor(cause: unknown) {
    super(
      'ERR_SOCKETSERVER_NATIVE_ADDON_MISSING',
      'UnixDatagramServer needs the native addon "unix-dgram" (2.0.7), which could not be loaded: ' +
        `${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}. ` +
        'It is built by node-gyp when installed (python3, make and a C++ compiler are needed). ' +
        'pnpm skips dependency build scripts unless allowed: list it in pnpm-workspace.yaml ' +
        '(`allowBuilds: { unix-dgram: true }`, or `onlyBuiltDependencies: [unix-dgram]` on older ' +
        'pnpm 10) and reinstall, or run `pnpm rebuild unix-dgram` / `npm rebuild unix-dgram`.',
      { cause },
    );
  }
}

function load(): UnixDgramModule | NativeAddonMissingError {
  try {
    // Node 20's fs.realpathSync reads the stat buffer left by the previous
    // synchronous stat; if that was of a socket or FIFO, it stops resolving
    // early and pnpm's symlinked packages cannot find their dependencies
    // ("Cannot find module 'bindings'"). A stat of a regular file first
    // makes the load independent of what the application did before.
    statSync(process.execPath);
    return createRequire(import.meta.url)('unix-dgram') as UnixDgramModule;
  } catch (error) {
    return new NativeAddonMissingError(error);
  }
}

/** Loaded at import time: the module, or why it could not be loaded. */
const addon = load();

/** Whether the `unix-dgram` addon loaded (false: `UnixDatagramServer` throws `NativeAddonMissingError`). */
export const unixDgramAvailable: boolean = !(addon instanceof NativeAddonMissingError);

/** Creates a Unix datagram socket, or throws {@link NativeAddonMissingError} / the system error. */
export function createUnixDgramSocket(): UnixDgramSocket {
  if (addon instanceof NativeAddonMissingError) throw addon;
  try {
    return addon.createSocket('unix_dgram');
  } catch (error) {
    throw systemError(error, 'socket');
  }
}

/** Throws {@link NativeAddonMissingError} if the addon did not load. */
export function assertUnixDgramAvailable(): void {
  if (addon instanceof NativeAddonMissingError) throw addon;
}

/**
 * Turns a `unix-dgram` error (numeric negative `code`) into a Node-style
 * system error: `code` `'ENOENT'`, negative `errno`, `syscall`, `path`.
 */
export function systemError(error: unknown, syscall: string, path?: string): Error {
  const raw = error as Error & { errno?: unknown; code?: unknown };
  const errno = typeof raw?.errno === 'number' ? raw.errno : Number(raw?.code);
  if (!Number.isInteger(errno) || errno >= 0) {
    return error instanceof Error ? error : new Error(String(error));
  }
  let code: string;
  try {
    code = getSystemErrorName(errno);
  } catch {
    code = `E${-errno}`;
  }
  const message = `${syscall} ${code}${path === undefined ? '' : ` ${printable(path)}`}`;
  return Object.assign(new Error(message), {
    errno,
    code,
    syscall,
    ...(path === undefined ? {} : { path }),
  });
}

function printable(path: string): string {
  return path.startsWith('\0') ? `@${path.slice(1)}` : path;
}
