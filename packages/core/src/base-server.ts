/**
 * `BaseServer`: Python's `socketserver.BaseServer` lifecycle, on promises.
 *
 * @module
 */
import { format } from 'node:util';
import {
  closeIdleHandlers,
  type RequestHandlerClass,
  runRequestHandler,
} from './base-request-handler.js';
import { QueueFullError, SocketServerError } from './errors.js';
import { assertNotHandlerHost } from './handler-module.js';
import {
  kCounters,
  NOT_SERVED,
  type RequestOutcome,
  requestFailed,
  requestFinished,
  requestRefused,
  requestStarted,
  ServerCounters,
  type ServerStats,
} from './observe.js';
import { isThenable } from './thenable.js';
import type { Address, Awaitable, RequestPreparer } from './types.js';

const NO_PREPARERS: readonly RequestPreparer[] = Object.freeze([]);

/** A pass of the serving loop started where a request arrived, which the loop finishes. */
interface InlinePass {
  /** The hook still running. */
  pending: PromiseLike<void>;
  /** Whether `serviceActions` is still to run after it. */
  thenActions: boolean;
}

/** Options of {@link BaseServer.serveForever}. */
export interface ServeForeverOptions {
  /** How often, at most, the loop wakes to check for shutdown and run `serviceActions` (ms, default 500). */
  pollInterval?: number;
}

/** The writable, non-function fields of a server: what `create` accepts as options. */
export type ServerSettings<T> = Partial<{
  -readonly [K in keyof T as T[K] extends (...args: any[]) => any ? never : K]: T[K];
}>;

/**
 * Formats an address for messages: `host:port`, `[v6]:port`, a path, or
 * `(unnamed)` for an unnamed Unix peer.
 */
export function formatAddress(address: Address | undefined | null): string {
  if (address === undefined || address === null) return '(unknown)';
  if (typeof address === 'string') return address === '' ? '(unnamed)' : address;
  return address.family === 'IPv6'
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}

/**
 * Base class for servers (Python's `socketserver.BaseServer`).
 *
 * Methods for the caller:
 * - `static create(serverAddress, RequestHandlerClass, settings?)`: construct, bind, activate.
 * - `serveForever({ pollInterval })`, `shutdown()`, `handleRequest()`,
 *   `serverClose()`, `fileno()`, `await using`.
 *
 * Methods that may be overridden:
 * - `serverBind`, `serverActivate`, `getRequest`, `verifyRequest`,
 *   `processRequest`, `finishRequest`, `shutdownRequest`, `closeRequest`,
 *   `handleError`, `handleTimeout`, `serviceActions`, `serverClose`,
 *   `requestPreparers`.
 *
 * Settings (fields; a subclass may override them, `create` may set them):
 * - `timeout`: ms `handleRequest` waits for a request, `null` for ever.
 * - `requestQueueSize`: requests that may wait while the server is busy.
 *
 * Requests arrive in a bounded queue filled by the subclass (the role of
 * Python's `select()`); the serving loop takes them one at a time. A
 * request that arrives while the loop is idle is taken at once, in the
 * transport's own event, rather than a turn later. A request's failure goes
 * to `handleError`; serving continues. Every mode ends a request through
 * {@link completeRequest}: the handler, `handleError` if it failed, then
 * `shutdownRequest`.
 */
export abstract class BaseServer<Req = unknown, A extends Address = Address> {
  /** The bound address (for IP servers the real one, port 0 resolved, after `serverBind`). */
  serverAddress: A;
  /** The handler class instantiated for each request. */
  RequestHandlerClass: RequestHandlerClass<Req, A>;
  /** How long `handleRequest` waits for a request, in ms; `null` (default) waits for ever. */
  timeout: number | null = null;
  /** How many requests may wait while the server is busy; past it they are refused (default 5, as in Python). */
  requestQueueSize = 5;
  /** How many requests were refused because the queue was full. */
  refusedRequests = 0;
  /** What `stats()` counts. @internal */
  readonly [kCounters] = new ServerCounters();

