/**
 * `ThreadingMixIn`: each request's handler runs in a worker thread.
 *
 * @module
 */
import { availableParallelism } from 'node:os';
import {
  type Address,
  InvalidArgumentError,
  locateHandler,
  type ServerClass,
} from '@socketserver/core';
import { WorkerPool } from './pool.js';
import type { WorkerBoot } from './protocol.js';
import { packShared } from './shared-state.js';

/** What `ThreadingMixIn` adds to a server. */
export interface ThreadingServer {
  /**
   * Python's `daemon_threads` (default false). When true, worker threads do
   * not keep the process alive (they are `unref()`ed) and `serverClose`
   * never waits for them; when false, a worker running a request keeps the
   * process alive until the request ends.
   */
  daemonThreads: boolean;
  /**
   * Python's `block_on_close` (default true): `serverClose` waits for every
   * request handed to a worker (queued or running) to finish, then for every
   * worker to exit. Ignored when `daemonThreads` is true.
   */
  blockOnClose: boolean;
  /** Most worker threads at once (default `os.availableParallelism()`). */
  maxThreads: number;
  /** Worker threads kept even when idle (default 0). */
  minThreads: number;
  /** An idle worker beyond `minThreads` exits after this many ms (default 10 000). */
  idleTimeout: number;
  /**
   * Requests that may wait for a busy pool (default 32). When that many
   * wait, `processRequest` waits too, so the serving loop stops taking
   * requests: further connections stay paused in the server's own queue
   * (`requestQueueSize`) and beyond it are refused, as for a plain server.
   */
  maxQueuedRequests: number;
  /**
   * The longest a request may run in its worker, in ms (default `null`: no
   * limit). Past it the worker is terminated (and replaced when needed), the
   * request is shut down, and a `RequestTimeLimitError`
   * (`ERR_SOCKETSERVER_TIME_LIMIT`) goes to `handleError`.
   */
  requestTimeLimit: number | null;
  /** Live worker threads. */
  readonly activeThreads: number;
  /** Requests handed to workers and not finished (running or queued). */
  readonly activeRequests: number;
  /**
   * Starts `max(1, minThreads)` workers now and loads the handler in them,
   * rejecting with the load error (handler not exported, module that starts
   * a server, module not found). Optional: without it the first request
   * starts the first worker, and a load error goes to `handleError`.
   */
  startThreads(): Promise<void>;
}

/** Fields of a server that a worker does not get in its `this.server`. */
const NOT_FOR_WORKERS = new Set(['socket', 'RequestHandlerClass', 'sender']);

/**
 * Mix-in whose servers run each request's handler in a worker thread, for
 * handlers that use the CPU heavily (Python's `ThreadingMixIn`, on Node's
 * `worker_threads`). It overrides `processRequest` (hand the request to the
 * pool and return) and extends `serverClose` (stop the pool, waiting for
 * requests when `blockOnClose`).
 *
 * ```ts
 * class ThreadingTCPServer extends ThreadingMixIn(TCPServer) {}
 * class ThreadingUDPServer extends ThreadingMixIn(UDPServer) {}
 * ```
 *
 * The handler class must say where it lives (`static moduleUrl =
 * import.meta.url`) in a module that exports it and starts no server when
 * imported: each worker imports it. The socket stays on the main thread,
 * which moves the bytes to and from the worker with backpressure; the
 * handler sees `request`, `rfile`, `wfile`, `packet` and `clientAddress`
 * as it would in-process. `this.server` in a worker is a copy of the
 * server's data fields taken when the worker started, in which every
 * {@link SharedState} and {@link Lock} is the real shared one; the server's
 * methods are not available there.
 */
