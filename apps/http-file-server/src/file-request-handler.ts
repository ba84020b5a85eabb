/**
 * `FileRequestHandler`: serves a directory tree over HTTP (Python's
 * `SimpleHTTPRequestHandler`, with validators, ranges and the security
 * rules in the README).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readlinkSync,
  readSync,
  realpathSync,
  type Stats,
  statSync,
} from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ClosedError } from '@socketserver/core';
import mime from 'mime-types';
import parseRange from 'range-parser';
import {
  type CachedFile,
  cachedFolders,
  DEFAULT_FILE_CACHE_LIMITS,
  FileCache,
  isRacy,
} from './file-cache.js';
import {
  destroyWhenWritten,
  HTTPError,
  HTTPRequestHandler,
  httpDate,
} from './http-request-handler.js';
import { displayName, type ListingEntry, renderListing, sortEntries } from './listing.js';
import { canonicalPath, type ParsedTarget, parseTarget } from './target.js';

/** What to do with names that start with a dot. */
export type DotfilePolicy = 'ignore' | 'deny' | 'allow';

/** Settings of {@link FileRequestHandler} beyond the HTTP ones. */
export interface FileSettings {
  /** The served root (default: the current directory when the handler runs). */
  directory: string;
  /** Follow symbolic links that lead outside the root (default false: they answer 404 and are not listed). */
  followSymlinks: boolean;
  /**
   * Names starting with `.` anywhere in the path: `ignore` (default) answers
   * 404 and leaves them out of listings, `deny` answers 403 and leaves them
   * out, `allow` serves them like any file.
   */
  dotfiles: DotfilePolicy;
  /** Most ranges in one `Range` header (after merging); more and the header is ignored (default 16). */
  maxRanges: number;
  /** Most entries shown in a listing (default 10000). */
  maxListingEntries: number;
  /** Files served instead of a listing (default `index.html`, `index.htm`). */
  indexFiles: readonly string[];
  /**
   * Keep the bytes of small files between requests, revalidated by one
   * `stat` on each use (default true; see the README's "File cache").
   */
  fileCache: boolean;
  /** Most files in the cache (default 1000). */
  fileCacheEntries: number;
  /** Most bytes in the cache (default 16 MiB). */
  fileCacheBytes: number;
  /** Largest file the cache keeps (default 64 KiB). */
  fileCacheMaxFileSize: number;
  /**
   * Check a cached file on every request (true), instead of once per turn
   * of the event loop for all the requests answered in that turn (default
   * false; see the README's "File cache").
   */
  fileCacheCheckEachRequest: boolean;
}

/** The defaults of {@link FileSettings} (`directory` is resolved when a request is handled). */
export const DEFAULT_FILE_SETTINGS: Readonly<Omit<FileSettings, 'directory'>> = Object.freeze({
  followSymlinks: false,
  dotfiles: 'ignore' as DotfilePolicy,
  maxRanges: 16,
  maxListingEntries: 10_000,
  indexFiles: Object.freeze(['index.html', 'index.htm']),
  fileCache: true,
  fileCacheEntries: DEFAULT_FILE_CACHE_LIMITS.maxEntries,
  fileCacheBytes: DEFAULT_FILE_CACHE_LIMITS.maxBytes,
  fileCacheMaxFileSize: DEFAULT_FILE_CACHE_LIMITS.maxFileSize,
  fileCacheCheckEachRequest: !DEFAULT_FILE_CACHE_LIMITS.shareChecksWithinTurn,
});

/** The file caches of this thread or process, one per served root and settings. */
const fileCaches = new Map<string, FileCache>();

/**
 * The file caches of this thread or process that serve `directory` (one
 * per combination of settings), for tests and diagnostics.
 */
export function fileCachesOf(directory: string): FileCache[] {
  const root = resolve(directory);
  return [...fileCaches].filter(([key]) => key.split('\0')[0] === root).map(([, cache]) => cache);
}

/** Files up to this size are read in one call and sent with the head in one write. */
const SMALL_FILE = 64 * 1024;
const STREAM_CHUNK = 256 * 1024;
const STAT_BATCH = 32;
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/** An open file or directory, with the real path it was checked by. */
interface OpenFile {
  fd: number;
  st: Stats;
  real: Buffer;
  /** The path it was opened by. */
  path: Buffer;
}

