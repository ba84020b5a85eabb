/**
 * `HTTPServer`: Python's `http.server.HTTPServer`, on any stream transport
 * and in any mode.
 *
 * @module
 */
import type { ServerClass, StreamServer } from '@socketserver/core';
import type { BaseHTTPRequestHandler } from './base-http-request-handler.js';

/** What `HTTPServer` adds to a server. */
export interface HTTPServerState {
  /**
   * Fields set on every handler in its `setup` (for example
   * `{ directory: '/srv/www', quiet: true }`); plain data, so worker threads
   * and child processes get them too (default `{}`).
   */
  handlerSettings: Record<string, unknown>;
  /** The HTTP connections being served in this process (not those in worker threads or children). */
  readonly httpConnections: Set<BaseHTTPRequestHandler>;
  /** Connections of this process serving a request now (the others wait for one). */
  readonly busyConnections: number;
  /**
   * Closes the connections that wait for a request (kept alive, or
   * connected without a byte sent) at once, and the others after their
   * response. Called by `shutdown`; idempotent.
   */
  closeIdleConnections(): void;
}

/** A stream server class, concrete (`TCPServer`) or abstract (`EventLoopMixIn(TCPServer)`). */
type StreamServerClass = abstract new (...args: any[]) => StreamServer<any>;

/**
 * Python's `HTTPServer` on the given stream server class: a transport
 * (`TCPServer`, `UnixStreamServer`), with or without a mode's mix-in.
 * It carries `handlerSettings` to the handlers and tracks their connections
 * so that `shutdown()` closes the idle ones at once (a kept-alive browser
 * connection would otherwise hold a graceful stop for `keepAliveTimeout`).
 *
 * ```ts
 * const server = await HTTPServer(TCPServer).create({ host: '127.0.0.1', port: 8000 }, Handler);
 * class EventLoopHTTPServer extends EventLoopMixIn(HTTPServer(TCPServer)) {}
 * // Python's ThreadingHTTPServer, with @socketserver/mixin-threading:
 * class ThreadingHTTPServer extends ThreadingMixIn(HTTPServer(TCPServer)) {
 *   override daemonThreads = true;
 * }
 * ```
 *
 * A plain server serves one connection at a time: give its handlers
 * `keepAlive: false` (as Python's HTTP/1.0 default does), or one client
 * holds it for `keepAliveTimeout`.
 */
export function HTTPServer<TBase extends new (...args: any[]) => StreamServer<any>>(
  Base: TBase,
): TBase & (new (...args: any[]) => HTTPServerState);
export function HTTPServer<TBase extends StreamServerClass>(
  Base: TBase,
): TBase & (abstract new (...args: any[]) => HTTPServerState);
export function HTTPServer<TBase extends ServerClass>(
  Base: TBase,
): TBase & (abstract new (...args: any[]) => HTTPServerState) {
  abstract class HTTPServerMixed extends Base implements HTTPServerState {
    handlerSettings: Record<string, unknown> = {};
    readonly httpConnections = new Set<BaseHTTPRequestHandler>();

    get busyConnections(): number {
      let busy = 0;
      for (const handler of this.httpConnections) if (handler.busy) busy++;
      return busy;
    }

    closeIdleConnections(): void {
      for (const handler of this.httpConnections) handler.closeWhenIdle();
    }

    /** Stops `serveForever`, then closes idle connections. May be extended, do not override. */
    override async shutdown(): Promise<void> {
      await super.shutdown();
      this.closeIdleConnections();
    }
  }
  return HTTPServerMixed;
}
