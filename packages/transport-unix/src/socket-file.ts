/**
 * The socket file of a Unix server: which file is ours, when a leftover file
 * may be removed, and how a stream socket is put in place with its final
 * permissions. Every call here is asynchronous (see {@link removeStaleSocket}).
 *
 * @module
 */

import { link, lstat, mkdtemp, rmdir, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { constants as osConstants } from 'node:os';
import { dirname } from 'node:path';

/** Which inode a server's socket file is: removed at close only if the path still names it. */
export interface SocketFileIdentity {
  dev: number;
  ino: number;
}

/**
 * The identity of the socket file at `path`, or `null` when there is none
 * (or what is there is not a socket).
 */
export async function socketIdentity(path: string): Promise<SocketFileIdentity | null> {
  try {
    const stats = await lstat(path);
    return stats.isSocket() ? { dev: stats.dev, ino: stats.ino } : null;
  } catch (error) {
    if (isCode(error, 'ENOENT')) return null;
    throw error;
  }
}

/**
 * Removes the socket file at `path` if it is still the one described by
 * `identity` (same device and inode): a file someone else put there since is
 * left alone. Resolves whether or not anything was removed.
 */
export async function removeOwnSocketFile(
  path: string,
  identity: SocketFileIdentity,
): Promise<boolean> {
  const now = await socketIdentity(path);
  if (now === null || now.dev !== identity.dev || now.ino !== identity.ino) return false;
  try {
    await unlink(path);
    return true;
  } catch (error) {
    if (isCode(error, 'ENOENT')) return false;
    throw error;
  }
}

/**
 * Whether the socket file at `path` is stale: a connection attempt is
 * refused (`ECONNREFUSED`), so no socket of any type is bound to it. Any
 * other outcome (accepted, `EPROTOTYPE` from a socket of the other type,
 * `EAGAIN` from a full backlog, `EACCES`) means the file is in use or not
 * ours to judge.
 */
export function isStaleSocket(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(false);
    });
    probe.once('error', (error) => {
      probe.destroy();
      resolve(isCode(error, 'ECONNREFUSED'));
    });
  });
}

/**
 * Removes the file at `path` if, and only if, it is a socket file that no
 * server is bound to (Python leaves this to the user; here it is the
 * `removeStaleSocket` option). A regular file, a directory, a live socket,
 * or nothing at all is left as it is, and binding then reports
 * `EADDRINUSE` as usual. Returns whether a file was removed.
 *
 * Asynchronous on purpose: in Node.js 20, a synchronous `lstat`/`stat` of a
 * socket makes the next `fs.realpathSync` (used by `require()`) stop early,
 * so a package loaded lazily afterwards from pnpm's symlinked layout is not
 * found. The promise API does not share that buffer.
 */
export async function removeStaleSocket(path: string): Promise<boolean> {
  const before = await socketIdentity(path);
  if (before === null || !(await isStaleSocket(path))) return false;
  return removeOwnSocketFile(path, before);
}

/**
 * A private directory beside `path` (mode 0700, from `mkdtemp`) to bind a
 * stream socket in before linking it into place, or `null` if the socket path
 * inside it would pass the `sun_path` limit.
 */
export async function makePrivateDir(path: string, limit: number): Promise<string | null> {
  const prefix = `${dirname(path)}/.`;
  if (Buffer.byteLength(prefix) + 6 + 2 > limit) return null;
  return mkdtemp(prefix);
}

/** The socket path inside a private directory. */
export function privateSocketPath(dir: string): string {
  return `${dir}/s`;
}

/**
 * Links the socket bound at `from` to `to`. Fails with `EADDRINUSE` (as
 * `bind` would) when `to` exists: unlike `rename`, `link` never replaces a
 * file.
 */
export async function linkIntoPlace(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (error) {
    if (!isCode(error, 'EEXIST')) throw error;
    throw Object.assign(new Error(`listen EADDRINUSE: address already in use ${to}`), {
      code: 'EADDRINUSE',
      errno: -osConstants.errno.EADDRINUSE,
      syscall: 'listen',
      address: to,
    });
  }
}

/** Removes the private directory and what is left in it; never throws. */
export async function removePrivateDir(dir: string): Promise<void> {
  await unlink(privateSocketPath(dir)).catch(() => {});
  await rmdir(dir).catch(() => {});
}

/** Whether `error` is a Node system error with this `code`. */
export function isCode(error: unknown, code: string): boolean {
  return (error as { code?: unknown } | null)?.code === code;
}