/** What a response needs to know of a file; `body` holds its bytes when they are in memory. */
interface FileFacts {
  readonly size: number;
  readonly etag: string;
  /** Modification time in whole seconds, in ms. */
  readonly mtime: number;
  readonly lastModified: string;
  readonly contentType: string;
  readonly body: Buffer | null;
}

let hasProcFd: boolean | undefined;

/**
 * Forces (true/false) or restores (undefined) the choice of the
 * `/proc/self/fd` check, so tests can cover the `realpath` fallback.
 * @internal
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
const SLASH = Buffer.from('/');
const DONE = Promise.resolve();

/** Closes a descriptor, ignoring errors (it was only read). */
function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // nothing to do
  }
}

const realRoots = new Map<string, Buffer>();

/**
 * The real path of a served root, resolved on first use and then kept for
 * the process (a failed lookup is retried on the next request).
 */
function realRoot(directory: string): Buffer {
  let root = realRoots.get(directory);
  if (root === undefined) {
    root = realpathSync.native(directory, { encoding: 'buffer' });
    realRoots.set(directory, root);
  }
  return root;
}

/** Whether `path` is `root` or below it, compared byte-wise. */
export function isInside(root: Buffer, path: Buffer): boolean {
  if (root.length === 1 && root[0] === 0x2f) return path[0] === 0x2f;
  if (path.length === root.length) return path.equals(root);
  return (
    path.length > root.length &&
    path[root.length] === 0x2f &&
    path.subarray(0, root.length).equals(root)
  );
}

/** A strong entity tag from inode, size and modification time (ns precision where the platform has it). */
export function entityTag(st: Stats): string {
  return `"${st.ino.toString(16)}-${st.size.toString(16)}-${Math.round(st.mtimeMs * 1000).toString(16)}"`;
}

/** A file's response fields from its `fstat` and name (MIME type from the name). */
function fileFacts(st: Stats, name: string): FileFacts {
  const mtime = Math.floor(st.mtimeMs / 1000) * 1000;
  return {
    size: st.size,
    etag: entityTag(st),
    mtime,
    lastModified: new Date(mtime).toUTCString(),
    contentType: mime.contentType(name) || 'application/octet-stream',
    body: null,
  };
}

/** Splits an `If-Match`/`If-None-Match` list into entity tags. */
function tagList(value: string): string[] {
  return value.match(/(?:W\/)?"[^"]*"|\*/g) ?? [];
}

/**
 * Serves the files under `directory` (Python's `SimpleHTTPRequestHandler`):
 * GET and HEAD; directories redirect to their `/` form (301, query kept),
 * then serve an index file or an HTML listing; files carry their MIME type
 * (charset on text), `Last-Modified`, a strong `ETag`, `Accept-Ranges`; it
 * answers 304 to `If-None-Match`/`If-Modified-Since`, 412 to failing
 * `If-Match`/`If-Unmodified-Since`, 206 to a satisfiable `Range` (several
 * ranges as `multipart/byteranges`), 416 with `bytes * /size` to an
 * unsatisfiable one. Files are streamed with backpressure.
 *
 * Nothing outside the root is read or listed: see {@link parseTarget} for
 * the path rules; symbolic links are resolved and must stay inside the
 * root unless `followSymlinks`; names starting with `.` follow `dotfiles`.
 *
 * Settings: the fields of {@link FileSettings} and of `HTTPSettings`.
 */
export class FileRequestHandler extends HTTPRequestHandler implements FileSettings {
  /** Where a worker thread or child process finds this class. */
  static override moduleUrl = import.meta.url;

  directory = '';
  followSymlinks = DEFAULT_FILE_SETTINGS.followSymlinks;
  dotfiles: DotfilePolicy = DEFAULT_FILE_SETTINGS.dotfiles;
  maxRanges = DEFAULT_FILE_SETTINGS.maxRanges;
  maxListingEntries = DEFAULT_FILE_SETTINGS.maxListingEntries;
  indexFiles: readonly string[] = DEFAULT_FILE_SETTINGS.indexFiles;
  fileCache = DEFAULT_FILE_SETTINGS.fileCache;
  fileCacheEntries = DEFAULT_FILE_SETTINGS.fileCacheEntries;
  fileCacheBytes = DEFAULT_FILE_SETTINGS.fileCacheBytes;
  fileCacheMaxFileSize = DEFAULT_FILE_SETTINGS.fileCacheMaxFileSize;
  fileCacheCheckEachRequest = DEFAULT_FILE_SETTINGS.fileCacheCheckEachRequest;

  #cache: FileCache | null = null;