  #queue: Array<[Req, A]> = [];
  #wake: (() => void) | null = null;
  /** Resumes the serving loop while it is parked waiting for a request. */
  #parked: ((woke: InlinePass | null) => void) | null = null;
  #serving: Promise<void> | null = null;
  #shutdownRequested = false;
  #shutdownListeners = new Set<() => void>();
  /** Requests between `completeRequest`'s start and end. */
  #inProgress = 0;
  /** Woken when a request ends, and on `shutdown()`: see {@link nextRequestEnd}. */
  #endWaiters: Array<() => void> = [];
  #refusing = false;
  #closed = false;

  /**
   * Stores the address and handler class; does no I/O. Call `serverBind` and
   * `serverActivate` next, or use `create`, which does all three.
   * @param serverAddress - where to listen.
   * @param RequestHandlerClass - the handler class for each request.
   */
  constructor(serverAddress: A, RequestHandlerClass: RequestHandlerClass<Req, A>) {
    this.serverAddress = serverAddress;
    this.RequestHandlerClass = RequestHandlerClass;
  }

  /**
   * Creates a server, applies `settings`, binds and activates it (Python's
   * constructor with `bind_and_activate=True`). If binding or activating
   * fails, the server is closed and the promise rejects with the error.
   */
  static async create<T extends BaseServer<any, any>, AI>(
    this: new (
      serverAddress: AI,
      RequestHandlerClass: any,
    ) => T,
    serverAddress: AI,
    RequestHandlerClass: T['RequestHandlerClass'],
    settings: ServerSettings<T> = {},
  ): Promise<T> {
    const server = new this(serverAddress, RequestHandlerClass);
    Object.assign(server, settings);
    try {
      await server.serverBind();
      await server.serverActivate();
    } catch (error) {
      await server.serverClose();
      throw error;
    }
    return server;
  }

  /** True while `serveForever` runs. */
  get serving(): boolean {
    return this.#serving !== null;
  }

  /** True once `serverClose` has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Handles requests until `shutdown()`. Wakes at least every `pollInterval`
   * ms to check for shutdown and to run `serviceActions`. Resolves when the
   * loop has stopped; rejects only if a hook outside request handling throws.
   */
  async serveForever({ pollInterval = 500 }: ServeForeverOptions = {}): Promise<void> {
    if (this.#serving !== null) {
      throw new SocketServerError(
        'ERR_SOCKETSERVER_ALREADY_SERVING',
        'serveForever is already running',
      );
    }
    this.#serving = this.#loop(pollInterval);
    try {
      await this.#serving;
    } finally {
      this.#serving = null;
      this.#shutdownRequested = false;
    }
  }

  async #loop(pollInterval: number): Promise<void> {
    // One timer for the whole loop, not one per wait: it wakes an idle loop every pollInterval.
    const ticker = setInterval(() => this.#notify(), pollInterval);
    try {
      // Hooks that return plain values are not awaited: each await costs a turn per request.
      while (!this.#shutdownRequested) {
        if (this.#queue.length === 0) {
          const woke = await this.#park();
          if (woke !== null) {
            // A request came while the loop was parked, and its pass was started where it arrived.
            await woke.pending;
            const actions = woke.thenActions ? this.serviceActions() : undefined;
            if (isThenable(actions)) await actions;
            continue;
          }
          if (this.#shutdownRequested) break;
        }
        if (this.#queue.length > 0) {
          const handled = this.#handleRequestNoblock();
          if (isThenable(handled)) await handled;
        }
        const actions = this.serviceActions();
        if (isThenable(actions)) await actions;
      }
    } finally {
      clearInterval(ticker);
    }
  }

  /** Waits, as the serving loop, for a request, a poll tick or shutdown (null), or an inline pass. */
  #park(): Promise<InlinePass | null> {
    return new Promise((resolve) => {
      this.#parked = resolve;
    });
  }

  /**
   * Runs the loop's passes (a request, then `serviceActions`) for requests
   * that arrive while it is parked, where they arrive, as Python's loop would
   * on returning from `select()`: this saves the loop a wake-up, a promise and
   * a turn per request. A hook that returns a promise (a plain server busy
   * with the request) hands it to the loop, which finishes the pass.
   */
  #passInline(resume: (woke: InlinePass | null) => void): void {
    this.#parked = null;
    const woke = this.#runPasses();
    if (woke !== undefined) resume(woke);
    else if (this.#shutdownRequested) resume(null);
    else this.#parked = resume;
  }

