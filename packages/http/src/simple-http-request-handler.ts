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
import { fileCacheControl, HASHED_NAME } from './cache-control.js';
import { acceptedEncodings, compress, type Encoding, isCompressible, SUFFIX } from './encodings.js';
import {
  type CachedFile,
  cacheBytes,
  cachedFolders,
  cacheFile,
  DEFAULT_FILE_CACHE_LIMITS,
  FileCache,
  identityOf,
  mayCache,
  readWhole,
} from './file-cache.js';
import { entityTag, type FileFacts, fileFacts, guessType } from './file-facts.js';
import { HTTPError } from './http-error.js';
import {
  displayName,
  listingOrder,
  readListingEntries,
  renderListing,
  sortEntries,
} from './listing.js';
import { closeQuietly, type OpenFile, openInside, realRoot } from './open-inside.js';
import { evaluatePreconditions } from './preconditions.js';
import { selectRanges, UNSATISFIABLE } from './ranges.js';
import { httpDate, oneLine } from './response-head.js';
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
  /**
   * CORS: the `Access-Control-Allow-Origin` sent with every response (`'*'`
   * for any origin), and preflight requests (`OPTIONS` with
   * `Access-Control-Request-Method`) answered for GET and HEAD; null (the
   * default) sends none, and `OPTIONS` gets 501 as in Python.
   */
  cors: string | null;
  /**
   * Seconds a file may be reused without asking again: `Cache-Control:
   * public, max-age=N` (0: `no-cache`), and a year with `immutable` for
   * names matching `immutableNames`. Null (the default) sends no
   * `Cache-Control` on files: caches revalidate with `ETag` and `Last-Modified`.
   */
  maxAge: number | null;
  /**
   * A regular expression (its source) for file names that carry a hash of
   * their content, which get `public, max-age=31536000, immutable` when
   * `maxAge` is set (default {@link HASHED_NAME}: webpack, Parcel, Rollup,
   * Vite and esbuild hashes); null for none.
   */
  immutableNames: string | null;
  /**
   * A single-page application's fallback: a path below the root (for
   * example `index.html`) served, with 200, for a missing path whose last
   * segment has no extension (`/users/42`); a missing `/app.js` is still a
   * 404. Null (the default): none.
   */
  fallbackFile: string | null;
  /**
   * Serve `NAME.br` and `NAME.gz` beside a file to clients that accept br
   * or gzip, when that file is at least as recent as the original (default
   * false). Never for a `Range` request.
   */
  precompressed: boolean;
  /**
   * Compress files of compressible types (text, JSON, JavaScript, SVG,
   * ...) between `compressMinSize` and `compressMaxSize` with brotli or
   * gzip as clients accept them, when no precompressed file serves (default
   * false). Never for a `Range` request.
   */
  compress: boolean;
  /** The smallest file compressed as it is served (default 1024 bytes). */
  compressMinSize: number;
  /** The largest file compressed as it is served (default 4 MiB; precompress larger ones). */
  compressMaxSize: number;
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
  cors: null as string | null,
  maxAge: null as number | null,
  immutableNames: HASHED_NAME as string | null,
  fallbackFile: null as string | null,
  precompressed: false,
  compress: false,
  compressMinSize: 1024,
  compressMaxSize: 4 * 1024 * 1024,
});

/** How long a file is known to have no encoded form before that is looked at again. */
const NO_VARIANT_RECHECK_MS = 1000;
/** What follows a request path in the cache key of an encoded form. */
const VARIANT_KEY: Readonly<Record<Encoding, string>> = { br: '\0br', gzip: '\0gzip' };
const NO_CODINGS: readonly Encoding[] = Object.freeze([]);
/** The headers a script may read from a cross-origin response beyond the CORS-safelisted ones. */
const EXPOSED = 'Content-Encoding, Content-Range, Accept-Ranges, ETag';

/** Compiled `immutableNames` sources. */
const patterns = new Map<string, RegExp>();
function pattern(source: string | null): RegExp | null {
  if (source === null) return null;
  let compiled = patterns.get(source);
  if (compiled === undefined) {
    compiled = new RegExp(source);
    patterns.set(source, compiled);
  }
  return compiled;
}