  /** Resolves `directory` (default: the current directory) and finds the file cache. */
  override setup(): void {
    super.setup();
    this.directory = resolve(this.directory || process.cwd());
    if (this.fileCache) {
      const key = [
        this.directory,
        this.followSymlinks,
        this.dotfiles,
        this.fileCacheEntries,
        this.fileCacheBytes,
        this.fileCacheMaxFileSize,
        this.fileCacheCheckEachRequest,
      ].join('\0');
      let cache = fileCaches.get(key);
      if (cache === undefined) {
        cache = new FileCache({
          maxEntries: this.fileCacheEntries,
          maxBytes: this.fileCacheBytes,
          maxFileSize: this.fileCacheMaxFileSize,
          shareChecksWithinTurn: !this.fileCacheCheckEachRequest,
        });
        fileCaches.set(key, cache);
      }
      this.#cache = cache;
    }
  }

  /** Serves a GET request. */
  doGET(): Promise<void> {
    return this.#serve(true);
  }

  /** Serves a HEAD request: the same head as GET, no body. */
  doHEAD(): Promise<void> {
    return this.#serve(false);
  }

  /**
   * Serves from the cache when it holds the file (a plain GET of it, the
   * common case, without a single `async` layer), otherwise from disk.
   */
  #serve(withBody: boolean): Promise<void> {
    // The cache is keyed by the target's path as received: the same string
    // always parses the same way, so a hit needs no parsing nor checks.
    const cache = this.#cache;
    if (cache === null) return this.#serveFromDisk(withBody, null, '');
    const path = this.path;
    const query = path.indexOf('?');
    const key = query < 0 ? path : path.slice(0, query);
    const entry = cache.lookup(key);
    if (entry === undefined) return this.#serveFromDisk(withBody, cache, key);
    if (
      withBody &&
      this.canSendPrepared() &&
      this.#preconditions(entry.etag, entry.mtime) === 0 &&
      this.#ranges(entry.size, entry.etag, entry.mtime) === null
    ) {
      return this.#sendPrepared(entry);
    }
    return this.#serveFile(entry, -1, entry, withBody);
  }

  async #serveFromDisk(withBody: boolean, cache: FileCache | null, key: string): Promise<void> {
    let target: ParsedTarget;
    try {
      target = parseTarget(this.path);
    } catch (error) {
      if (!(error instanceof HTTPError)) throw error;
      await this.sendError(error.status, error.message);
      return;
    }
    for (const segment of target.segments) {
      if (segment[0] === 0x2e && this.dotfiles !== 'allow') {
        await this.sendError(this.dotfiles === 'deny' ? 403 : 404);
        return;
      }
    }
    // Taken before the file is looked at: see isRacy.
    const now = Date.now();
    const file = this.#openInside(target.segments);
    if (file === null) {
      await this.sendError(404, 'File not found');
      return;
    }
    const { fd, st, real } = file;
    if (st.isDirectory()) {
      closeQuietly(fd);
      await this.#serveDirectory(real, target, withBody);
      return;
    }
    try {
      if (target.trailingSlash) {
        await this.sendError(404, 'File not found');
        return;
      }
      const name = displayName(target.segments.at(-1) ?? Buffer.alloc(0));
      const entry =
        cache === null ? null : this.#cacheFile(cache, key, file, target.segments, name, now);
      await this.#serveFile(entry ?? fileFacts(st, name), fd, entry, withBody);
    } finally {
      closeQuietly(fd);
    }
  }

  /**
   * Reads a small file whole and keeps it in the cache, unless it changed
   * too recently ({@link isRacy}), its path has a symbolic link on the way
   * (its real path is not the path asked for), or it did not read back at
   * its size.
   */
  #cacheFile(
    cache: FileCache,
    key: string,
    file: OpenFile,
    segments: readonly Buffer[],
    name: string,
    now: number,
  ): CachedFile | null {
    const { fd, st, path, real } = file;
    if (!cache.accepts(st.size) || isRacy(st, now) || !real.equals(path)) return null;
    const folders = cachedFolders(realRoot(this.directory), segments);
    if (folders === null) return null;
    const body = Buffer.allocUnsafe(st.size);
    let filled = 0;
    while (filled < body.length) {
      const count = readSync(fd, body, filled, body.length - filled, filled);
      if (count === 0) return null;
      filled += count;
    }
    const entry: CachedFile = {
      ...fileFacts(st, name),
      key,
      path,
      folders,
      dev: st.dev,
      ino: st.ino,
      mtimeMs: st.mtimeMs,
      ctimeMs: st.ctimeMs,
      body,
      response: null,
      responseDate: '',
      server: '',
      used: true,
      checkedTurn: -1,
    };
    cache.store(entry);
    return entry;
  }

  /**
   * Opens the file the segments name below the root, if it is a regular
   * file or a directory inside the root (or anywhere, with
   * `followSymlinks`); null otherwise.
   *
   * On Linux the check is made on the descriptor itself: the path is
   * opened (links followed, `O_NONBLOCK` so a FIFO cannot block), then
   * `/proc/self/fd/N` names the file really opened, which must be inside the
   * root. No link swapped in between a check and the open can escape, and it
   * costs one `readlink` where `realpath` costs one call per path component.
   * Elsewhere, `realpath` first, then an `O_NOFOLLOW` open of the result.
   *
   * These calls (and reads of small files) are synchronous, as nginx makes
   * them without `aio`: on a local file system they take microseconds, less
   * than a trip through libuv's thread pool.
   */
  #openInside(segments: readonly Buffer[]): OpenFile | null {
    let root: Buffer;
    try {
      root = realRoot(this.directory);
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
        if (!this.followSymlinks && !isInside(root, real)) return null;
        fd = openSync(real, OPEN_FLAGS | constants.O_NOFOLLOW);
      }
    } catch {
      return null;
    }
    try {
      if (this.followSymlinks || isInside(root, real)) {
        const st = fstatSync(fd);
        if (st.isFile() || st.isDirectory()) return { fd, st, real, path };
      }
    } catch {
      // fall through: not servable
    }
    closeQuietly(fd);
    return null;
  }

  async #serveDirectory(real: Buffer, target: ParsedTarget, withBody: boolean): Promise<void> {
    if (!target.trailingSlash && target.segments.length > 0) {
      const location = `${canonicalPath(target.segments, true)}${target.query}`;
      this.sendResponse(301);
      this.sendHeader('Location', location);
      this.sendHeader('Content-Length', 0);
      await this.endHeaders();
      return;
    }
    for (const index of this.indexFiles) {
      const file = this.#openInside([...target.segments, Buffer.from(index)]);
      if (file === null) continue;
      const { fd, st } = file;
      try {
        if (st.isFile()) {
          await this.#serveFile(fileFacts(st, index), fd, null, withBody);
          return;
        }
      } finally {
        closeQuietly(fd);
      }
    }
    await this.#serveListing(real, target, withBody);
  }

  async #serveListing(real: Buffer, target: ParsedTarget, withBody: boolean): Promise<void> {
    let names: Buffer[];
    try {
      names = (await readdir(real, { encoding: 'buffer' })) as Buffer[];
    } catch {
      await this.sendError(404, 'No permission to list directory');
      return;
    }
    if (this.dotfiles !== 'allow') names = names.filter((name) => name[0] !== 0x2e);
    const root = realRoot(this.directory);
    const entries: ListingEntry[] = [];
    for (let i = 0; i < names.length; i += STAT_BATCH) {
      const batch = names.slice(i, i + STAT_BATCH).map((name) => this.#entry(root, real, name));
      for (const entry of await Promise.all(batch)) if (entry) entries.push(entry);
    }
    const sorted = sortEntries(entries);
    const shown = sorted.slice(0, this.maxListingEntries);
    const display = `${target.segments.map((s) => `/${displayName(s)}`).join('')}/`;
    const body = Buffer.from(
      renderListing(display, shown, target.segments.length === 0, sorted.length - shown.length),
    );
    this.sendResponse(200);
    this.sendHeader('Content-Type', 'text/html; charset=utf-8');
    this.sendHeader('Content-Length', body.length);
    this.sendHeader('Cache-Control', 'no-cache');
    await this.endHeaders(withBody ? body : undefined);
  }

  /** One listing row, or null for entries that cannot be served (links outside the root, broken links). */
  async #entry(root: Buffer, dir: Buffer, name: Buffer): Promise<ListingEntry | null> {
    const path = Buffer.concat([dir, SLASH, name]);
    try {
      const real = await realpath(path, { encoding: 'buffer' });
      if (!this.followSymlinks && !isInside(root, real)) return null;
      const st = await stat(real);
      if (!st.isFile() && !st.isDirectory()) return null;
      return {
        name,
        directory: st.isDirectory(),
        symlink: !real.equals(path),
        size: st.size,
        mtimeMs: st.mtimeMs,
      };
    } catch {
      return null;
    }
  }

  /**
   * Answers for a regular file: from `fd`, or from `file.body` when the
   * bytes are in memory; `entry` is the cache entry they come from, whose
   * prepared `200` response is sent as is when the request allows.
   */
  async #serveFile(
    file: FileFacts,
    fd: number,
    entry: CachedFile | null,
    withBody: boolean,
  ): Promise<void> {
    const { etag, mtime, lastModified, size } = file;
    const status = this.#preconditions(etag, mtime);
    if (status === 412) {
      await this.sendError(412);
      return;
    }
    if (status === 304) {
      this.sendResponse(304);
      this.sendHeader('ETag', etag);
      this.sendHeader('Last-Modified', lastModified);
      await this.endHeaders();
      return;
    }
    const type = file.contentType;
    const ranges = this.#ranges(size, etag, mtime);
    if (ranges === -1) {
      this.sendResponse(416);
      this.sendHeader('Content-Range', `bytes */${size}`);
      this.sendHeader('Content-Length', 0);
      await this.endHeaders();
      return;
    }
    const common = () => {
      this.sendHeader('Last-Modified', lastModified);
      this.sendHeader('ETag', etag);
      this.sendHeader('Accept-Ranges', 'bytes');
    };
    if (ranges === null) {
      if (entry !== null && withBody && this.canSendPrepared()) {
        await this.#sendPrepared(entry);
        return;
      }
      this.sendResponse(200);
      this.sendHeader('Content-Type', type);
      this.sendHeader('Content-Length', size);
      common();
      await this.#sendBytes(file, fd, 0, size, withBody);
      return;
    }
    if (ranges.length === 1) {
      const { start, end } = ranges[0]!;
      this.sendResponse(206);
      this.sendHeader('Content-Type', type);
      this.sendHeader('Content-Length', end - start + 1);
      this.sendHeader('Content-Range', `bytes ${start}-${end}/${size}`);
      common();
      await this.#sendBytes(file, fd, start, end - start + 1, withBody);
      return;
    }
    const boundary = randomBytes(12).toString('hex');
    const heads = ranges.map(
      ({ start, end }, i) =>
        `${i === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Type: ${type}\r\n` +
        `Content-Range: bytes ${start}-${end}/${size}\r\n\r\n`,
    );
    const tail = `\r\n--${boundary}--\r\n`;
    let length = Buffer.byteLength(tail);
    ranges.forEach(({ start, end }, i) => {
      length += Buffer.byteLength(heads[i]!) + end - start + 1;
    });
    this.sendResponse(206);
    this.sendHeader('Content-Type', `multipart/byteranges; boundary=${boundary}`);
    this.sendHeader('Content-Length', length);
    common();
    await this.endHeaders();
    if (!withBody) return;
    for (const [i, { start, end }] of ranges.entries()) {
      await this.writeBody(Buffer.from(heads[i]!));
      if (file.body !== null) await this.writeBody(file.body.subarray(start, end + 1));
      else await this.#streamBytes(fd, start, end - start + 1);
    }
    await this.writeBody(Buffer.from(tail));
  }

  /**
   * Sends a cached file's whole `200` response: head and body in one
   * buffer, built once per second (the `Date` changes) and per `Server`.
   */
  #sendPrepared(entry: CachedFile): Promise<void> {
    const date = httpDate();
    const server = this.serverVersion;
    let response = entry.response;
    if (response === null || entry.responseDate !== date || entry.server !== server) {
      const head =
        `${this.preparedHeadStart(200, date)}Content-Type: ${entry.contentType}\r\n` +
        `Content-Length: ${entry.size}\r\nLast-Modified: ${entry.lastModified}\r\n` +
        `ETag: ${entry.etag}\r\nAccept-Ranges: bytes\r\n\r\n`;
      response = Buffer.allocUnsafe(head.length + entry.size);
      response.write(head, 0, 'latin1');
      response.set(entry.body, head.length);
      this.#cache?.setResponse(entry, response, date, server);
    }
    return this.sendPreparedResponse(200, response, entry.size);
  }

  /** Evaluates conditional requests (RFC 9110 §13.2.2): 412, 304, or 0 to go on. */
  #preconditions(etag: string, mtime: number): 0 | 304 | 412 {
    const ifMatch = this.headers.get('if-match');
    if (ifMatch !== undefined) {
      const tags = tagList(ifMatch);
      if (!tags.includes('*') && !tags.includes(etag)) return 412;
    } else {
      const value = this.headers.get('if-unmodified-since');
      const since = value === undefined ? Number.NaN : Date.parse(value);
      if (!Number.isNaN(since) && mtime > since) return 412;
    }
    const ifNoneMatch = this.headers.get('if-none-match');
    if (ifNoneMatch !== undefined) {
      const tags = tagList(ifNoneMatch).map((tag) => (tag.startsWith('W/') ? tag.slice(2) : tag));
      return tags.includes('*') || tags.includes(etag) ? 304 : 0;
    }
    const value = this.headers.get('if-modified-since');
    if (value === undefined) return 0;
    const since = Date.parse(value);
    return !Number.isNaN(since) && mtime <= since ? 304 : 0;
  }

  /**
   * The ranges to send: null for the whole file (no `Range`, a malformed
   * one, a non-bytes unit, a failing `If-Range`, too many ranges), -1 when
   * unsatisfiable, else the merged ranges.
   */
  #ranges(
    size: number,
    etag: string,
    mtime: number,
  ): Array<{ start: number; end: number }> | -1 | null {
    const header = this.headers.get('range');
    if (header === undefined || this.headers.getAll('range').length > 1) return null;
    const ifRange = this.headers.get('if-range');
    if (ifRange !== undefined) {
      const matches = ifRange.startsWith('"')
        ? ifRange === etag
        : !ifRange.startsWith('W/') && Date.parse(ifRange) === mtime;
      if (!matches) return null;
    }
    let result: ReturnType<typeof parseRange>;
    try {
      result = parseRange(size, header, { combine: true });
    } catch {
      return null;
    }
    if (result === -2) return null;
    if (result === -1) return -1;
    if (result.type !== 'bytes' || result.length > this.maxRanges) return null;
    return result.map(({ start, end }) => ({ start, end }));
  }

  /** Ends the head and sends `length` bytes from `start` (in the same write when small). */
  async #sendBytes(
    file: FileFacts,
    fd: number,
    start: number,
    length: number,
    withBody: boolean,
  ): Promise<void> {
    if (!withBody || length === 0) {
      await this.endHeaders();
      return;
    }
    if (file.body !== null) {
      await this.endHeaders(file.body.subarray(start, start + length));
      return;
    }
    if (length <= SMALL_FILE) {
      const buffer = Buffer.allocUnsafe(length);
      const bytesRead = readSync(fd, buffer, 0, length, start);
      if (bytesRead === length) {
        await this.endHeaders(buffer);
        return;
      }
      // The file shrank since it was measured: send what there is, then close,
      // since the promised Content-Length cannot be met.
      await this.endHeaders(buffer.subarray(0, bytesRead));
      this.closeConnection = true;
      destroyWhenWritten(this.connection);
      return;
    }
    await this.endHeaders();
    await this.#streamBytes(fd, start, length);
  }

  /**
   * Streams `length` bytes from `start` with backpressure, through two
   * reused buffers of `STREAM_CHUNK` bytes: a buffer is refilled only once
   * the socket has handed its previous contents to the kernel, so a
   * connection never holds more than two chunks in user space, and no
   * memory is allocated (or page-faulted in) per chunk. Reads are
   * synchronous from the descriptor that was checked (never the path again).
   * If the file shrank meanwhile, the connection is destroyed, since the
   * promised `Content-Length` cannot be met.
   */
  async #streamBytes(fd: number, start: number, length: number): Promise<void> {
    const socket = this.connection;
    const size = Math.min(STREAM_CHUNK, length);
    const buffers = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)] as const;
    const released: [Promise<void>, Promise<void>] = [DONE, DONE];
    let sent = 0;
    let turn = 0;
    while (sent < length) {
      await released[turn];
      if (socket.destroyed || socket.writableEnded) throw new ClosedError('the connection');
      const buffer = buffers[turn]!;
      const count = readSync(fd, buffer, 0, Math.min(size, length - sent), start + sent);
      if (count === 0) break;
      sent += count;
      this.bodyBytesSent += count;
      const chunk = count === buffer.length ? buffer : buffer.subarray(0, count);
      released[turn] = new Promise((resolve) => socket.write(chunk, () => resolve()));
      turn ^= 1;
    }
    await Promise.all(released);
    if (sent !== length) {
      this.closeConnection = true;
      destroyWhenWritten(socket);
    }
  }
}
