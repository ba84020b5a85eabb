/**
 * Loads this package's own Node-API addon (native/unix_dgram.c: Unix
 * datagram sockets, which Node.js does not provide) once, when the package is
 * imported, from the prebuilt binary shipped in `prebuilds/<platform>-<arch>-<libc>/`.
 * Node-API is ABI-stable, so one binary serves every Node.js line.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';
import { SocketServerError } from '@socketserver/core';

/** An open socket inside the addon (a Node-API external). */
export type NativeHandle = { readonly __nativeUnixDgram: unique symbol };

/** Receives a datagram (`errno` 0) or a read error (a negative errno, then nulls). */
export type NativeMessageListener = (
  errno: number,
  data: Buffer | null,
  sender: string | null,
) => void;

/** The addon's functions: each returns a negative errno on failure (see native/unix_dgram.c). */
export interface NativeUnixDgram {
  open(onMessage: NativeMessageListener, recvSize: number): NativeHandle | number;
  adopt(fd: number, onMessage: NativeMessageListener, recvSize: number): NativeHandle | number;
  bind(handle: NativeHandle, path: string): number;
  connect(handle: NativeHandle, path: string): number;
  send(handle: NativeHandle, data: Uint8Array, path: string | null): number;
  start(handle: NativeHandle): number;
  stop(handle: NativeHandle): number;
  ref(handle: NativeHandle, referenced: boolean): void;
  fd(handle: NativeHandle): number;
  localAddress(handle: NativeHandle): string | number;
  close(handle: NativeHandle): number;
}

/** Where this package's files are (the folder holding `dist/`, `prebuilds/`, `native/`). */
const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The prebuilt binaries that may fit this machine, most likely first. */
export function addonCandidates(root = packageRoot): string[] {
  const base = `${process.platform}-${process.arch}`;
  const flavours = process.platform === 'linux' ? [`${base}-gnu`, `${base}-musl`] : [base];
  return flavours.map((flavour) => join(root, 'prebuilds', flavour, 'unix_dgram.node'));
}

/**
 * The addon for Unix datagram sockets could not be loaded: no prebuilt binary
 * for this platform, or one that does not load here. Code
 * `ERR_SOCKETSERVER_NATIVE_ADDON_MISSING`; `cause` is the loader's error.
 * Everything else in the package works without it.
 */
export class NativeAddonMissingError extends SocketServerError {
  /** @param cause - why loading the addon failed. */
  constructor(cause: unknown) {
    super(
      'ERR_SOCKETSERVER_NATIVE_ADDON_MISSING',
      'UnixDatagramServer and UnixDatagramSocket need the native addon of ' +
        '@socketserver/transport-unix, which could not be loaded: ' +
        `${cause instanceof Error ? cause.message.split('\n')[0] : String(cause)}. ` +
        'Prebuilt binaries ship for linux-x64 and linux-arm64 (glibc); on another platform build ' +
        'one with a C compiler and Node.js headers: ' +
        '`node node_modules/@socketserver/transport-unix/scripts/build-native.mjs`.',
      { cause },
    );
  }
}

function load(): NativeUnixDgram | NativeAddonMissingError {
  const candidates = addonCandidates();
  const found = candidates.find((file) => existsSync(file));
  if (found === undefined) {
    return new NativeAddonMissingError(
      new Error(
        `no prebuilt binary for ${process.platform}-${process.arch} (looked for ${candidates.join(', ')})`,
      ),
    );
  }
  try {
    return createRequire(import.meta.url)(found) as NativeUnixDgram;
  } catch (error) {
    return new NativeAddonMissingError(error);
  }
}

/** Loaded at import time: the addon, or why it could not be loaded. */
const addon = load();

/** Whether the addon loaded (false: the Unix datagram classes throw `NativeAddonMissingError`). */
export const unixDgramAvailable: boolean = !(addon instanceof NativeAddonMissingError);

/** The addon, or throws {@link NativeAddonMissingError}. */
export function nativeUnixDgram(): NativeUnixDgram {
  if (addon instanceof NativeAddonMissingError) throw addon;
  return addon;
}

/**
 * A Node-style system error for a negative errno from the addon: `code`
 * (`'ENOENT'`), `errno`, `syscall`, and `path` when given.
 */
export function systemError(errno: number, syscall: string, path?: string): NodeJS.ErrnoException {
  let code: string;
  try {
    code = getSystemErrorName(errno);
  } catch {
    code = `E${-errno}`;
  }
  const where = path === undefined ? '' : ` ${printable(path)}`;
  const error: NodeJS.ErrnoException = new Error(`${syscall} ${code}${where}`);
  error.errno = errno;
  error.code = code;
  error.syscall = syscall;
  if (path !== undefined) error.path = path;
  return error;
}

/** A path as messages show it: abstract names as `@name`. */
export function printable(path: string): string {
  return path.startsWith('\0') ? `@${path.slice(1)}` : path;
}

/** Throws {@link NativeAddonMissingError} if the addon did not load. */
export function assertUnixDgramAvailable(): void {
  nativeUnixDgram();
}