/** A number per handler class, so classes that may prepare responses differently share no cache. */
const classIds = new WeakMap<object, number>();
let lastClassId = 0;
function classId(handlerClass: object): number {
  let id = classIds.get(handlerClass);
  if (id === undefined) {
    id = ++lastClassId;
    classIds.set(handlerClass, id);
  }
  return id;
}

/** Whether a decoded name has an extension (a dot after its first character). */
function hasExtension(name: Buffer | undefined): boolean {
  return name !== undefined && name.lastIndexOf(0x2e) > 0;
}

/** An entity tag for an encoded form: the coding inside the quotes (`"abc-br"`). */
function taggedWith(etag: string, coding: string): string {
  return `${etag.slice(0, -1)}-${coding}"`;
}

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
  cors = DEFAULT_FILE_SETTINGS.cors;
  maxAge = DEFAULT_FILE_SETTINGS.maxAge;
  immutableNames = DEFAULT_FILE_SETTINGS.immutableNames;
  fallbackFile = DEFAULT_FILE_SETTINGS.fallbackFile;
  precompressed = DEFAULT_FILE_SETTINGS.precompressed;
  compress = DEFAULT_FILE_SETTINGS.compress;
  compressMinSize = DEFAULT_FILE_SETTINGS.compressMinSize;
  compressMaxSize = DEFAULT_FILE_SETTINGS.compressMaxSize;

  #cache: FileCache | null = null;
  /** Whether encoded forms are offered (`precompressed` or `compress`). */
  #negotiates = false;
  #immutable: RegExp | null = null;

  /** Resolves `directory` (default: the current directory) and finds the file cache. May be extended. */
  override setup(): void {
    super.setup();
    this.directory = resolve(this.directory || process.cwd());
    this.#negotiates = this.precompressed || this.compress;
    this.#immutable = pattern(this.immutableNames);
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

  /**
   * Answers a CORS preflight (`OPTIONS` with `Origin` and
   * `Access-Control-Request-Method`) with 204 and the methods and headers
   * allowed, when `cors` is set; another `OPTIONS` gets 204 with `Allow`.
   * Without `cors`: 501, as Python answers.
   */
  async doOPTIONS(): Promise<void> {
    if (this.cors === null) {
      await this.sendError(501, 'Unsupported method ("OPTIONS")', undefined, {
        Allow: this.allowedMethods().join(', '),
      });
      return;
    }
    this.sendResponse(204);
    if (this.headers.has('origin') && this.headers.has('access-control-request-method')) {
      this.sendHeader('Access-Control-Allow-Methods', 'GET, HEAD, OPTIONS');
      const asked = this.headers.get('access-control-request-headers');
      if (
        asked !== undefined &&
        /^[\w!#$%&'*+.^`|~-]+(?:\s*,\s*[\w!#$%&'*+.^`|~-]+)*$/.test(asked)
      ) {
        this.sendHeader('Access-Control-Allow-Headers', asked);
      }
      this.sendHeader('Access-Control-Max-Age', 86400);
      this.sendHeader('Vary', 'Access-Control-Request-Headers');
    } else {
      this.sendHeader('Allow', 'GET, HEAD, OPTIONS');
    }
    this.sendHeader('Content-Length', 0);
    await this.endHeaders();
  }

  /** The methods served (for `Allow`): GET and HEAD, and OPTIONS when `cors` is set. */
  override allowedMethods(): string[] {
    const methods = super.allowedMethods();
    return this.cors === null ? methods.filter((method) => method !== 'OPTIONS') : methods;
  }

  /** Starts a response as `BaseHTTPRequestHandler` does, with the CORS fields when `cors` is set. */
  override sendResponse(code: number, message?: string): void {
    super.sendResponse(code, message);
    if (this.cors !== null) {
      this.sendHeader('Access-Control-Allow-Origin', this.cors);
      this.sendHeader('Access-Control-Expose-Headers', EXPOSED);
    }
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
      this.cors,
      this.maxAge,
      this.immutableNames,
      this.precompressed,
      this.compress,
      this.compressMinSize,
      this.compressMaxSize,
      classId(this.constructor),
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
    const codings = this.#negotiates ? this.#acceptedCodings() : NO_CODINGS;
    if (cache === null) return this.#serveFromDisk(withBody, null, '', codings);
    const path = this.path;
    const query = path.indexOf('?');
    const key = query < 0 ? path : path.slice(0, query);
    const entry = codings.length === 0 ? cache.lookup(key) : lookupEncoded(cache, key, codings);
    if (entry === undefined) return this.#serveFromDisk(withBody, cache, key, codings);
    return this.#serveEntry(entry, withBody);
  }

  /** Answers from a cache entry: its prepared response when the request allows. */
  #serveEntry(entry: CachedFile, withBody: boolean): Promise<void> {
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

  /** The codings of the response the client accepts, best first; none for a `Range` request. */
  #acceptedCodings(): readonly Encoding[] {
    const accept = this.headers.get('accept-encoding');
    if (accept === undefined || this.headers.has('range')) return NO_CODINGS;
    return acceptedEncodings(accept);
  }

  async #serveFromDisk(
    withBody: boolean,
    cache: FileCache | null,
    key: string,
    codings: readonly Encoding[],
  ): Promise<void> {
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
    if (file === null) {
      await this.#serveMissing(target, withBody, codings, now);
      return;
    }
    try {
      if (file.st.isDirectory()) {
        closeQuietly(file.fd);
        await this.#serveDirectory(file.real, target, withBody, codings, now);
        return;
      }
      if (target.trailingSlash) throw new HTTPError(404, 'File not found');
      await this.#serveRegular(file, target.segments, cache, key, codings, withBody, now);
    } finally {
      closeQuietly(file.fd);
    }
  }

  /** A missing path: the `fallbackFile` when it applies (no extension), else 404. */
  async #serveMissing(
    target: ParsedTarget,
    withBody: boolean,
    codings: readonly Encoding[],
    now: number,
  ): Promise<void> {
    const fallback = this.fallbackFile;
    if (fallback === null || hasExtension(target.segments.at(-1))) {
      throw new HTTPError(404, 'File not found');
    }
    const segments = fallback
      .split('/')
      .filter((part) => part !== '')
      .map((part) => Buffer.from(part));
    // The fallback's entries are those a request for the fallback file itself makes.
    const key = canonicalPath(segments, false);
    const cache = this.#cache;
    const entry =
      cache === null
        ? undefined
        : codings.length === 0
          ? cache.lookup(key)
          : lookupEncoded(cache, key, codings);
    if (entry !== undefined) {
      await this.#serveEntry(entry, withBody);
      return;
    }
    const file = openInside(this.directory, segments, this.followSymlinks);
    if (file === null) throw new HTTPError(404, 'File not found');
    try {
      if (!file.st.isFile()) throw new HTTPError(404, 'File not found');
      await this.#serveRegular(file, segments, cache, key, codings, withBody, now);
    } finally {
      closeQuietly(file.fd);
    }
  }

  async #serveDirectory(
    real: Buffer,
    target: ParsedTarget,
    withBody: boolean,
    codings: readonly Encoding[],
    now: number,
  ): Promise<void> {
    if (!target.trailingSlash && target.segments.length > 0) {
      this.sendResponse(301);
      this.sendHeader('Location', `${canonicalPath(target.segments, true)}${target.query}`);
      this.sendHeader('Content-Length', 0);
      await this.endHeaders();
      return;
    }
    for (const index of this.indexFiles) {
      const segments = [...target.segments, Buffer.from(index)];
      const file = openInside(this.directory, segments, this.followSymlinks);
      if (file === null) continue;
      try {
        if (file.st.isFile()) {
          // Not cached: an index file created later must replace the listing at once.
          await this.#serveRegular(file, segments, null, '', codings, withBody, now);
          return;
        }
      } finally {
        closeQuietly(file.fd);
      }
    }
    await this.#serveListing(real, target, withBody);
  }

  /**
   * Serves a regular file opened from disk, in the first coding the client
   * accepts that has an encoded form (precompressed, or made here), else as
   * it is; keeps what it read in the cache when it may.
   */
  async #serveRegular(
    file: OpenFile,
    segments: readonly Buffer[],
    cache: FileCache | null,
    key: string,
    codings: readonly Encoding[],
    withBody: boolean,
    now: number,
  ): Promise<void> {
    const name = displayName(segments.at(-1)!);
    const facts = fileFacts(file.st, this.guessType(name), this.#fileFields(name));
    const entry =
      cache === null
        ? null
        : cacheFile(cache, key, file, realRoot(this.directory), segments, facts, now);
    for (const coding of codings) {
      const encoded = await this.#encodedForm(
        file,
        entry ?? facts,
        segments,
        coding,
        cache,
        key,
        now,
      );
      if (encoded === null) {
        if (entry !== null) entry.noVariantUntil[coding] = now + NO_VARIANT_RECHECK_MS;
        continue;
      }
      try {
        await this.#serveFile(encoded.facts, encoded.entry, encoded.fd, withBody);
      } finally {
        if (encoded.fd >= 0) closeQuietly(encoded.fd);
      }
      return;
    }
    await this.#serveFile(entry ?? facts, entry, file.fd, withBody);
  }

  /**
   * The form of a file in `coding`: its precompressed file (`NAME.br`,
   * `NAME.gz`) when `precompressed` and that file is a regular file at
   * least as recent as the original, else the file compressed here when
   * `compress` and its type and size call for it; null for neither. Kept
   * in the cache, under the request path and the coding, when it may be.
   */
  async #encodedForm(
    file: OpenFile,
    source: FileFacts,
    segments: readonly Buffer[],
    coding: Encoding,
    cache: FileCache | null,
    key: string,
    now: number,
  ): Promise<{ facts: FileFacts; entry: CachedFile | null; fd: number } | null> {
    const keep = (facts: FileFacts & { body: Buffer }, files: readonly OpenFile[]) => {
      if (cache === null || !files.every((f) => mayCache(f, now))) return null;
      const folders = cachedFolders(realRoot(this.directory), segments);
      if (folders === null) return null;
      return cacheBytes(cache, key + VARIANT_KEY[coding], files.map(identityOf), folders, facts);
    };
    if (this.precompressed) {
      const last = segments.at(-1)!;
      const siblingPath = [
        ...segments.slice(0, -1),
        Buffer.concat([last, Buffer.from(SUFFIX[coding])]),
      ];
      const sibling = openInside(this.directory, siblingPath, this.followSymlinks);
      if (sibling !== null) {
        if (sibling.st.isFile() && sibling.st.mtimeMs >= file.st.mtimeMs) {
          const facts: FileFacts = {
            ...fileFacts(sibling.st, source.contentType, source.fields),
            etag: taggedWith(entityTag(sibling.st), coding),
            encoding: coding,
          };
          const body = cache?.accepts(sibling.st.size)
            ? readWhole(sibling.fd, sibling.st.size)
            : null;
          const entry = body === null ? null : keep({ ...facts, body }, [sibling, file]);
          return { facts: entry ?? facts, entry, fd: sibling.fd };
        }
        closeQuietly(sibling.fd);
      }
    }
    if (
      !this.compress ||
      source.size < this.compressMinSize ||
      source.size > this.compressMaxSize ||
      !isCompressible(source.contentType)
    ) {
      return null;
    }
    const bytes = source.body ?? readWhole(file.fd, source.size);
    if (bytes === null) return null;
    const body = await compress(bytes, coding, source.contentType.startsWith('text/'));
    const facts = {
      ...source,
      size: body.length,
      etag: taggedWith(source.etag, coding),
      encoding: coding,
      body,
    };
    const entry = keep(facts, [file]);
    return { facts: entry ?? facts, entry, fd: -1 };
  }

  /** Header lines of a file named `name`: `Cache-Control` (see `maxAge`), and `Vary` when codings are offered. */
  #fileFields(name: string): string {
    let fields = '';
    const cacheControl = fileCacheControl(name, this.maxAge, this.#immutable);
    if (cacheControl !== null) fields += `Cache-Control: ${cacheControl}\r\n`;
    if (this.#negotiates) fields += 'Vary: Accept-Encoding\r\n';
    return fields;
  }

  async #serveListing(real: Buffer, target: ParsedTarget, withBody: boolean): Promise<void> {
    const entries = await readListingEntries(real, realRoot(this.directory), {
      dotfiles: this.dotfiles === 'allow',
      followSymlinks: this.followSymlinks,
    });
    if (entries === null) throw new HTTPError(404, 'No permission to list directory');
    const order = listingOrder(target.query.slice(1));
    const sorted = sortEntries(entries, order);
    const shown = sorted.slice(0, this.maxListingEntries);
    let body: Buffer = Buffer.from(
      renderListing(target.segments.map(displayName), shown, order, sorted.length - shown.length),
    );
    const coding =
      this.compress && body.length >= this.compressMinSize ? this.#acceptedCodings()[0] : undefined;
    if (coding !== undefined) body = await compress(body, coding, true);
    this.sendResponse(200);
    this.sendHeader('Content-Type', 'text/html; charset=utf-8');
    this.sendHeader('Content-Length', body.length);
    this.sendHeader('Cache-Control', 'no-cache');
    if (coding !== undefined) this.sendHeader('Content-Encoding', coding);
    if (this.#negotiates) this.sendHeader('Vary', 'Accept-Encoding');
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
      this.#rawFields(file.fields);
      await this.endHeaders();
      return;
    }
    // An encoded form is never sent in parts (the client asked for none: see #acceptedCodings).
    const ranges =
      file.encoding === '' ? selectRanges(this.headers, size, etag, mtime, this.maxRanges) : null;
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

  #validatorFields({ lastModified, etag, encoding, fields }: FileFacts): void {
    this.sendHeader('Last-Modified', lastModified);
    this.sendHeader('ETag', etag);
    if (encoding === '') this.sendHeader('Accept-Ranges', 'bytes');
    else this.sendHeader('Content-Encoding', encoding);
    this.#rawFields(fields);
  }

  /** Buffers header lines already formatted (`Name: value\r\n` each). */
  #rawFields(fields: string): void {
    if (fields === '') return;
    for (const line of fields.split('\r\n')) {
      const colon = line.indexOf(': ');
      if (colon > 0) this.sendHeader(line.slice(0, colon), line.slice(colon + 2));
    }
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
      const cors =
        this.cors === null
          ? ''
          : `Access-Control-Allow-Origin: ${oneLine(this.cors)}\r\nAccess-Control-Expose-Headers: ${EXPOSED}\r\n`;
      const coding =
        entry.encoding === ''
          ? 'Accept-Ranges: bytes\r\n'
          : `Content-Encoding: ${entry.encoding}\r\n`;
      const head =
        `${this.preparedHeadStart(200, date)}${cors}Content-Type: ${entry.contentType}\r\n` +
        `Content-Length: ${entry.size}\r\nLast-Modified: ${entry.lastModified}\r\n` +
        `ETag: ${entry.etag}\r\n${coding}${entry.fields}\r\n`;
      response = Buffer.allocUnsafe(head.length + entry.size);
      response.write(head, 0, 'latin1');
      response.set(entry.body, head.length);
      this.#cache?.setResponse(entry, response, date, server);
    }
    return this.sendPreparedResponse(200, response, entry.size);
  }
}

/**
 * The cache entry answering a request that accepts `codings` (best first):
 * the first coding's encoded form kept in the cache, or the file as it is
 * when each better coding is known to have none; undefined when it must be
 * looked for on disk.
 */
function lookupEncoded(
  cache: FileCache,
  key: string,
  codings: readonly Encoding[],
): CachedFile | undefined {
  let plain: CachedFile | undefined;
  for (const coding of codings) {
    const encoded = cache.lookup(key + VARIANT_KEY[coding]);
    if (encoded !== undefined) return encoded;
    plain ??= cache.lookup(key);
    if (plain === undefined || !((plain.noVariantUntil[coding] ?? 0) > Date.now()))
      return undefined;
  }
  return plain;
}
