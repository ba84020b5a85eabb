/**
 * The request handler base classes: `setup`, `handle`, `finish`.
 *
 * @module
 */
import type { BaseServer } from './base-server.js';
import { isThenable } from './thenable.js';
import type { Address, Awaitable, RequestPreparer } from './types.js';

/**
 * Where a server (or, in a worker or child, its snapshot) keeps the handlers
 * running for it. A registered symbol: the host's copy of this module and the
 * handler module's copy must agree.
 */
const LIVE = Symbol.for('@socketserver/core.liveHandlers');

type WithLive = { [LIVE]?: Set<BaseRequestHandler<any, any>> };

function liveHandlers(server: object): Set<BaseRequestHandler<any, any>> {
  const holder = server as WithLive;
  let live = holder[LIVE];
  if (live === undefined) {
    live = new Set();
    Object.defineProperty(holder, LIVE, { value: live, configurable: true });
  }
  return live;
}

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
    const live = liveHandlers(this.server);
    live.add(this);
    try {
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
    } finally {
      live.delete(this);
    }
  }

  /** Called before `handle` to perform initialization. May be overridden. */
  setup(): Awaitable<void> {}

  /** Serves the request. Override this. */
  handle(): Awaitable<void> {}

  /** Called after `handle`, even when it threw, to clean up. May be overridden. */
  finish(): Awaitable<void> {}

  /**
   * Called when the server shuts down or closes while this request is in
   * progress, in whichever thread or process runs it. A handler that keeps
   * its connection open for several requests (HTTP keep-alive, a line
   * protocol) closes it here: at once if it is waiting for the next request,
   * after the request in progress otherwise. Default: nothing (the request
   * runs to its end). May be overridden.
   */
  closeWhenIdle(): void {}
}

/**
 * Calls `closeWhenIdle` on every handler running now for `server` (a server,
 * or its snapshot in a worker or child). A handler's failure there is
 * ignored: closing is best effort, and the request still ends on its own.
 */
export function closeIdleHandlers(server: object): void {
  const live = (server as WithLive)[LIVE];
  if (live === undefined) return;
  for (const handler of live) {
    try {
      handler.closeWhenIdle();
    } catch {
      // The handler could not close: it ends when its request does.
    }
  }
}

/**
 * Runs one request where its handler runs: each preparer in turn (each may
 * replace the request and the client address), then the handler. The one
 * way every mode constructs a handler: `BaseServer.finishRequest` in this
 * process, the host in a worker thread or child process.
 */
export function runRequestHandler<Req, A extends Address>(
  Handler: RequestHandlerClass<Req, A>,
  preparers: readonly RequestPreparer<Req, A>[],
  request: Req,
  clientAddress: A,
  server: BaseServer<Req, A>,
): Promise<void> {
  if (preparers.length === 0) return new Handler(request, clientAddress, server).run();
  return prepareThenRun(Handler, preparers, request, clientAddress, server);
}

async function prepareThenRun<Req, A extends Address>(
  Handler: RequestHandlerClass<Req, A>,
  preparers: readonly RequestPreparer<Req, A>[],
  request: Req,
  clientAddress: A,
  server: BaseServer<Req, A>,
): Promise<void> {
  for (const prepare of preparers) {
    const prepared = await prepare(request, clientAddress, server);
    if (prepared?.request !== undefined) request = prepared.request;
    if (prepared?.clientAddress !== undefined) clientAddress = prepared.clientAddress;
  }
  await new Handler(request, clientAddress, server).run();
}

/**
 * A request handler class, as a server's `RequestHandlerClass`: constructed
 * with the request, the client's address and the server, then `run()`. A
 * handler written for any address (the default) fits every server.
 */
export type RequestHandlerClass<Req = any, A extends Address = any> = new (
  request: Req,
  clientAddress: A,
  // Any server here: a handler written for any request or address (`BaseRequestHandler`,
  // `Address`) must fit a server of one kind (`Socket`, `InetAddress`), which `BaseServer<Req, A>`
  // would refuse (its handler class field makes it invariant in both).
  server: BaseServer<any, any>,
) => { run(): Promise<void> };