  /** The inline passes: undefined when all were synchronous, else what the loop must finish. */
  #runPasses(): InlinePass | undefined {
    try {
      while (this.#queue.length > 0 && !this.#shutdownRequested) {
        const handled = this.#handleRequestNoblock();
        if (isThenable(handled)) return { pending: handled, thenActions: true };
        const actions = this.serviceActions();
        if (isThenable(actions)) return { pending: actions, thenActions: false };
      }
    } catch (error) {
      return { pending: Promise.reject(error), thenActions: false };
    }
    return undefined;
  }

  /**
   * Stops the `serveForever` loop; resolves when it has returned. The request
   * being processed (if any) finishes first; requests in progress whose
   * handler waits for a next request on its connection are asked to close it
   * ({@link closeIdleRequests}). Resolves at once if the loop is not running.
   */
  async shutdown(): Promise<void> {
    const serving = this.#serving;
    if (serving === null) return;
    this.#shutdownRequested = true;
    for (const listener of this.#shutdownListeners) listener();
    this.closeIdleRequests();
    this.#wakeEndWaiters();
    this.#notify();
    await serving.catch(() => {});
  }

  /**
   * Handles one request, waiting for it at most `timeout` ms; if none came,
   * calls `handleTimeout` instead.
   */
  async handleRequest(): Promise<void> {
    const deadline = this.timeout === null ? null : Date.now() + this.timeout;
    for (;;) {
      const wait = deadline === null ? null : Math.max(0, deadline - Date.now());
      if (await this.#waitForRequest(wait)) return await this.#handleRequestNoblock();
      if (deadline !== null && Date.now() >= deadline) return this.handleTimeout();
    }
  }

  /** Takes one request and processes it; returns a promise only when a hook did. */
  #handleRequestNoblock(): Awaitable<void> {
    const next = this.getRequest();
    return isThenable(next)
      ? next.then((taken) => this.#handleTaken(taken))
      : this.#handleTaken(next);
  }

  /** `verifyRequest`, then `processRequest`; a failure goes to `handleError`, then `shutdownRequest`. */
  #handleTaken(next: [Req, A] | undefined): Awaitable<void> {
    if (next === undefined) return;
    const [request, clientAddress] = next;
    let processing: Awaitable<void>;
    try {
      const verified = this.verifyRequest(request, clientAddress);
      if (verified !== true) return this.#verifyThenProcess(request, clientAddress, verified);
      processing = this.processRequest(request, clientAddress);
    } catch (error) {
      return this.#failRequest(request, clientAddress, error);
    }
    if (isThenable(processing)) {
      return Promise.resolve(processing).catch((error: unknown) =>
        this.#failRequest(request, clientAddress, error),
      );
    }
  }

  /** The path for a request refused, or verified asynchronously. */
  async #verifyThenProcess(
    request: Req,
    clientAddress: A,
    verified: Awaitable<boolean>,
  ): Promise<void> {
    try {
      if (!(await verified)) {
        this[kCounters].rejected++;
        await this.shutdownRequest(request);
        return;
      }
      await this.processRequest(request, clientAddress);
    } catch (error) {
      await this.#failRequest(request, clientAddress, error);
    }
  }

  async #failRequest(request: Req, clientAddress: A, error: unknown): Promise<void> {
    requestRefused(this, request, clientAddress, error);
    await this.handleError(request, clientAddress, error);
    await this.shutdownRequest(request);
  }

  /** Called when `handleRequest` times out. May be overridden. */
  handleTimeout(): Awaitable<void> {}

  /** Called by `serveForever` on each pass of its loop. May be overridden. */
  serviceActions(): Awaitable<void> {}

  /**
   * Binds the socket. May be overridden (call `super`). Throws
   * `ERR_SOCKETSERVER_SERVER_IN_HANDLER_HOST` inside a worker or child that
   * runs handlers (a handler module must not start a server when imported).
   */
  serverBind(): Awaitable<void> {
    assertNotHandlerHost();
  }

  /** Activates the server. May be overridden (call `super`). */
  serverActivate(): Awaitable<void> {}

  /**
   * Takes the next request from the queue: `[request, clientAddress]`, or
   * `undefined` if there is none. May be overridden.
   */
  getRequest(): Awaitable<[Req, A] | undefined> {
    return this.#queue.shift();
  }

  /** Returns whether to process the request (false: it is shut down). May be overridden. */
  verifyRequest(_request: Req, _clientAddress: A): Awaitable<boolean> {
    return true;
  }

  /**
   * Processes the request: `finishRequest`, then `shutdownRequest` (through
   * {@link completeRequest}, so a handler's failure goes to `handleError`
   * first). This is the hook the concurrency mix-ins override.
   */
  processRequest(request: Req, clientAddress: A): Awaitable<void> {
    return this.completeRequest(request, clientAddress);
  }

  /**
   * Finishes one request: runs the {@link requestPreparers}, then
   * instantiates `RequestHandlerClass` and runs it.
   */
  finishRequest(request: Req, clientAddress: A): Promise<void> {
    return runRequestHandler(
      this.RequestHandlerClass,
      this.requestPreparers(),
      request,
      clientAddress,
      this,
    );
  }

  /**
   * Work done on each request where its handler runs (in this process, a
   * worker thread or a child process), before the handler is constructed:
   * a TLS handshake, reading a PROXY protocol header. Each preparer may
   * replace the request and the client address the handler gets. In a
   * worker or child a preparer receives the server's snapshot as `server`,
   * and is imported there from its `moduleUrl`. Default: none. May be
   * extended: `return [...super.requestPreparers(), prepareMine]`.
   */
  requestPreparers(): readonly RequestPreparer<Req, A>[] {
    return NO_PREPARERS;
  }

  /**
   * Ends a request the same way in every mode, in one place: waits for
   * `work` (default: `finishRequest`, the handler), calls `handleError` if it
   * failed, then always `shutdownRequest`. Never rejects: a `handleError`
   * that fails is ignored (as in Python, where it would end the serving
   * loop, serving goes on here), a `shutdownRequest` that fails goes to
   * `handleError`. For `processRequest` implementations: the plain server
   * awaits it, `EventLoopMixIn` starts it and returns, the worker and child
   * mix-ins pass the outcome the host reports as `work`. Counts the request
   * for `stats()` and publishes it on the request channels.
   */
  protected async completeRequest(
    request: Req,
    clientAddress: A,
    work?: PromiseLike<unknown>,
  ): Promise<void> {
    this.#inProgress++;
    const message = requestStarted(this, request, clientAddress);
    let outcome: RequestOutcome = 'completed';
    try {
      try {
        const served = await (work ?? this.finishRequest(request, clientAddress));
        if (served === NOT_SERVED) outcome = 'abandoned';
      } catch (error) {
        outcome = requestFailed(this[kCounters], message, error);
        try {
          const handled = this.handleError(request, clientAddress, error);
          if (isThenable(handled)) await handled;
        } catch {
          // handleError itself failed: nothing better to do than go on.
        }
      }
      try {
        const shut = this.shutdownRequest(request);
        if (isThenable(shut)) await shut;
      } catch (error) {
        this.reportError(request, clientAddress, error);
      }
    } finally {
      if (outcome === 'completed' || outcome === 'abandoned') this[kCounters][outcome]++;
      this.#inProgress--;
      requestFinished(message, outcome);
      this.#wakeEndWaiters();
    }
  }

  /** Requests in progress: started through {@link completeRequest} and not ended. */
  protected get requestsInProgress(): number {
    return this.#inProgress;
  }

  /**
   * Resolves when the next request ends (leaves {@link completeRequest}),
   * or when `shutdown()` is called. For mix-ins that wait for room or for
   * requests to end; check the condition again after it resolves.
   */
  protected nextRequestEnd(): Promise<void> {
    return new Promise((resolve) => this.#endWaiters.push(resolve));
  }

  #wakeEndWaiters(): void {
    if (this.#endWaiters.length === 0) return;
    for (const wake of this.#endWaiters.splice(0)) wake();
  }

  /**
   * Asks every request in progress whose handler keeps its connection open
   * between requests to close it: at once if it waits for the next request,
   * else after the one in progress (each handler's `closeWhenIdle`). Called
   * by `shutdown` and `serverClose`. Mix-ins that run handlers in worker
   * threads or child processes extend it to reach them. May be extended.
   */
  protected closeIdleRequests(): void {
    closeIdleHandlers(this);
  }

  /** Shuts down and closes one request. May be overridden. */
  shutdownRequest(request: Req): Awaitable<void> {
    return this.closeRequest(request);
  }

  /** Cleans up one request. May be overridden. */
  closeRequest(_request: Req): Awaitable<void> {}

  /**
   * Handles a request's error. The default writes one line naming the client,
   * then the stack, to stderr, and serving continues. May be overridden.
   */
  handleError(_request: Req | null, clientAddress: A | null, error: unknown): Awaitable<void> {
    const detail = error instanceof Error ? (error.stack ?? String(error)) : format(error);
    process.stderr.write(
      `Exception occurred during processing of request from ${formatAddress(clientAddress)}\n${detail}\n`,
    );
  }

  /**
   * Releases the server's resources: the listening socket, waiting requests.
   * Idempotent. May be extended, do not override.
   */
  async serverClose(): Promise<void> {
    this.#closed = true;
    this.closeIdleRequests();
    for (const [request] of this.#queue.splice(0)) await this.closeRequest(request);
    this.#notify();
  }

  /** The listening socket's file descriptor, or -1 when there is none. */
  fileno(): number {
    return -1;
  }

  /** Stops `serveForever` if it runs, then `serverClose` (for `await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
    await this.serverClose();
  }

  /**
   * Queues an incoming request for the serving loop. For transport
   * subclasses. When `serveForever` is idle, waiting for a request, the
   * request is taken in this call: the handler may have started (and a
   * mix-in's `processRequest` returned) before it returns. Returns false (and reports a {@link QueueFullError} to
   * `handleError`, once per burst) when `requestQueueSize` requests already
   * wait; the caller then drops the request.
   */
  protected enqueueRequest(request: Req, clientAddress: A): boolean {
    if (this.#queue.length >= this.requestQueueSize) {
      this.refusedRequests++;
      if (!this.#refusing) {
        this.#refusing = true;
        this.reportError(request, clientAddress, new QueueFullError(this.requestQueueSize));
      }
      return false;
    }
    this.#refusing = false;
    this.#queue.push([request, clientAddress]);
    const parked = this.#parked;
    if (parked !== null) this.#passInline(parked);
    else this.#notify();
    return true;
  }

  /**
   * Calls `handleError` from outside a request's flow (an event handler),
   * making sure a failing `handleError` cannot crash the process. For
   * subclasses.
   */
  protected reportError(request: Req | null, clientAddress: A | null, error: unknown): void {
    try {
      Promise.resolve(this.handleError(request, clientAddress, error)).catch(() => {});
    } catch {
      // handleError itself failed: nothing better to do than go on serving.
    }
  }

  /** True between a `shutdown()` call and the end of the `serveForever` loop. */
  protected get shutdownRequested(): boolean {
    return this.#shutdownRequested;
  }

  /**
   * Calls `listener` when `shutdown()` is called; returns a function that
   * removes it. For mix-ins whose `processRequest` may wait, so that the wait
   * gives way to a shutdown.
   */
  protected onShutdownRequested(listener: () => void): () => void {
    this.#shutdownListeners.add(listener);
    return () => this.#shutdownListeners.delete(listener);
  }

  /** How many requests wait in the queue. */
  get queuedRequests(): number {
    return this.#queue.length;
  }

  /**
   * A snapshot of the server's activity: requests accepted, in progress,
   * queued, rejected, completed and failed, connections open, bytes in and
   * out (see {@link ServerStats}). Transports and mix-ins extend it.
   */
  stats(): ServerStats {
    const counters = this[kCounters];
    return {
      mode: 'sync',
      accepted: counters.accepted,
      active: this.#inProgress,
      queued: this.#queue.length,
      rejected: counters.rejected + this.refusedRequests,
      completed: counters.completed,
      failed: counters.failed,
      abandoned: counters.abandoned,
      connections: 0,
      bytesIn: counters.bytesIn,
      bytesOut: counters.bytesOut,
    };
  }

  #waitForRequest(ms: number | null): Promise<boolean> {
    if (this.#queue.length > 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = ms === null ? undefined : setTimeout(() => wake(), ms);
      const wake = () => {
        clearTimeout(timer);
        if (this.#wake === wake) this.#wake = null;
        resolve(this.#queue.length > 0);
      };
      this.#wake = wake;
    });
  }

  #notify(): void {
    this.#wake?.();
    const parked = this.#parked;
    if (parked !== null) {
      this.#parked = null;
      parked(null);
    }
  }
}
