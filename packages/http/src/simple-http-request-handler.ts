/**
 * `SimpleHTTPRequestHandler`: serves a directory tree (Python's
 * `http.server.SimpleHTTPRequestHandler`), with validators, ranges, a
 * small-file cache and a strict rule that nothing outside the root is read.
 *
 * @module
 */
import { resolve } from 'node:path';
import { BaseHTTPRequestHandler } from './base-http-request-handler.js';
import { type ByteSource, planMultipart, sendBytes, sendMultipart } from './body-senders.js';
import { type CachedFile, cacheFile, DEFAULT_FILE_CACHE_LIMITS, FileCache } from './file-cache.js';
import { type FileFacts, fileFacts, guessType } from './file-facts.js';
import { HTTPError } from './http-error.js';
import { displayName, readListingEntries, renderListing, sortEntries } from './listing.js';
import { closeQuietly, openInside, realRoot } from './open-inside.js';
import { evaluatePreconditions } from './preconditions.js';
import { selectRanges, UNSATISFIABLE } from './ranges.js';
import { httpDate } from './response-head.js';
import { canonicalPath, type ParsedTarget, parseTarget } from './target.js';

/** What to do with names that start with a dot. */
export type DotfilePolicy = 'ignore' | 'deny' | 'allow';

/** Settings of {@link SimpleHTTPRequestHandler} beyond the HTTP ones. */
export interface FileSettings {
  /** The served root (default: the current directory when the handler runs). */
  directory: string;
  /** Follow symbolic links that lead outside the root (default false: they answer 404 and are not listed). */
  followSymlinks: boolean;
  /**
   * Names starting with `.` anywhere in the path: `ignore` (default) answers
   * 404 and leaves them out of listings, `deny` answers 403 and leaves them
   * out, `allow` serves them like any file (Python's behaviour).
   */
  dotfiles: DotfilePolicy;
  /** Most ranges in one `Range` header (after merging); more and the header is ignored (default 16). */
  maxRanges: number;
  /** Most entries shown in a listing (default 10000). */
  maxListingEntries: number;
  /** Files served instead of a listing (default `index.html`, `index.htm`). */
  indexFiles: readonly string[];
  /** Keep the bytes of small files between requests, revalidated on each use (default true). */
  fileCache: boolean;
  /** Most files in the cache (default 1000). */
  fileCacheEntries: number;
  /** Most bytes in the cache (default 16 MiB). */
  fileCacheBytes: number;
  /** Largest file the cache keeps (default 64 KiB). */
  fileCacheMaxFileSize: number;
  /**
   * Check a cached file on every request (true), instead of once per turn
   * of the event loop for all the requests answered in that turn (default false).
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
 * The file caches of this thread or process that serve `directory` (one per
 * combination of settings). For tests and diagnostics; not exported by the package.
 */
export function fileCachesOf(directory: string): FileCache[] {
  const root = resolve(directory);
  return [...fileCaches].filter(([key]) => key.split('\0')[0] === root).map(([, cache]) => cache);
}

/**
 * Serves the files under `directory` (Python's `SimpleHTTPRequestHandler`):
 * GET and HEAD. A directory without its trailing slash redirects (301, query
 * kept), then serves an index file or an HTML listing. Files carry their
 * type (charset on text), `Last-Modified`, a strong `ETag`, `Accept-Ranges`;
 * conditional requests get 304 or 412 (RFC 9110 §13.2.2), a satisfiable
 * `Range` 206 (several ranges as `multipart/byteranges`), an unsatisfiable
 * one 416. Large files are streamed with backpressure.
 *
 * Nothing outside the root is read or listed: the target's rules
 * (`parseTarget`), then the file really opened must be inside the root
 * (`openInside`) unless `followSymlinks`; names starting with `.` follow
 * `dotfiles`.
 *
 * Settings: the fields of {@link FileSettings} and of `HTTPSettings`.
 */
export class SimpleHTTPRequestHandler extends BaseHTTPRequestHandler implements FileSettings {
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

  /** Resolves `directory` (default: the current directory) and finds the file cache. May be extended. */
  override setup(): void {
    super.setup();
    this.directory = resolve(this.directory || process.cwd());
    if (this.fileCache) this.#cache = this.#findCache();
  }

  /** Serves a GET request. */
  doGET(): Promise<void> {
    return this.#serve(true);
  }

  /** Serves a HEAD request: the same head as GET, no body. */
  doHEAD(): Promise<void> {
    return this.#serve(false);
  }

  /** The `Content-Type` of a file by its name (Python's `guess_type`). May be overridden. */
  guessType(name: string): string {
    return guessType(name);
  }

  #findCache(): FileCache {
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
    return cache;
  }

