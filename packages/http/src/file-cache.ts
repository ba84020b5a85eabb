/**
 * `FileCache`: the bytes and response fields of small files (and of their
 * compressed forms), kept between
 * requests (in the spirit of nginx's `open_file_cache`, with contents), and
 * revalidated on every use.
 *
 * @module
 */
import { lstatSync, readSync, type Stats } from 'node:fs';
import type { FileFacts } from './file-facts.js';
import type { OpenFile } from './open-inside.js';

/** A folder on a cached file's path, by its identity when the file was read. */
export interface CachedFolder {
  readonly path: Buffer;
  readonly dev: number;
  readonly ino: number;
}

/** A file as it was when it was read: what each use of a cached entry checks again. */
export interface FileIdentity {
  /**
   * The absolute path it was opened by (the real root and the decoded
   * segments), which was its real path: no symbolic link on the way.
   */
  readonly path: Buffer;
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

/**
 * What the cache keeps of a file (or of an encoded form of it), and the
 * identity of the files it was made from.
 */
export interface CachedFile extends Omit<FileFacts, 'body'> {
  /** The request path it is kept under (with `\0br` or `\0gzip` after it for an encoded form). */
  readonly key: string;
  /**
   * The files it stands on, each checked on every use: the file its bytes
   * come from (for a form compressed here, the original), then, for a
   * precompressed file, the original it was made from.
   */
  readonly files: readonly FileIdentity[];
  /** The folders between the root and the file, outermost first. */
  readonly folders: readonly CachedFolder[];
  /** The bytes sent (inside {@link response} once that is built). */
  body: Buffer;
  /**
   * For each content coding, the time (ms) until which it is known to have
   * no encoded form (neither a precompressed file nor one worth making):
   * requests for it are answered with this entry meanwhile.
   */
  noVariantUntil: Record<string, number>;
  /** A whole `200` response (head and body), built for {@link responseDate} and {@link server}. */
  response: Buffer | null;
  responseDate: string;
  server: string;
  /** Set on each hit, cleared as the eviction hand passes (the CLOCK algorithm). */
  used: boolean;
  /** The turn of the event loop in which it was last checked (see {@link FileCache.lookup}), or -1. */
  checkedTurn: number;
}

/** Bounds of a {@link FileCache}. */
export interface FileCacheLimits {
  /** Most files kept (default 1000). */
  maxEntries: number;
  /** Most bytes kept, counting each file's prepared response (default 16 MiB). */
  maxBytes: number;
  /** Largest file kept (default 64 KiB); larger files are read from disk on each request. */
  maxFileSize: number;
  /**
   * Let one check of a file serve every request for it answered in the same
   * turn of the event loop (default true; see {@link FileCache.lookup}).
   * False checks on every request.
   */
  shareChecksWithinTurn: boolean;
}

/** The default {@link FileCacheLimits}. */
export const DEFAULT_FILE_CACHE_LIMITS: Readonly<FileCacheLimits> = Object.freeze({
  maxEntries: 1000,
  maxBytes: 16 * 1024 * 1024,
  maxFileSize: 64 * 1024,
  shareChecksWithinTurn: true,
});

/**
 * How long after its last change a file is not cached. File systems stamp
 * times from a clock that ticks every few milliseconds (whole seconds on
 * some), so a file changed twice within one tick, keeping its size, would
 * keep its identity: a file is only cached once it has been left alone
 * longer than a tick (the "racy" rule of git's index). Times with a
 * fraction of a second get the short window, whole seconds the long one.
 */
export const RACY_WINDOW_MS = 100;
/** The window for files stamped in whole seconds (FAT: 2 s). */
export const RACY_WINDOW_WHOLE_SECONDS_MS = 3000;

/** Whether a file changed too recently (see {@link RACY_WINDOW_MS}) to be cached. */
export function isRacy(st: Stats, now: number): boolean {
  const whole = st.mtimeMs % 1000 === 0 && st.ctimeMs % 1000 === 0;
  const window = whole ? RACY_WINDOW_WHOLE_SECONDS_MS : RACY_WINDOW_MS;
  // A time in the future (clock set back) is racy too.
  return !(now - st.mtimeMs > window && now - st.ctimeMs > window);
}

/**
 * Small files' bytes and response fields, by request path.
 *
 * Only files whose real path (checked on the open descriptor) is the path
 * they were asked by, inside the root, with no symbolic link on the way,
 * are kept. Every hit is revalidated with one `lstat` per path component
 * below the root (see {@link FileCache.lookup}): the same folders, none
 * turned into a link, and the same unchanged file; otherwise the request is
 * served from disk through the full containment check. Files changed less
 * than {@link RACY_WINDOW_MS} before being read are not kept. A hit never
 * reads a file: it serves bytes read earlier from inside the root. Bounded
 * by entries and bytes; the CLOCK algorithm picks what to evict.
 */
export class FileCache implements FileCacheLimits {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly maxFileSize: number;
  readonly shareChecksWithinTurn: boolean;
  #entries = new Map<string, CachedFile>();
  #bytes = 0;
  /** Lookups answered from the cache. */
  hits = 0;
  /** Entries dropped because their file changed, moved or went away. */
  invalidations = 0;

