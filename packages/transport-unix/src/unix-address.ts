/**
 * Validation of Unix socket addresses: filesystem paths and Linux abstract
 * names (a leading `\0`).
 *
 * @module
 */
import { InvalidArgumentError } from '@socketserver/core';

/**
 * The size of `sun_path` in `struct sockaddr_un` on Linux: a path may use
 * 107 bytes plus its terminating NUL; an abstract name (no terminator) all
 * 108 including its leading `\0`. Node.js 20 truncates longer paths silently.
 */
export const SUN_PATH_SIZE = 108;

/** Whether `address` is a Linux abstract-namespace name (`'\0name'`). */
export function isAbstract(address: string): boolean {
  return address.startsWith('\0');
}

/**
 * Checks a Unix socket address and returns it; throws
 * {@link InvalidArgumentError} at once for a non-string, an empty string, a
 * NUL inside a path, or an address longer than the 108-byte `sun_path`.
 */
export function validateUnixAddress(address: unknown): string {
  if (typeof address !== 'string') {
    throw new InvalidArgumentError(
      `a Unix socket address must be a string (a path, or '\\0name' for an abstract name), got ${typeof address}`,
    );
  }
  if (address === '' || address === '\0') {
    throw new InvalidArgumentError('a Unix socket address must not be empty');
  }
  const bytes = Buffer.byteLength(address);
  if (isAbstract(address)) {
    if (bytes > SUN_PATH_SIZE) {
      throw new InvalidArgumentError(
        `abstract Unix socket name is ${bytes} bytes; the limit is ${SUN_PATH_SIZE} bytes (sun_path, including the leading \\0)`,
      );
    }
    return address;
  }
  if (address.includes('\0')) {
    throw new InvalidArgumentError('a Unix socket path must not contain a NUL byte');
  }
  if (bytes > SUN_PATH_SIZE - 1) {
    throw new InvalidArgumentError(
      `Unix socket path is ${bytes} bytes; the limit is ${SUN_PATH_SIZE - 1} bytes (the kernel's ` +
        `${SUN_PATH_SIZE}-byte sun_path, including the terminating NUL): use a shorter or relative path`,
    );
  }
  return address;
}

/** Checks a `mode` setting: `null`, or an integer permission mask from 0 to 0o777. */
export function validateMode(mode: unknown, address: string): number | null {
  if (mode === null || mode === undefined) return null;
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    throw new InvalidArgumentError(
      `mode must be null or an integer from 0 to 0o777, got ${String(mode)}`,
    );
  }
  if (isAbstract(address)) {
    throw new InvalidArgumentError(
      'mode does not apply to an abstract Unix socket name (it has no file and no permissions)',
    );
  }
  return mode;
}