  /**
   * Serves from the cache when it holds the file (a plain GET of it, the
   * common case, without a single `async` layer), otherwise from disk. The
   * cache is keyed by the target's path as received: the same string always
   * parses the same way, so a hit needs no parsing nor checks.
   */
  #serve(withBody: boolean): Promise<void> {
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
      evaluatePreconditions(this.headers, entry.etag, entry.mtime) === 0 &&
      !this.headers.has('range')
    ) {
      return this.#sendPrepared(entry);
    }
    return this.#serveFile(entry, entry, -1, withBody);
  }

  async #serveFromDisk(withBody: boolean, cache: FileCache | null, key: string): Promise<void> {
    const target = parseTarget(this.path);
    for (const segment of target.segments) {
      if (segment[0] === 0x2e && this.dotfiles !== 'allow') {
        if (this.dotfiles === 'deny') throw new HTTPError(403, 'Forbidden');
        throw new HTTPError(404, 'File not found');
      }
    }
    // Taken before the file is looked at: see isRacy.
    const now = Date.now();
    const file = openInside(this.directory, target.segments, this.followSymlinks);
    if (file === null) throw new HTTPError(404, 'File not found');
    const { fd, st, real } = file;
    try {
      if (st.isDirectory()) {
        closeQuietly(fd);
        await this.#serveDirectory(real, target, withBody);
        return;
      }
      if (target.trailingSlash) throw new HTTPError(404, 'File not found');
      const facts = fileFacts(st, this.guessType(displayName(target.segments.at(-1)!)));
      const entry =
        cache === null
          ? null
          : cacheFile(cache, key, file, realRoot(this.directory), target.segments, facts, now);
      await this.#serveFile(entry ?? facts, entry, fd, withBody);
    } finally {
      closeQuietly(fd);
    }
  }

  async #serveDirectory(real: Buffer, target: ParsedTarget, withBody: boolean): Promise<void> {
    if (!target.trailingSlash && target.segments.length > 0) {
      this.sendResponse(301);
      this.sendHeader('Location', `${canonicalPath(target.segments, true)}${target.query}`);
      this.sendHeader('Content-Length', 0);
      await this.endHeaders();
      return;
    }
    for (const index of this.indexFiles) {
      const file = openInside(
        this.directory,
        [...target.segments, Buffer.from(index)],
        this.followSymlinks,
      );
      if (file === null) continue;
      try {
        if (file.st.isFile()) {
          await this.#serveFile(fileFacts(file.st, this.guessType(index)), null, file.fd, withBody);
          return;
        }
      } finally {
        closeQuietly(file.fd);
      }
    }
    await this.#serveListing(real, target, withBody);
  }

  async #serveListing(real: Buffer, target: ParsedTarget, withBody: boolean): Promise<void> {
    const entries = await readListingEntries(real, realRoot(this.directory), {
      dotfiles: this.dotfiles === 'allow',
      followSymlinks: this.followSymlinks,
    });
    if (entries === null) throw new HTTPError(404, 'No permission to list directory');
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

  /**
   * Answers for a regular file whose bytes are in `file.body` or behind
   * `fd`; `entry` is the cache entry they come from, whose prepared `200`
   * response is sent as is when the request allows.
   */
  async #serveFile(
    file: FileFacts,
    entry: CachedFile | null,
    fd: number,
    withBody: boolean,
  ): Promise<void> {
    const { etag, mtime, lastModified, size, contentType } = file;
    const status = evaluatePreconditions(this.headers, etag, mtime);
    if (status === 412) throw new HTTPError(412, 'Precondition failed');
    if (status === 304) {
      this.sendResponse(304);
      this.sendHeader('ETag', etag);
      this.sendHeader('Last-Modified', lastModified);
      await this.endHeaders();
      return;
    }
    const ranges = selectRanges(this.headers, size, etag, mtime, this.maxRanges);
    if (ranges === UNSATISFIABLE) {
      this.sendResponse(416);
      this.sendHeader('Content-Range', `bytes */${size}`);
      this.sendHeader('Content-Length', 0);
      await this.endHeaders();
      return;
    }
    if (ranges === null && entry !== null && withBody && this.canSendPrepared()) {
      await this.#sendPrepared(entry);
      return;
    }
    const source: ByteSource = { body: file.body, fd };
    this.sendResponse(ranges === null ? 200 : 206);
    if (ranges === null || ranges.length === 1) {
      const { start, end } = ranges?.[0] ?? { start: 0, end: size - 1 };
      this.sendHeader('Content-Type', contentType);
      this.sendHeader('Content-Length', end - start + 1);
      if (ranges !== null) this.sendHeader('Content-Range', `bytes ${start}-${end}/${size}`);
      this.#validatorFields(file);
      await sendBytes(this, source, start, end - start + 1, withBody);
      return;
    }
    const plan = planMultipart(ranges, contentType, size);
    this.sendHeader('Content-Type', plan.contentType);
    this.sendHeader('Content-Length', plan.length);
    this.#validatorFields(file);
    await sendMultipart(this, source, plan, withBody);
  }

  #validatorFields({ lastModified, etag }: FileFacts): void {
    this.sendHeader('Last-Modified', lastModified);
    this.sendHeader('ETag', etag);
    this.sendHeader('Accept-Ranges', 'bytes');
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
}