  constructor(limits: Partial<FileCacheLimits> = {}) {
    this.maxEntries = Math.max(0, limits.maxEntries ?? DEFAULT_FILE_CACHE_LIMITS.maxEntries);
    this.maxBytes = Math.max(0, limits.maxBytes ?? DEFAULT_FILE_CACHE_LIMITS.maxBytes);
    this.maxFileSize = Math.max(0, limits.maxFileSize ?? DEFAULT_FILE_CACHE_LIMITS.maxFileSize);
    this.shareChecksWithinTurn =
      limits.shareChecksWithinTurn ?? DEFAULT_FILE_CACHE_LIMITS.shareChecksWithinTurn;
  }

  /** How many files are kept. */
  get size(): number {
    return this.#entries.size;
  }

  /** Bytes kept (each entry's prepared response, or its body before one is built). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether a file of `size` bytes may be kept. */
  accepts(size: number): boolean {
    return this.maxEntries > 0 && size <= this.maxFileSize && size <= this.maxBytes;
  }

  /**
   * The entry for `key` if the file it was read from is still there,
   * unchanged, by the same way: each folder on its path (`lstat`) still a
   * folder, not a link, with the same device and inode, and the file
   * (`lstat`) still a regular file, not a link, with the same device,
   * inode, size, modification and change times. Otherwise the entry is
   * dropped and undefined returned (the request then takes the full check).
   */
  lookup(key: string): CachedFile | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.checkedTurn === this.#turn || isCurrent(entry)) {
      entry.used = true;
      this.hits++;
      this.#checkedThisTurn(entry);
      return entry;
    }
    this.invalidations++;
    this.delete(key);
    return undefined;
  }

  /** Keeps `entry` under its key (replacing any), evicting others to stay within bounds. */
  store(entry: CachedFile): void {
    if (!this.accepts(entry.size)) return;
    this.delete(entry.key);
    entry.used = true;
    entry.checkedTurn = -1;
    this.#entries.set(entry.key, entry);
    this.#bytes += entryBytes(entry);
    this.#evict();
  }

  /**
   * Gives an entry a prepared response whose last `entry.size` bytes are
   * the body (the body then points into it, so the bytes are held once),
   * keeping the byte count right.
   */
  setResponse(entry: CachedFile, response: Buffer, date: string, server: string): void {
    const kept = this.#entries.get(entry.key) === entry;
    const before = entryBytes(entry);
    entry.response = response;
    entry.body = response.subarray(response.length - entry.size);
    entry.responseDate = date;
    entry.server = server;
    if (!kept) return;
    this.#bytes += entryBytes(entry) - before;
    this.#evict();
  }

  /** Drops the entry for `key`, if any. */
  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entryBytes(entry);
  }

  /** Drops every entry. */
  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  /**
   * Checks made while one turn of the event loop runs hold for the rest of
   * that turn: the requests answered in one turn arrived together, and
   * their responses only leave when the turn ends (the writes are corked
   * until then), so a client that saw a response and changed the file is
   * served in a later turn, with a new check.
   */
  #checkedThisTurn(entry: CachedFile): void {
    if (!this.shareChecksWithinTurn) return;
    entry.checkedTurn = this.#turn;
    if (!this.#turnEndScheduled) {
      this.#turnEndScheduled = true;
      setImmediate(this.#endTurn);
    }
  }

  #turn = 0;
  #turnEndScheduled = false;
  #endTurn = (): void => {
    this.#turn++;
    this.#turnEndScheduled = false;
  };

  #evict(): void {
    // Each pass either evicts the oldest entry or moves it to the back with
    // its bit cleared: at most two rounds of the map.
    while (this.#entries.size > this.maxEntries || this.#bytes > this.maxBytes) {
      const first = this.#entries.entries().next();
      if (first.done) break;
      const [key, entry] = first.value;
      this.#entries.delete(key);
      if (entry.used && this.#entries.size > 0) {
        entry.used = false;
        this.#entries.set(key, entry);
      } else {
        this.#bytes -= entryBytes(entry);
      }
    }
  }
}

