/**
 * @socketserver/http: Python's `http.server` on @socketserver.
 *
 * `BaseHTTPRequestHandler` is HTTP/1.1 on `StreamRequestHandler` (define
 * `doGET`, `doPOST`, ...), `SimpleHTTPRequestHandler` serves a directory,
 * and `HTTPServer(Transport)` is Python's `HTTPServer` on any stream
 * transport, with any mode's mix-in. This module starts nothing when
 * imported, so worker threads and child processes can import the handlers.
 *
 * @module
 */
export type { LogFormat } from './access-log.js';
export { LOG_FORMATS } from './access-log.js';
export type { HTTPSettings } from './base-http-request-handler.js';
export {
  BaseHTTPRequestHandler,
  DEFAULT_HTTP_SETTINGS,
  SERVER_VERSION,
} from './base-http-request-handler.js';
export { HASHED_NAME } from './cache-control.js';
export { Headers } from './headers.js';
export { HTTPError } from './http-error.js';
export type { HTTPServerState } from './http-server.js';
export { HTTPServer } from './http-server.js';
export type { DotfilePolicy, FileSettings } from './simple-http-request-handler.js';
export {
  DEFAULT_FILE_SETTINGS,
  SimpleHTTPRequestHandler,
} from './simple-http-request-handler.js';
