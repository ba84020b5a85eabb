/**
 * Opening files strictly inside the served root: the second line of
 * defence, after the request target's rules (`target.ts`).
 *
 * @module
 */
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readlinkSync,
  realpathSync,
  type Stats,
  statSync,
} from 'node:fs';

/** An open regular file or directory, with the real path it was checked by. */
export interface OpenFile {
  fd: number;
  st: Stats;
  /** Its real path (no link on the way). */
  real: Buffer;
  /** The path it was opened by (the real root and the decoded segments). */
  path: Buffer;
}

const SLASH = Buffer.from('/');
/** `O_NONBLOCK`: a FIFO opened by mistake cannot block the server. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

let hasProcFd: boolean | undefined;

/**
 * Forces (true/false) or restores (undefined) the choice of the
 * `/proc/self/fd` check, so tests can cover the `realpath` fallback.
 * Not exported by the package.
 */
export function useProcFdForTesting(value: boolean | undefined): void {
  hasProcFd = value;
}

/** Whether `/proc/self/fd` names open descriptors (Linux with procfs mounted). */
function procFd(): boolean {
  if (hasProcFd === undefined) {
    try {
      hasProcFd = statSync('/proc/self/fd').isDirectory();
    } catch {
      hasProcFd = false;
    }
  }
  return hasProcFd;
}

/** Closes a descriptor, ignoring errors (it was only read). */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // nothing to do
  }
}

const realRoots = new Map<string, Buffer>();

/**
 * The real path of a served root, resolved on first use and then kept for
 * the process (a failed lookup throws, and is retried on the next request).
 */
export function realRoot(directory: string): Buffer {
  let root = realRoots.get(directory);
  if (root === undefined) {
    root = realpathSync.native(directory, { encoding: 'buffer' });
    realRoots.set(directory, root);
  }
  return root;
}

/** Whether `path` is `root` or below it, compared byte-wise, whole components only. */
export function isInside(root: Buffer, path: Buffer): boolean {
  if (root.length === 1 && root[0] === 0x2f) return path[0] === 0x2f;
  if (path.length === root.length) return path.equals(root);
  return (
    path.length > root.length &&
    path[root.length] === 0x2f &&
    path.subarray(0, root.length).equals(root)
  );
}

/**
 * Opens what `segments` name below `directory`, if it is a regular file or a
 * directory inside the root (anywhere with `followSymlinks`); null otherwise.
 *
 * On Linux the check is made on the descriptor itself: the path is opened
 * (links followed, `O_NONBLOCK`), then `/proc/self/fd/N` names the file
 * really opened, which must be inside the root. No link swapped in between a
 * check and the open can escape, and it costs one `readlink` where
 * `realpath` costs a call per path component. Elsewhere: `realpath` first,
 * then an `O_NOFOLLOW` open of the result (a directory swapped for a link in
 * between is then not detected).
 *
 * These calls are synchronous, as nginx makes them without `aio`: on a local
 * file system they take microseconds, less than a trip through libuv's
 * thread pool.
 */
export function openInside(
  directory: string,
  segments: readonly Buffer[],
  followSymlinks: boolean,
): OpenFile | null {
  let root: Buffer;
  try {
    root = realRoot(directory);
  } catch {
    return null;
  }
  const parts: Buffer[] = [root];
  for (const segment of segments) parts.push(SLASH, segment);
  const path = Buffer.concat(parts);
  let fd: number;
  let real: Buffer;
  try {
    if (procFd()) {
      fd = openSync(path, OPEN_FLAGS);
      try {
        real = readlinkSync(`/proc/self/fd/${fd}`, { encoding: 'buffer' });
      } catch {
        closeQuietly(fd);
        return null;
      }
    } else {
      real = realpathSync.native(path, { encoding: 'buffer' });
      if (!followSymlinks && !isInside(root, real)) return null;
      fd = openSync(real, OPEN_FLAGS | constants.O_NOFOLLOW);
    }
  } catch {
    return null;
  }
  try {
    if (followSymlinks || isInside(root, real)) {
      const st = fstatSync(fd);
      if (st.isFile() || st.isDirectory()) return { fd, st, real, path };
    }
  } catch {
    // fall through: not servable
  }
  closeQuietly(fd);
  return null;
}