/**
 * The folders between `root` and the file `segments` name, each checked
 * with `lstat` to be a folder and not a link; null when one is not.
 */
export function cachedFolders(root: Buffer, segments: readonly Buffer[]): CachedFolder[] | null {
  const folders: CachedFolder[] = [];
  let path = root;
  for (let i = 0; i < segments.length - 1; i++) {
    path = Buffer.concat([path, SLASH, segments[i]!]);
    let st: Stats | undefined;
    try {
      st = lstatSync(path, { throwIfNoEntry: false });
    } catch {
      return null;
    }
    if (st === undefined || !st.isDirectory()) return null;
    folders.push({ path, dev: st.dev, ino: st.ino });
  }
  return folders;
}

const SLASH = Buffer.from('/');

/** The identity of an open file, by the path it was opened by. */
export function identityOf(file: OpenFile): FileIdentity {
  const { st, path } = file;
  return {
    path,
    dev: st.dev,
    ino: st.ino,
    size: st.size,
    mtimeMs: st.mtimeMs,
    ctimeMs: st.ctimeMs,
  };
}

/**
 * Whether a file may be cached: it changed longer ago than the racy window
 * ({@link isRacy} against `now`, taken before the file was looked at), and
 * its real path is the path it was opened by (no symbolic link on the way).
 */
export function mayCache(file: OpenFile, now: number): boolean {
  return !isRacy(file.st, now) && file.real.equals(file.path);
}

/** Reads `size` bytes of `fd` from its start; null if it ended sooner. */
export function readWhole(fd: number, size: number): Buffer | null {
  const body = Buffer.allocUnsafe(size);
  let filled = 0;
  while (filled < body.length) {
    const count = readSync(fd, body, filled, body.length - filled, filled);
    if (count === 0) return null;
    filled += count;
  }
  return body;
}

/**
 * Reads a small file whole and keeps it in `cache` under `key`, unless the
 * cache does not take its size, it may not be cached ({@link mayCache}), a
 * folder on the way is not a plain folder, or it did not read back at its
 * size. Returns the entry, or null.
 */
export function cacheFile(
  cache: FileCache,
  key: string,
  file: OpenFile,
  root: Buffer,
  segments: readonly Buffer[],
  facts: FileFacts,
  now: number,
): CachedFile | null {
  if (!cache.accepts(file.st.size) || !mayCache(file, now)) return null;
  const folders = cachedFolders(root, segments);
  if (folders === null) return null;
  const body = readWhole(file.fd, file.st.size);
  if (body === null) return null;
  return cacheBytes(cache, key, [identityOf(file)], folders, { ...facts, body });
}

/**
 * Keeps bytes made from files (an encoded form) in `cache` under `key`,
 * checked on each use against `files` and `folders` as any entry is.
 * The caller checked that each file may be cached ({@link mayCache}).
 * Returns the entry, or null when the cache does not take its size.
 */
export function cacheBytes(
  cache: FileCache,
  key: string,
  files: readonly FileIdentity[],
  folders: readonly CachedFolder[],
  facts: FileFacts & { body: Buffer },
): CachedFile | null {
  if (!cache.accepts(facts.body.length)) return null;
  const entry: CachedFile = {
    ...facts,
    size: facts.body.length,
    key,
    files,
    folders,
    noVariantUntil: {},
    response: null,
    responseDate: '',
    server: '',
    used: true,
    checkedTurn: -1,
  };
  cache.store(entry);
  return entry;
}

function isCurrent(entry: CachedFile): boolean {
  try {
    const folders = entry.folders;
    for (let i = 0; i < folders.length; i++) {
      const folder = folders[i]!;
      const st = lstatSync(folder.path, { throwIfNoEntry: false });
      if (st === undefined || st.ino !== folder.ino || st.dev !== folder.dev || !st.isDirectory()) {
        return false;
      }
    }
    const files = entry.files;
    for (let i = 0; i < files.length; i++) {
      const file = files[i]!;
      const st = lstatSync(file.path, { throwIfNoEntry: false });
      if (
        st === undefined ||
        st.ino !== file.ino ||
        st.dev !== file.dev ||
        st.size !== file.size ||
        st.mtimeMs !== file.mtimeMs ||
        st.ctimeMs !== file.ctimeMs ||
        !st.isFile()
      ) {
        return false;
      }
    }
    return true;
  } catch {
    return false;
  }
}

function entryBytes(entry: CachedFile): number {
  return entry.response?.length ?? entry.body.length;
}