export function ThreadingMixIn<TBase extends ServerClass>(
  Base: TBase,
): TBase & (abstract new (...args: any[]) => ThreadingServer) {
  abstract class ThreadingMixed extends Base implements ThreadingServer {
    daemonThreads = false;
    blockOnClose = true;
    maxThreads = availableParallelism();
    minThreads = 0;
    idleTimeout = 10_000;
    maxQueuedRequests = 32;
    requestTimeLimit: number | null = null;
    #pool: WorkerPool | null = null;
    #inFlight = new Set<Promise<void>>();

    get activeThreads(): number {
      return this.#pool?.threads ?? 0;
    }

    get activeRequests(): number {
      return this.#inFlight.size;
    }

    async startThreads(): Promise<void> {
      await this.#getPool().start(Math.max(1, this.minThreads));
    }

    /**
     * Hands the request to a worker thread and returns; waits first while
     * `maxQueuedRequests` requests already wait for a worker.
     */
    override async processRequest(request: unknown, clientAddress: unknown): Promise<void> {
      const pool = this.#getPool();
      while (pool.full) await pool.whenChanged();
      const job = pool.submit(request, clientAddress as Address);
      // A failing handleError or shutdownRequest must not become an unhandled rejection.
      const task = this.#finish(job.promise, request, clientAddress).catch((error) =>
        this.reportError(request, clientAddress, error),
      );
      this.#inFlight.add(task);
      void task.finally(() => this.#inFlight.delete(task));
    }

    async #finish(outcome: Promise<void>, request: unknown, clientAddress: unknown): Promise<void> {
      try {
        await outcome;
      } catch (error) {
        await this.handleError(request, clientAddress, error);
      } finally {
        await this.shutdownRequest(request);
      }
    }

    /**
     * Closes the server, then stops the worker pool: with `blockOnClose`
     * (and not `daemonThreads`) waits for every request handed to a worker
     * and for every worker to exit.
     */
    override async serverClose(): Promise<void> {
      await super.serverClose();
      const pool = this.#pool;
      if (pool === null) return;
      const wait = this.blockOnClose && !this.daemonThreads;
      const closing = pool.close(wait);
      if (wait) {
        await closing;
        await Promise.allSettled([...this.#inFlight]);
      }
    }

    #getPool(): WorkerPool {
      if (this.#pool !== null) return this.#pool;
      const handler = locateHandler(this.RequestHandlerClass);
      checkSettings(this);
      this.#pool = new WorkerPool({
        boot: (): WorkerBoot => ({ handler, server: snapshot(this) }),
        maxThreads: this.maxThreads,
        minThreads: this.minThreads,
        idleTimeout: this.idleTimeout,
        maxQueue: this.maxQueuedRequests,
        daemon: this.daemonThreads,
        timeLimit: this.requestTimeLimit,
        onStrayError: (error) => this.reportError(null, null, error),
      });
      return this.#pool;
    }
  }
  return ThreadingMixed;
}

function checkSettings(server: ThreadingServer): void {
  const positive = (name: string, value: number) => {
    if (!Number.isInteger(value) || value < 1) {
      throw new InvalidArgumentError(`${name} must be a positive integer, got ${String(value)}`);
    }
  };
  positive('maxThreads', server.maxThreads);
  positive('maxQueuedRequests', server.maxQueuedRequests);
  if (
    !Number.isInteger(server.minThreads) ||
    server.minThreads < 0 ||
    server.minThreads > server.maxThreads
  ) {
    throw new InvalidArgumentError(
      `minThreads must be an integer from 0 to maxThreads, got ${server.minThreads}`,
    );
  }
  if (!(server.idleTimeout >= 0)) {
    throw new InvalidArgumentError(
      `idleTimeout must be a number of ms >= 0, got ${server.idleTimeout}`,
    );
  }
  const limit = server.requestTimeLimit;
  if (limit !== null && !(limit > 0)) {
    throw new InvalidArgumentError(
      `requestTimeLimit must be null or a number of ms > 0, got ${limit}`,
    );
  }
}

/**
 * The server's data fields as a worker gets them: cloneable values only
 * (functions, sockets and other live objects are left out), with every
 * `SharedState` and `Lock` packed to be rebuilt over the same memory.
 */
function snapshot(server: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(server)) {
    if (NOT_FOR_WORKERS.has(key) || typeof value === 'function') continue;
    const packed = packShared(value);
    try {
      structuredClone(packed);
      out[key] = packed;
    } catch {
      // not cloneable: handlers in workers do not see it
    }
  }
  return out;
}
