/**
 * The request handler base classes: `setup`, `handle`, `finish`.
 *
 * @module
 */
import type { BaseServer } from './base-server.js';
import { isThenable } from './thenable.js';
import type { Address, Awaitable } from './types.js';

/**
 * Base class for request handlers (Python's `BaseRequestHandler`).
 *
 * A server creates one instance per request and calls {@link run}, which
 * calls {@link setup}, then {@link handle}, then {@link finish}. `finish`
 * runs even when `handle` throws; the error then goes to the server's
 * `handleError`. Each hook may be async.
 *
 * Override `handle` to serve a request; `setup` and `finish` to prepare and
 * clean up. The request is `request`, the peer `clientAddress`, the server
 * (for its settings and shared state) `server`.
 */
export class BaseRequestHandler<Req = unknown, A extends Address = Address> {
  /**
   * The URL of the module that exports this class, for servers that run
   * handlers in worker threads or child processes: declare
   * `static moduleUrl = import.meta.url` in the subclass. Unused otherwise.
   */
  static moduleUrl?: string;

  /** The request: a socket for stream servers, a {@link DatagramRequest} for datagram servers. */
  readonly request: Req;
  /** The peer's address. */
  readonly clientAddress: A;
  /** The server that received the request. */
  readonly server: BaseServer<Req, A>;

  /**
   * Stores the request; does no I/O (the server then calls {@link run}).
   * @param request - the request.
   * @param clientAddress - the peer's address.
   * @param server - the server.
   */
  constructor(request: Req, clientAddress: A, server: BaseServer<Req, A>) {
    this.request = request;
    this.clientAddress = clientAddress;
    this.server = server;
  }

  /** Runs `setup`, `handle` and `finish` for this request. Called by the server; do not override. */
  async run(): Promise<void> {
    // Hooks that return plain values are not awaited: each await costs a turn per request.
    const setup = this.setup();
    if (isThenable(setup)) await setup;
    try {
      const handled = this.handle();
      if (isThenable(handled)) await handled;
    } finally {
      const finished = this.finish();
      if (isThenable(finished)) await finished;
    }
  }

  /** Called before `handle` to perform initialization. May be overridden. */
  setup(): Awaitable<void> {}

  /** Serves the request. Override this. */
  handle(): Awaitable<void> {}

  /** Called after `handle`, even when it threw, to clean up. May be overridden. */
  finish(): Awaitable<void> {}
}

/**
 * A request handler class, as a server's `RequestHandlerClass`: constructed
 * with the request, the client's address and the server, then `run()`. A
 * handler written for any address (the default) fits every server.
 */
export type RequestHandlerClass<Req = any, A extends Address = any> = new (
  request: Req,
  clientAddress: A,
  server: BaseServer<Req, A>,
) => { run(): Promise<void> };
