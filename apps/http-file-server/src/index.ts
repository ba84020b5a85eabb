/**
 * socketserver-http: an HTTP/1.1 static file server on @socketserver.
 *
 * `HTTPRequestHandler` is the HTTP layer (Python's `BaseHTTPRequestHandler`),
 * `FileRequestHandler` serves a directory (Python's `SimpleHTTPRequestHandler`),
 * `createFileServer` binds one with a concurrency mode. This module starts
 * nothing when imported, so worker threads and child processes can import
 * the handler from it.
 *
 * @module
 */
export { encodeSegment, escapeHtml, escapeLog } from './escape.js';
export type { CachedFile, FileCacheLimits } from './file-cache.js';
export {
  DEFAULT_FILE_CACHE_LIMITS,
  FileCache,
  isRacy,
  RACY_WINDOW_MS,
  RACY_WINDOW_WHOLE_SECONDS_MS,
} from './file-cache.js';
export type { DotfilePolicy, FileSettings } from './file-request-handler.js';
export {
  DEFAULT_FILE_SETTINGS,
  entityTag,
  FileRequestHandler,
  fileCachesOf,
  isInside,
} from './file-request-handler.js';
export { Headers } from './headers.js';
export type { HTTPSettings } from './http-request-handler.js';
export {
  DEFAULT_HTTP_SETTINGS,
  HTTPError,
  HTTPRequestHandler,
  httpDate,
  SERVER_VERSION,
  SETTINGS_ENV,
} from './http-request-handler.js';
export type { ListingEntry } from './listing.js';
export { formatSize, renderListing, sortEntries } from './listing.js';
export type { FileServer, FileServerOptions, ServeMode } from './server.js';
export {
  createFileServer,
  FileServerError,
  HTTPServerMixIn,
  SERVE_MODES,
} from './server.js';
export type { ParsedTarget } from './target.js';
export { canonicalPath, decodeSegment, parseTarget } from './target.js';
